# execdeck socket server: serves gateways over TCP, one forked worker per connection.
#
#   EXECDECK_TOKEN=secret python socketserver.py [HOST:PORT] [--token-file PATH]
#
# Unlike execnet's socketserver it executes nothing before the peer proves that it knows
# the shared token: the server sends a random challenge, the peer answers with
# HMAC-SHA256(token, challenge); the token itself never crosses the wire. It binds
# 127.0.0.1 unless told otherwise. Runs on CPython 2.7 / 3.x and PyPy (POSIX: fork).
import binascii
import hashlib
import hmac
import os
import signal
import socket
import struct
import sys
import time

GREETING = b"EXECDECK-AUTH2 "
MAX_LINE = 64 << 20
HANDSHAKE = 10.0


def log(msg):
    sys.stdout.write("execdeck-socketserver: %s\n" % msg)
    sys.stdout.flush()


def load_token(argv):
    if "--token-file" in argv:
        i = argv.index("--token-file")
        if i + 1 >= len(argv):
            raise SystemExit("--token-file needs a path")
        f = open(argv[i + 1], "rb")
        try:
            token = f.read().strip()
        finally:
            f.close()
    else:
        token = os.environ.get("EXECDECK_TOKEN", "").strip().encode("utf-8")
    if len(token) < 8:
        raise SystemExit("no token (or shorter than 8 bytes): set EXECDECK_TOKEN or use --token-file PATH")
    return token


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


def deny(sock, address, why, code):
    log("refused %s:%s (%s)" % (address[0], address[1], why))
    try:
        sock.sendall(b"DENIED\n")
    except Exception:
        pass
    sock.close()
    os._exit(code)


def serve_connection(sock, address, token, limit):
    """Runs in the forked child: authenticate both ways, then become the worker.
    `limit` is the deadline (seconds) for the whole handshake, bootstrap line included."""
    try:
        os.setsid()  # our own process group: the worker's exit removes what it started
    except (OSError, AttributeError):
        pass
    deadline = time.time() + limit
    nonce = binascii.hexlify(os.urandom(32))
    sock.sendall(GREETING + nonce + b"\n")
    answer = readline(sock, 300, deadline)
    parts = answer.split(b" ") if answer is not None else []
    if len(parts) != 2 or not (32 <= len(parts[0]) <= 128) or not is_hex(parts[0]):
        deny(sock, address, "no valid answer before the handshake deadline", 3)
    client_nonce, proof = parts
    want, ours, key = session(token, nonce, client_nonce)
    if not same(proof, binascii.hexlify(want)):
        deny(sock, address, "authentication failed", 3)
    sock.sendall(b"OK " + binascii.hexlify(ours) + b"\n")
    # the bootstrap line, tagged as the client's frame 0 with the session key
    first = readline(sock, MAX_LINE, deadline)
    if first is None:
        deny(sock, address, "no bootstrap line before the handshake deadline", 4)
    tag, _, line = first.partition(b" ")
    line += b"\n"
    if not same(tag, binascii.hexlify(mac(key, struct.pack("!Q", 0), b"client", line))):
        deny(sock, address, "the bootstrap line failed its integrity check", 4)
    sock.settimeout(None)
    log("gateway for %s:%s" % (address[0], address[1]))
    source = eval(line.decode("utf-8"))
    namespace = {"__name__": "__main__", "_execdeck_socket": sock, "_execdeck_key": key}
    exec(compile(source, "<execdeck-bootstrap>", "exec"), namespace)
    os._exit(0)


def main(argv):
    listen = "127.0.0.1:8888"
    for a in argv[1:]:
        if not a.startswith("--") and ":" in a:
            listen = a
    token = load_token(argv)
    host, _, port = listen.rpartition(":")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host or "127.0.0.1", int(port)))
    srv.listen(16)
    h, p = srv.getsockname()[:2]
    log("listening on %s:%d" % (h, p))
    if "--one" in argv:
        # installvia: serve exactly one gateway in this process, then end
        conn, address = srv.accept()
        srv.close()
        serve_connection(conn, address, token, HANDSHAKE)
        return

    def reap(*_):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except OSError:
                return
            if pid == 0:
                return

    signal.signal(signal.SIGCHLD, reap)
    while True:
        try:
            conn, address = srv.accept()
        except (OSError, socket.error) as e:
            if getattr(e, "errno", None) == 4:  # EINTR (SIGCHLD)
                continue
            raise
        except KeyboardInterrupt:
            return
        pid = os.fork()
        if pid == 0:
            srv.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                serve_connection(conn, address, token, HANDSHAKE)
            finally:
                os._exit(1)
        conn.close()


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
