# execdeck socket server: serves gateways over TCP, one forked worker per connection.
#
#   EXECDECK_TOKEN=secret python socketserver.py [HOST:PORT | PORT | :PORT]
#       [--token-file PATH] [--max-clients 64] [--handshake-timeout 10]
#       [--tls-cert FILE --tls-key FILE]
#
# Unlike execnet's socketserver it executes nothing before the peer proves that it knows
# the shared token. Both sides send a fresh nonce; each proves the token with
# HMAC-SHA256 over both nonces and its direction label, and both derive a session key:
# the bootstrap line and every frame after it carry an HMAC under that key (see
# gateway.py's _Sealed). Handshakes run in this process's select loop with one deadline
# each; only an authenticated connection is forked. Binds 127.0.0.1 unless told
# otherwise. Runs on CPython 2.7 / 3.x and PyPy (POSIX: fork).
import binascii
import errno
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading
import time

GREETING = b"EXECDECK-AUTH2 "
MAX_LINE = 64 << 20
HANDSHAKE = 10.0


def log(msg):
    try:
        sys.stdout.write("execdeck-socketserver: %s\n" % msg)
        sys.stdout.flush()
    except (IOError, OSError, ValueError):
        pass  # nobody reads our log any more: serving matters more than logging


def private(path, what):
    """Refuses a secret file readable by group or others (OpenSSH's words)."""
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise SystemExit("Permissions 0%03o for '%s' are too open.\n"
                         "It is required that your %s is NOT accessible by others.\n"
                         "This %s will be ignored." % (st.st_mode & 0o777, path, what, what))


def tls_context(cert, key):
    """--tls-cert/--tls-key: a server-side TLS context (Python 2.7.9+ / 3.x)."""
    try:
        import ssl
        ssl.SSLContext  # noqa: B018
    except (ImportError, AttributeError):
        raise SystemExit("--tls-cert needs Python's ssl module with SSLContext (2.7.9+ or 3.x)")
    private(key, "TLS key file")
    proto = getattr(ssl, "PROTOCOL_TLS_SERVER", None)
    if proto is None:
        proto = getattr(ssl, "PROTOCOL_TLS", ssl.PROTOCOL_SSLv23)
    ctx = ssl.SSLContext(proto)
    for name in ("OP_NO_SSLv2", "OP_NO_SSLv3", "OP_NO_TLSv1", "OP_NO_TLSv1_1"):
        ctx.options |= getattr(ssl, name, 0)
    try:
        ctx.load_cert_chain(cert, key)
    except (IOError, OSError, ssl.SSLError) as e:
        raise SystemExit("--tls-cert/--tls-key: cannot load %s / %s: %s" % (cert, key, e))
    return ctx


def tls_wants(e):
    """A non-blocking TLS operation that needs more bytes first (not an error)."""
    try:
        import ssl
    except ImportError:
        return False
    return isinstance(e, (getattr(ssl, "SSLWantReadError", ()), getattr(ssl, "SSLWantWriteError", ())))


def load_token(path):
    if path is not None:
        private(path, "token file")
        f = open(path, "rb")
        try:
            token = f.read().strip()
        finally:
            f.close()
    else:
        token = os.environ.get("EXECDECK_TOKEN", "").strip().encode("utf-8")
    if len(token) < 8:
        raise SystemExit("no token (or shorter than 8 bytes): set EXECDECK_TOKEN or use --token-file PATH")
    return token


def drop_secrets(env):
    """Workers and what they start never see execdeck's secrets."""
    for k in list(env):
        if k.startswith("EXECDECK_") and any(w in k for w in ("TOKEN", "PASSWORD", "SECRET", "KEY")):
            del env[k]


def readline(sock, limit, deadline):
    """One line (without its newline) before the deadline, else None. The peer sends
    nothing after it before our answer, so reading in chunks takes nothing extra."""
    buf = []
    size = 0
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            c = sock.recv(65536)
        except (socket.timeout, socket.error, OSError):
            return None
        if not c:
            return None
        buf.append(c)
        size += len(c)
        if b"\n" in c:
            data = b"".join(buf)
            line, _, rest = data.partition(b"\n")
            return None if rest else line
        if size > limit:
            return None


def same(a, b):
    if hasattr(hmac, "compare_digest"):
        return hmac.compare_digest(a, b)
    if len(a) != len(b):
        return False
    r = 0
    for x, y in zip(bytearray(a), bytearray(b)):
        r |= x ^ y
    return r == 0


