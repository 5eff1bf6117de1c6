"""The binding against real workers: CPython 2.7 and 3.13, PyPy, Jython."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import execdeck


def spec(python):
    return "popen//python=%s//timeout=60" % python


def test_echo_and_types(group, python):
    gw = group.makegateway(spec(python))
    ch = gw.remote_exec("for x in channel:\n    channel.send(x)")
    items = [None, True, 7, 2**70, -1.5, 2j, b"\x00bytes", "text \u20ac", (1, "a"), [1, [2]],
             {"k": [1, 2]}, {1, 2}, frozenset([3])]
    py2 = gw._rinfo().version_info[0] == 2
    for x in items:
        ch.send(x)
        got = ch.receive(30)
        if py2 and type(x) is bytes:
            # a Python 2 str comes back as text (execnet's default strconfig)
            x = x.decode("latin-1")
        assert got == x and type(got) is type(x), (x, got)
    ch.close()
    ch.waitclose(30)


def test_remote_error_and_rinfo(group, python):
    gw = group.makegateway(spec(python))
    ch = gw.remote_exec("raise ValueError('boom')")
    with pytest.raises(execdeck.RemoteError) as e:
        ch.receive(30)
    assert "ValueError" in e.value.formatted and "boom" in str(e.value)
    info = gw._rinfo()
    assert info.pid > 0 and isinstance(info.version_info, tuple)


def test_function_with_kwargs(group, python):
    gw = group.makegateway(spec(python))

    def double(channel, factor):
        channel.send(channel.receive() * factor)

    ch = gw.remote_exec(double, factor=3)
    ch.send(14)
    assert ch.receive(30) == 42


def test_callbacks_and_endmarker(group, python):
    gw = group.makegateway(spec(python))
    got = []
    done = threading.Event()
    ch = gw.remote_exec("for i in range(50):\n    channel.send(i)")

    def cb(item):
        got.append(item)
        if item == "END":
            done.set()

    ch.setcallback(cb, endmarker="END")
    with pytest.raises(IOError):
        ch.receive()
    ch.waitclose(30)
    assert done.is_set()
    assert got == list(range(50)) + ["END"]


def test_channel_passing_and_status(group):
    gw = group.makegateway("popen")
    ch = gw.remote_exec(
        """
        sub = channel.gateway.newchannel()
        channel.send(sub)
        sub.send(channel.receive() + 1)
        """
    )
    sub = ch.receive(30)
    assert isinstance(sub, execdeck.Channel)
    ch.send(41)
    assert sub.receive(30) == 42
    ch.waitclose(30)
    st = gw.remote_status()
    assert st.numexecuting == 0


def test_timeout_and_eof():
    gw = execdeck.makegateway("popen")
    try:
        ch = gw.remote_exec("channel.receive()")
        with pytest.raises(execdeck.TimeoutError):
            ch.receive(0.2)
        ch.send(1)
        with pytest.raises(EOFError):
            ch.receive(30)
    finally:
        execdeck.default_group.terminate(5)


def test_group_ids_multichannel_and_terminate_leaves_nothing(group):
    for _ in range(3):
        group.makegateway("popen")
    assert [gw.id for gw in group] == ["gw0", "gw1", "gw2"]
    assert group["gw1"] is group[1] and "gw2" in group and len(group) == 3
    mch = group.remote_exec("import os, subprocess\np = subprocess.Popen(['sleep', '60'])\nchannel.send((os.getpid(), p.pid))\nchannel.receive()")
    pids = [p for pair in mch.receive_each() for p in pair]
    with pytest.raises(ValueError):
        group.makegateway("popen//id=gw0")
    group.terminate(2)
    assert len(group) == 0
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_dumps_loads_match_execnet():
    execnet = pytest.importorskip("execnet") if os.environ.get("EXECDECK_STRICT") != "1" else __import__("execnet")
    if getattr(execnet, "__execdeck__", False):
        pytest.skip("execnet is switched to execdeck here")
    for x in [None, 1, 2**100, 1.5, "s", b"b", (1, [2, {3: 4}]), {5}, frozenset(), 3j]:
        assert execdeck.dumps(x) == execnet.dumps(x)
        assert execdeck.loads(execnet.dumps(x)) == x
    with pytest.raises(execdeck.DumpError):
        execdeck.dumps(object())


def test_ctrl_c_interrupts_a_blocking_receive(tmp_path):
    script = tmp_path / "block.py"
    script.write_text(textwrap.dedent(
        """
        import execdeck, sys
        gw = execdeck.makegateway("popen")
        ch = gw.remote_exec("channel.receive()")
        try:
            print("waiting", flush=True)
            ch.receive()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    ))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "waiting"
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline().strip() == "interrupted"
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_switch_makes_import_execnet_execdeck(tmp_path):
    script = tmp_path / "which.py"
    script.write_text("import execnet, execnet.gateway_base as b\nprint(getattr(execnet, '__execdeck__', False), b.RemoteError.__module__)\n")
    out = subprocess.run([sys.executable, "-m", "execdeck.as_execnet", str(script)],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "execdeck._errors"], out.stderr
