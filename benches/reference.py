#!/usr/bin/env python3
"""Measure execnet reference numbers for the execdeck benchmark.

Usage (run with a Python that has execnet==2.1.2 installed):

    <venv>/bin/python benches/reference.py --python /path/to/python --json
    <venv>/bin/python benches/reference.py --python ... --json --pin
    <venv>/bin/python benches/reference.py --python ... --json --only execnet_echo_per_s,pipe_pingpong_per_s

Prints exactly one JSON object on stdout (with --json; otherwise a readable
table). Progress goes to stderr. Every value is a median: per-start/per-run
samples for the latency keys, and the median of --repeat runs for the others.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

MiB = 1 << 20

ECHO_N = 20_000
PINGPONG_N = 20_000
BYTES_N = 200  # objects of 1 MiB
ITEMS_N = 200_000
FLOOR_STARTS = 20
READY_STARTS = 10
GROUP_N = 32
DEADMAN_CAP_S = 30.0
TERM_TIMEOUT = 5.0
RECV_TIMEOUT = 120.0

ALL_KEYS = [
    "python_floor_ms",
    "execnet_ready_ms",
    "execnet_echo_per_s",
    "pipe_pingpong_per_s",
    "execnet_bytes_to_remote_MBps",
    "execnet_bytes_from_remote_MBps",
    "execnet_items_from_remote_per_s",
    "execnet_32_create_s",
    "execnet_32_terminate_s",
    "execnet_32_peak_rss_mib",
    "execnet_deadman_s",
]
PINNED_KEYS = ["execnet_echo_per_s_pinned", "pipe_pingpong_per_s_pinned"]
GROUP_KEYS = ["execnet_32_create_s", "execnet_32_terminate_s", "execnet_32_peak_rss_mib"]


def log(msg):
    print(f"[reference] {msg}", file=sys.stderr, flush=True)


def med(samples):
    return statistics.median(samples)


def fmt(samples):
    return ", ".join(f"{s:.4g}" for s in samples)


def spec_for(python, pin=False):
    prefix = "taskset -c 0 " if pin else ""
    return f"popen//python={prefix}{python}"


def import_execnet():
    import execnet

    return execnet


# ---------------------------------------------------------------- tests


def t_python_floor(python):
    samples = []
    for _ in range(FLOOR_STARTS):
        t0 = time.perf_counter()
        subprocess.run([python, "-u", "-c", "pass"], check=True)
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def t_ready(python):
    execnet = import_execnet()
    samples = []
    for _ in range(READY_STARTS):
        group = execnet.Group()
        try:
            t0 = time.perf_counter()
            gw = group.makegateway(spec_for(python))
            v = gw.remote_exec("channel.send(1)").receive(timeout=RECV_TIMEOUT)
            dt = time.perf_counter() - t0
            assert v == 1, v
            samples.append(dt * 1e3)
        finally:
            group.terminate(timeout=TERM_TIMEOUT)
    return samples


def with_gateway(python, fn, pin=False):
    """Run fn(gw) on a fresh popen gateway; always terminate it."""
    execnet = import_execnet()
    group = execnet.Group()
    try:
        gw = group.makegateway(spec_for(python, pin))
        return fn(gw)
    finally:
        group.terminate(timeout=TERM_TIMEOUT)


def echo_run(gw):
    ch = gw.remote_exec("for x in channel:\n    channel.send(x)\n")
    # warm-up round trip so remote_exec startup is not measured
    ch.send(-1)
    assert ch.receive(timeout=RECV_TIMEOUT) == -1
    t0 = time.perf_counter()
    for i in range(ECHO_N):
        ch.send(i)
        r = ch.receive(timeout=RECV_TIMEOUT)
        if r != i:
            raise AssertionError(f"echo mismatch {r!r} != {i!r}")
    dt = time.perf_counter() - t0
    ch.close()
    ch.waitclose(timeout=RECV_TIMEOUT)
    return ECHO_N / dt


PINGPONG_CHILD = (
    "import os, sys\n"
    "r = sys.stdin.buffer\n"
    "for line in iter(r.readline, b''):\n"
    "    os.write(1, line)\n"
)


def pingpong_run(python, pin=False):
    cmd = [python, "-u", "-c", PINGPONG_CHILD]
    if pin:
        cmd = ["taskset", "-c", "0"] + cmd
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    try:
        wfd = p.stdin.fileno()
        rd = p.stdout  # raw FileIO; one line in flight, so read() returns it whole
        buf = b""

        def roundtrip(i):
            nonlocal buf
            msg = b"%d\n" % i
            os.write(wfd, msg)
            while b"\n" not in buf:
                chunk = rd.read(4096)
                if not chunk:
                    raise RuntimeError("pingpong child died")
                buf += chunk
            line, _, buf = buf.partition(b"\n")
            if line + b"\n" != msg:
                raise AssertionError(f"pingpong mismatch {line!r}")

        roundtrip(-1)  # warm-up: child startup not measured
        t0 = time.perf_counter()
        for i in range(PINGPONG_N):
            roundtrip(i)
        dt = time.perf_counter() - t0
        return PINGPONG_N / dt
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()


def bytes_to_remote_run(gw):
    ch = gw.remote_exec(
        "n = 0\n"
        "while 1:\n"
        "    x = channel.receive()\n"
        "    if x is None:\n"
        "        break\n"
        "    n += len(x)\n"
        "channel.send(n)\n"
    )
    blob = b"x" * MiB
    t0 = time.perf_counter()
    for _ in range(BYTES_N):
        ch.send(blob)
    ch.send(None)
    n = ch.receive(timeout=RECV_TIMEOUT)
    dt = time.perf_counter() - t0
    assert n == BYTES_N * MiB, n
    ch.waitclose(timeout=RECV_TIMEOUT)
    return BYTES_N * MiB / 1e6 / dt


def bytes_from_remote_run(gw):
    t0 = time.perf_counter()
    ch = gw.remote_exec(
        f"b = b'x' * {MiB}\n"
        f"for i in range({BYTES_N}):\n"
        "    channel.send(b)\n"
    )
    total = 0
    for _ in range(BYTES_N):
        total += len(ch.receive(timeout=RECV_TIMEOUT))
    dt = time.perf_counter() - t0
    assert total == BYTES_N * MiB, total
    ch.waitclose(timeout=RECV_TIMEOUT)
    return BYTES_N * MiB / 1e6 / dt


def items_from_remote_run(gw):
    t0 = time.perf_counter()
    ch = gw.remote_exec(f"for i in range({ITEMS_N}):\n    channel.send(i)\n")
    for i in range(ITEMS_N):
        r = ch.receive(timeout=RECV_TIMEOUT)
        if r != i:
            raise AssertionError(f"items mismatch {r!r} != {i!r}")
    dt = time.perf_counter() - t0
    ch.waitclose(timeout=RECV_TIMEOUT)
    return ITEMS_N / dt


def group32_child(python):
    """Runs in a fresh subprocess (--_group32). Prints one JSON line."""
    import resource

    execnet = import_execnet()
    group = execnet.Group()
    create_s = term_s = None
    try:
        t0 = time.perf_counter()
        for _ in range(GROUP_N):
            group.makegateway(spec_for(python))
        create_s = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        group.terminate(timeout=TERM_TIMEOUT)
        term_s = time.perf_counter() - t1
    # VmHWM is this process's own peak; ru_maxrss can carry the parent's peak over
    # fork + exec on Linux.
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                rss_kib = int(line.split()[1])
    except OSError:
        pass
    print(json.dumps({"create_s": create_s, "terminate_s": term_s,
                      "peak_rss_mib": rss_kib / 1024.0}), flush=True)


def group32_run(python):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--_group32", "--python", python],
        stdout=subprocess.PIPE, check=True, timeout=300,
    ).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


DEADMAN_CHILD = r"""
import sys, time, execnet
gw = execnet.makegateway(sys.argv[1])
ch = gw.remote_exec("import os\nchannel.send(os.getpid())\nwhile True:\n    pass\n")
print(ch.receive(timeout=60), flush=True)
time.sleep(3600)
"""


def pid_state(pid):
    """Return the /proc state letter, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces/parens: state follows the last ')'
    return data[data.rindex(b")") + 2:][:1].decode()