def mac(key, *parts):
    h = hmac.new(key, None, hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.digest()


def session(token, server_nonce, client_nonce):
    """(client proof, server proof, session key): each bound to both nonces."""
    def f(label):
        return mac(token, b"execdeck-auth2 ", label, b"\n", server_nonce, b"\n", client_nonce)
    return f(b"client"), f(b"server"), f(b"key")


def is_hex(b):
    try:
        binascii.unhexlify(b)
    except (TypeError, ValueError, binascii.Error):
        return False
    return True


def deny(sock, address, why):
    log("refused %s:%s (%s)" % (address[0], address[1], why))
    try:
        sock.sendall(b"DENIED\n")
    except Exception:
        pass
    sock.close()


def check_answer(token, nonce, answer):
    """The client's `NONCE PROOF` line: (our proof line, session key), or None."""
    parts = answer.split(b" ") if answer is not None else []
    if len(parts) != 2 or not (32 <= len(parts[0]) <= 128) or not is_hex(parts[0]):
        return None
    want, ours, key = session(token, nonce, parts[0])
    if not same(parts[1], binascii.hexlify(want)):
        return None
    return b"OK " + binascii.hexlify(ours) + b"\n", key


def check_bootstrap(key, first):
    """`TAG LINE`: the line when its tag is the client's frame 0, else None."""
    tag, _, line = first.partition(b" ")
    line += b"\n"
    if not same(tag, binascii.hexlify(mac(key, struct.pack("!Q", 0), b"client", line))):
        return None
    return line


class IntegrityError(Exception):
    pass


class Sealed(object):
    """Socket gateways: every frame carries HMAC-SHA256(session key, sequence number,
    direction, frame), checked before anything decodes it. Called with whole frames
    (writes) and header-then-payload (reads); `raw` sends the unframed bootstrap ack."""

    def __init__(self, read, write, key, cut):
        self._raw_read = read
        self._cut = cut  # ends the connection both ways at once
        self.raw = write
        self._base = hmac.new(key, None, hashlib.sha256)
        self._in_seq = 1  # the bootstrap line was the client's frame 0
        self._out_seq = 0
        self._buf = b""
        self._lock = threading.Lock()

    def _tag(self, seq, label, data):
        h = self._base.copy()
        h.update(SEQ.pack(seq) + label)
        h.update(data)
        return h.digest()

    def __call__(self, data):
        self._lock.acquire()
        try:
            tag = self._tag(self._out_seq, b"server", data)
            self._out_seq += 1
            self.raw(data + tag)
        finally:
            self._lock.release()

    def _alert(self, why):
        """Tells the client why we end (an authenticated ALERT frame), then cuts."""
        try:
            payload = why.encode("utf-8")
            self(HEADER.pack(ALERT, 0, len(payload)) + payload)
        except Exception:
            pass
        try:
            self._cut()
        except Exception:
            pass

    def _exact(self, n):
        parts = []
        while n > 0:
            d = self._raw_read(n)
            if not d:
                raise EOFError("connection closed")
            parts.append(d)
            n -= len(d)
        return b"".join(parts)

    def read(self, n):
        if not self._buf:
            header = self._exact(9)
            ln = HEADER.unpack(header)[2]
            if ln < 0:
                why = "malformed frame %d from the client: negative payload length" % self._in_seq
                self._alert(why)
                raise IntegrityError(why)
            frame = header + self._exact(ln) if ln else header
            tag = self._exact(32)
            if not same(tag, self._tag(self._in_seq, b"client", frame)):
                why = ("integrity check failed on frame %d from the client: it was altered, "
                       "injected, replayed, reordered or a frame was dropped" % self._in_seq)
                self._alert(why)
                raise IntegrityError(why)
            self._in_seq += 1
            self._buf = frame
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


SEQ = struct.Struct("!Q")
HEADER = struct.Struct("!bii")
# frame code of the server's last word on a sealed link (never a gateway message)
ALERT = 127


def cutter(sock):
    """Ends the connection both ways (not a closure in become_worker: Jython refuses
    an unqualified exec in a function with free variables)."""
    return lambda: sock.shutdown(2)


def become_worker(sock, address, key, line):
    """In the forked child (or the --one process): run the authenticated bootstrap."""
    try:
        os.setsid()  # our own process group: the worker's exit removes what it started
    except (OSError, AttributeError):
        pass
    sock.setblocking(True)
    sock.settimeout(None)
    keepalive(sock)
    log("gateway for %s:%s" % (address[0], address[1]))
    source = eval(line.decode("utf-8"))
    sealed = Sealed(sock.makefile("rb", 65536).read, sock.sendall, key, cutter(sock))
    namespace = {"__name__": "__main__", "_execdeck_socket": sock,
                 "_execdeck_io": (sealed.read, sealed)}
    exec(compile(source, "<execdeck-bootstrap>", "exec"), namespace)
    os._exit(0)


def keepalive(sock):
    """A half-open link ends the worker within minutes instead of never."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except (OSError, socket.error):
        pass


def serve_connection(sock, address, token, limit, tls=None):
    """--one (installvia): the whole handshake in this process, blocking, one deadline."""
    deadline = time.time() + limit
    if tls is not None:
        sock.settimeout(limit)
        try:
            sock = tls.wrap_socket(sock, server_side=True)
        except Exception as e:
            log("dropped %s:%s (TLS handshake failed: %s)" % (address[0], address[1], e))
            os._exit(3)
    nonce = binascii.hexlify(os.urandom(32))
    sock.sendall(GREETING + nonce + b"\n")
    ok = check_answer(token, nonce, readline(sock, 300, deadline))
    if ok is None:
        deny(sock, address, "authentication failed or no answer before the deadline")
        os._exit(3)
    sock.sendall(ok[0])
    first = readline(sock, MAX_LINE, deadline)
    line = check_bootstrap(ok[1], first) if first is not None else None
    if line is None:
        deny(sock, address, "the bootstrap line failed its integrity check or came too late")
        os._exit(4)
    become_worker(sock, address, ok[1], line)


class Pending(object):
    """A connection in its handshake, driven by the server's select loop."""

    def __init__(self, sock, address, deadline, tls):
        self.sock, self.address, self.deadline = sock, address, deadline
        self.nonce = binascii.hexlify(os.urandom(32))
        self.buf = b""
        self.key = None
        self.tls = tls  # True while the TLS handshake is under way

    def greet(self):
        self.sock.sendall(GREETING + self.nonce + b"\n")

    def step(self, token):
        """Reads what arrived: None (more to come), ("ready", line) or ("drop", why)."""
        if self.tls:
            try:
                self.sock.do_handshake()
            except Exception as e:
                if tls_wants(e):
                    return None
                return ("drop", "TLS handshake failed: %s" % e)
            self.tls = False
            self.greet()
            return None
        try:
            data = self.sock.recv(65536)
            # TLS: a record may hold more than one recv returned
            while data and getattr(self.sock, "pending", lambda: 0)():
                data += self.sock.recv(65536)
        except (OSError, socket.error) as e:
            if tls_wants(e):
                return None
            if getattr(e, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return None
            return ("drop", "read error: %s" % e)
        if not data:
            return ("drop", "closed during the handshake")
        self.buf += data
        if b"\n" not in self.buf:
            if len(self.buf) > (MAX_LINE if self.key else 300):
                return ("drop", "line too long")
            return None
        line, _, rest = self.buf.partition(b"\n")
        if rest:
            return ("deny", "data before our answer")
        self.buf = b""
        if self.key is None:
            ok = check_answer(token, self.nonce, line)
            if ok is None:
                return ("deny", "authentication failed")
            self.key = ok[1]
            self.sock.sendall(ok[0])
            return None
        boot = check_bootstrap(self.key, line)
        if boot is None:
            return ("deny", "the bootstrap line failed its integrity check")
        return ("ready", boot)


def parse_address(text):
    """HOST:PORT, PORT or :PORT (127.0.0.1); anything else is an error, never a default."""
    host, sep, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise SystemExit("--listen: expected HOST:PORT, :PORT or PORT, got %r" % text)
    return host or "127.0.0.1", int(port)


def parse_args(argv):
    opts = {"listen": None, "--token-file": None, "--max-clients": "64",
            "--handshake-timeout": str(HANDSHAKE), "--one": False,
            "--tls-cert": None, "--tls-key": None}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--one":
            opts["--one"] = True
        elif a in opts or a == "--listen":
            if i + 1 >= len(argv):
                raise SystemExit("%s needs a value" % a)
            opts["listen" if a == "--listen" else a] = argv[i + 1]
            i += 1
        elif a.startswith("--"):
            raise SystemExit("unknown option %s" % a)
        else:
            opts["listen"] = a
        i += 1
    try:
        cap = int(opts["--max-clients"])
        limit = float(opts["--handshake-timeout"])
    except ValueError:
        raise SystemExit("--max-clients and --handshake-timeout take numbers")
    if cap < 1 or limit <= 0:
        raise SystemExit("--max-clients and --handshake-timeout must be positive")
    if (opts["--tls-cert"] is None) != (opts["--tls-key"] is None):
        raise SystemExit("--tls-cert and --tls-key go together")
    return opts, cap, limit


def main(argv):
    opts, cap, limit = parse_args(argv)
    token = load_token(opts["--token-file"])
    tls = None
    if opts["--tls-cert"] is not None:
        tls = tls_context(opts["--tls-cert"], opts["--tls-key"])
    drop_secrets(os.environ)
    host, port = parse_address(opts["listen"] or "127.0.0.1:8888")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    h, p = srv.getsockname()[:2]
    log("listening on %s:%d%s" % (h, p, " (TLS)" if tls is not None else ""))
    if opts["--one"]:
        # installvia: serve exactly one gateway in this process, then end
        conn, address = srv.accept()
        srv.close()
        serve_connection(conn, address, token, limit, tls)
        return
    try:
        serve(srv, token, cap, limit, tls)
    except KeyboardInterrupt:
        return


def serve(srv, token, cap, limit, tls=None):
    """Handshakes run here, in one select loop with one deadline each; only an
    authenticated connection gets a process. Connections in handshake plus workers stay
    at or under `cap`: at the cap a new connection evicts the oldest unauthenticated one."""
    import select
    pending = {}  # fileno -> Pending
    workers = set()
    while True:
        while workers:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except OSError:
                workers.clear()
                break
            if pid == 0:
                break
            workers.discard(pid)
        now = time.time()
        for fd, c in list(pending.items()):
            if c.deadline <= now:
                del pending[fd]
                log("dropped %s:%s (no handshake within %g s)" % (c.address[0], c.address[1], limit))
                c.sock.close()
        wait = 0.5
        if pending:
            wait = max(0.0, min(wait, min(c.deadline for c in pending.values()) - now))
        try:
            ready = select.select([srv] + [c.sock for c in pending.values()], [], [], wait)[0]
        except (OSError, select.error, ValueError) as e:
            if getattr(e, "errno", None) == errno.EINTR or (e.args and e.args[0] == errno.EINTR):
                continue
            raise
        for r in ready:
            if r is srv:
                accept_one(srv, pending, workers, cap, limit, tls)
                continue
            c = pending.get(r.fileno())
            if c is None:
                continue
            try:
                out = c.step(token)
            except (OSError, socket.error) as e:
                out = ("drop", "write error: %s" % e)
            if out is None:
                continue
            del pending[r.fileno()]
            if out[0] == "drop":
                log("dropped %s:%s (%s)" % (c.address[0], c.address[1], out[1]))
                c.sock.close()
            elif out[0] == "deny":
                deny(c.sock, c.address, out[1])
            else:
                fork_worker(srv, c, out[1], pending, workers)


def accept_one(srv, pending, workers, cap, limit, tls):
    try:
        conn, address = srv.accept()
    except (OSError, socket.error) as e:
        if getattr(e, "errno", None) not in (errno.EINTR, errno.EAGAIN):
            log("accept failed: %s (still serving)" % e)
            time.sleep(0.05)  # EMFILE and friends: do not spin
        return
    if len(pending) + len(workers) >= cap:
        if not pending:
            log("refused %s:%s (%d workers: the --max-clients cap)" % (address[0], address[1], cap))
            conn.close()
            return
        oldest = min(pending.values(), key=lambda c: c.deadline)
        del pending[oldest.sock.fileno()]
        log("dropped %s:%s (at the cap of %d connections)" % (oldest.address[0], oldest.address[1], cap))
        oldest.sock.close()
    try:
        conn.setblocking(False)
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        c = Pending(conn, address, time.time() + limit, tls is not None)
        if tls is None:
            c.greet()
    except Exception as e:
        log("dropped %s:%s (%s)" % (address[0], address[1], e))
        conn.close()
        return
    pending[conn.fileno()] = c


def fork_worker(srv, c, line, pending, workers):
    try:
        pid = os.fork()
    except OSError as e:
        log("fork failed for %s:%s: %s (still serving)" % (c.address[0], c.address[1], e))
        c.sock.close()
        return
    if pid == 0:
        try:
            srv.close()
            for other in pending.values():
                other.sock.close()
            become_worker(c.sock, c.address, c.key, line)
        finally:
            os._exit(1)
    workers.add(pid)
    c.sock.close()


def install(channel):
    """installvia=: started by remote_exec on an existing gateway. Receives (host,
    token, this file's source), starts a one-connection server and answers (host, port).
    """
    import subprocess
    host, token, source = channel.receive()
    env = dict(os.environ)
    env["EXECDECK_TOKEN"] = str(token)
    proc = subprocess.Popen([sys.executable, "-u", "-c", source, "%s:0" % host, "--one"],
                            stdout=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode("utf-8", "replace")
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError("the socket server did not start: %r" % line)
    h, _, p = line.strip().rsplit(" ", 1)[-1].rpartition(":")
    channel.send((h, int(p)))
    # keep reading its log until it ends (a closed pipe would kill its prints)
    while proc.stdout.read(4096):
        pass
    proc.wait()


if __name__ == "__main__":
    main(sys.argv)
elif __name__ == "__channelexec__":
    install(channel)  # noqa: F821
