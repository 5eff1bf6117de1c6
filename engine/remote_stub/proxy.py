# execdeck via= forwarder: runs as a remote_exec task on the "via" gateway and carries a
# sub-gateway's bytes, following execnet's proxy protocol:
#   1. receives a dict describing the sub-gateway ({"python": [argv...], "id": ...});
#   2. receives a control channel; requests on it are ints:
#      1 RIO_KILL, 2 RIO_WAIT (-> exit code), 3 RIO_REMOTEADDRESS, 4 RIO_CLOSE_WRITE;
#   3. every bytes item from the master goes to the sub's stdin; the sub's "1" and then
#      each whole frame it writes come back as one bytes item each.
# Same source for Python 2.7 / 3.x / PyPy.
import os
import struct
import subprocess
import sys

ONE_LINER = "import sys;exec(eval(sys.stdin.readline()))"


def _read_exact(f, n):
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(channel):
    spec = channel.receive()
    control = channel.receive()
    argv = list(spec.get("python") or [sys.executable]) + ["-u", "-c", ONE_LINER]
    popen_kw = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "bufsize": 0}
    if hasattr(os, "setsid"):
        popen_kw["preexec_fn"] = os.setsid  # its own group: a kill removes its children
    try:
        sub = subprocess.Popen(argv, **popen_kw)
    except OSError as e:
        raise OSError("cannot start %s on the via gateway: %s" % (argv[0], e))

    def kill():
        try:
            if hasattr(os, "killpg"):
                os.killpg(sub.pid, 9)
            else:
                sub.kill()
        except OSError:
            pass

    def on_control(req):
        if req == 1:
            kill()
            control.send(None)
        elif req == 2:
            control.send(sub.wait())
        elif req == 3:
            control.send(u"via " + u"%s" % (channel.gateway.id,))
        elif req == 4:
            try:
                sub.stdin.close()
            except (OSError, IOError, ValueError):
                pass
            control.send(None)

    control.setcallback(on_control)

    def to_sub(data):
        try:
            if data is None:  # the master closed the channel: end the sub's input
                sub.stdin.close()
            else:
                sub.stdin.write(data)
                sub.stdin.flush()
        except (OSError, IOError, ValueError):
            pass

    channel.setcallback(to_sub, endmarker=None)
    out = sub.stdout
    ack = _read_exact(out, 1)
    if ack is None:
        return
    channel.send(ack)
    while True:
        header = _read_exact(out, 9)
        if header is None:
            break
        length = struct.unpack("!bii", header)[2]
        payload = _read_exact(out, length) if length else b""
        if payload is None:
            break
        channel.send(header + payload)
    # the sub ended: make sure nothing of it stays
    kill()
    try:
        sub.wait()
    except OSError:
        pass


if __name__ == "__channelexec__":
    serve(channel)  # noqa: F821