def pid_alive(pid):
    st = pid_state(pid)
    return st is not None and st not in ("Z", "X")


def become_subreaper():
    """Best effort: make orphaned workers reparent to us so we can reap them
    (instead of leaving zombies under a non-reaping init)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def deadman_run(python):
    become_subreaper()
    child = subprocess.Popen(
        [sys.executable, "-c", DEADMAN_CHILD, spec_for(python)],
        stdout=subprocess.PIPE,
    )
    worker = None
    try:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError("deadman child master produced no worker pid")
        worker = int(line)
        time.sleep(0.2)  # let the worker settle into its busy loop
        if not pid_alive(worker):
            raise RuntimeError("worker not alive before kill")
        t0 = time.perf_counter()
        os.kill(child.pid, signal.SIGKILL)
        while pid_alive(worker):
            if time.perf_counter() - t0 >= DEADMAN_CAP_S:
                break
            time.sleep(0.005)
        dt = min(time.perf_counter() - t0, DEADMAN_CAP_S)
        if pid_alive(worker):
            log(f"deadman: worker {worker} still alive after {DEADMAN_CAP_S}s cap")
        return dt
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        if worker is not None and pid_alive(worker):
            try:
                os.kill(worker, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(200):
                if not pid_alive(worker):
                    break
                time.sleep(0.01)
        if worker is not None:
            reap(worker)


# ---------------------------------------------------------------- driver


def repeated(name, n, fn):
    samples = []
    for i in range(n):
        samples.append(fn())
        log(f"{name} run {i + 1}/{n}: {samples[-1]:.4g}")
    return samples


class Pinned:
    """Pin this process to CPU 0 for the duration of the block."""

    def __enter__(self):
        self.saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.saved)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable,
                    help="python used for the remote/worker side (default: this one)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--repeat", type=int, default=3, help="runs per throughput test (median)")
    ap.add_argument("--pin", action="store_true",
                    help="also run echo and pingpong pinned to CPU 0 (keys *_pinned)")
    ap.add_argument("--only", default=None, help="comma-separated subset of keys")
    ap.add_argument("--_group32", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._group32:
        group32_child(args.python)
        return 0

    py = args.python
    valid = ALL_KEYS + PINNED_KEYS
    if args.only:
        want = [k.strip() for k in args.only.split(",") if k.strip()]
        bad = [k for k in want if k not in valid]
        if bad:
            ap.error(f"unknown key(s) {bad}; valid: {', '.join(valid)}")
        if args.pin:  # --pin with --only echo → also the pinned variant
            want += [k + "_pinned" for k in want if k + "_pinned" in PINNED_KEYS]
    else:
        want = ALL_KEYS + (PINNED_KEYS if args.pin else [])
    want = set(want)
    R = max(1, args.repeat)

    import execnet

    log(f"execnet {execnet.__version__} master {sys.executable} ({sys.version.split()[0]}), "
        f"worker {py}, repeat {R}, cpus {sorted(os.sched_getaffinity(0))}")
    res = {}
    t_start = time.perf_counter()

    if "python_floor_ms" in want:
        s = t_python_floor(py)
        res["python_floor_ms"] = med(s)
        log(f"python_floor_ms samples: {fmt(s)}")
    if "execnet_ready_ms" in want:
        s = t_ready(py)
        res["execnet_ready_ms"] = med(s)
        log(f"execnet_ready_ms samples: {fmt(s)}")
    if "execnet_echo_per_s" in want:
        s = repeated("execnet_echo_per_s", R, lambda: with_gateway(py, echo_run))
        res["execnet_echo_per_s"] = med(s)
    if "pipe_pingpong_per_s" in want:
        s = repeated("pipe_pingpong_per_s", R, lambda: pingpong_run(py))
        res["pipe_pingpong_per_s"] = med(s)
    if "execnet_echo_per_s_pinned" in want:
        with Pinned():
            s = repeated("execnet_echo_per_s_pinned", R,
                         lambda: with_gateway(py, echo_run, pin=True))
        res["execnet_echo_per_s_pinned"] = med(s)
    if "pipe_pingpong_per_s_pinned" in want:
        with Pinned():
            s = repeated("pipe_pingpong_per_s_pinned", R, lambda: pingpong_run(py, pin=True))
        res["pipe_pingpong_per_s_pinned"] = med(s)
    if "execnet_bytes_to_remote_MBps" in want:
        s = repeated("execnet_bytes_to_remote_MBps", R,
                     lambda: with_gateway(py, bytes_to_remote_run))
        res["execnet_bytes_to_remote_MBps"] = med(s)
    if "execnet_bytes_from_remote_MBps" in want:
        s = repeated("execnet_bytes_from_remote_MBps", R,
                     lambda: with_gateway(py, bytes_from_remote_run))
        res["execnet_bytes_from_remote_MBps"] = med(s)
    if "execnet_items_from_remote_per_s" in want:
        s = repeated("execnet_items_from_remote_per_s", R,
                     lambda: with_gateway(py, items_from_remote_run))
        res["execnet_items_from_remote_per_s"] = med(s)
    if want & set(GROUP_KEYS):
        runs = []
        for i in range(R):
            runs.append(group32_run(py))
            log(f"execnet_32 run {i + 1}/{R}: {runs[-1]}")
        for key, sub in (("execnet_32_create_s", "create_s"),
                         ("execnet_32_terminate_s", "terminate_s"),
                         ("execnet_32_peak_rss_mib", "peak_rss_mib")):
            if key in want:
                res[key] = med([r[sub] for r in runs])
    if "execnet_deadman_s" in want:
        s = repeated("execnet_deadman_s", R, lambda: deadman_run(py))
        res["execnet_deadman_s"] = med(s)

    log(f"total {time.perf_counter() - t_start:.1f}s")
    out = {k: round(res[k], 4) for k in valid if k in res}
    if args.json:
        print(json.dumps(out, indent=2), flush=True)
    else:
        for k, v in out.items():
            print(f"{k:36s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
