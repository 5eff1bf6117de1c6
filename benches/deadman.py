#!/usr/bin/env python3
"""Dead-man timing: how long a GIL-holding worker, its child and its setsid grandchild
outlive a killed execdeck, against the floor measured in the same run.

    python3 benches/deadman.py [--repeat 5] [--no-build] [--json FILE]

For each interpreter (2.7, 3.13, PyPy, Jython) and each signal (SIGKILL, SIGINT) it runs
`execdeck exec -g popen//python=PY -c HOG` where HOG starts `sleep 600`, `setsid sleep
601`, prints the three pids and then spins in `sum(range(10**12))` (the GIL is held),
sends the signal to execdeck and polls /proc every millisecond until the worker, the
child and the grandchild are all gone (a zombie counts as gone: it no longer runs).

Floor: the same HOG started by a bare `python -c` and its process group plus the setsid
grandchild killed with SIGKILL directly: what the kernel needs to tear the processes
down, with nothing of ours in between.

The tests (tests/deadman.rs) only assert that everything goes, with a generous bound;
the 2 s promise of the README is checked here.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOG = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(['sleep', '600'])\n"
    "q = subprocess.Popen(['setsid', 'sleep', '601'])\n"
    "print('PIDS %d %d %d' % (os.getpid(), p.pid, q.pid))\n"
    "sys.stdout.flush()\n"
    "try:\n    r = xrange\nexcept NameError:\n    r = range\n"
    "try:\n    sum(r(10**12))\nexcept OverflowError:\n    while True:\n        pass\n"
)


def pyenv(ver):
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    return os.path.join(root or os.path.expanduser("~/.pyenv"), "versions", ver, "bin", "python")


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def gone(pid):
    return state(pid) in (None, "Z")


def read_pids(proc, limit=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        line = proc.stdout.readline()
        if not line:
            break
        if "PIDS " in line:
            return [int(x) for x in line.split("PIDS ", 1)[1].split()]
    raise RuntimeError("no pids from %r" % (proc.args,))


def wait_gone(pids, limit=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if all(gone(p) for p in pids):
            return time.monotonic() - t0
        time.sleep(0.001)
    return None


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def settle_spin(pids):
    # let the worker reach its loop (a JVM spins in another thread: give it a moment)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and state(pids[0]) != "R":
        time.sleep(0.01)
    time.sleep(0.3)


def one_execdeck(binary, py, sig):
    timeout = "//timeout=60" if "jython" in py or "pypy" in py else ""
    proc = subprocess.Popen(
        [binary, "exec", "-g", "popen//python=%s%s" % (py, timeout), "-c", HOG],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pids = []
    try:
        pids = read_pids(proc)
        settle_spin(pids)
        os.kill(proc.pid, sig)
        took = wait_gone(pids)
        proc.wait(timeout=30)
        return took
    finally:
        kill_all(pids + [proc.pid])
        reap()


def one_floor(py):
    proc = subprocess.Popen([py, "-c", HOG], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    pids = []
    try:
        pids = read_pids(proc)
        settle_spin(pids)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)
        os.kill(pids[2], signal.SIGKILL)
        rest = wait_gone(pids)
        return None if rest is None else time.monotonic() - t0
    finally:
        kill_all(pids + [proc.pid])
        reap()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "execdeck")
    pythons = [("2.7", pyenv("2.7.18")), ("3.13", pyenv("3.13.0")),
               ("PyPy", "/usr/bin/pypy3"), ("Jython", "/usr/bin/jython")]
    rows = []
    print("load average at start: %s" % (os.getloadavg(),), file=sys.stderr)
    for name, py in pythons:
        floor = [one_floor(py) for _ in range(a.repeat)]
        floor_ms = statistics.median(f for f in floor if f is not None) * 1000
        for signame, sig in (("SIGKILL", signal.SIGKILL), ("SIGINT", signal.SIGINT)):
            runs = [one_execdeck(binary, py, sig) for _ in range(a.repeat)]
            done = [r for r in runs if r is not None]
            med = statistics.median(done) * 1000 if done else float("nan")
            worst = max(done) * 1000 if done else float("nan")
            row = {"python": name, "signal": signame, "median_ms": round(med, 1),
                   "max_ms": round(worst, 1), "floor_ms": round(floor_ms, 1),
                   "left_behind": len(runs) - len(done), "runs": len(runs)}
            rows.append(row)
            print("%-7s %-8s median %7.1f ms  max %7.1f ms  floor %6.1f ms  ratio %5.1fx  left %d/%d"
                  % (name, signame, med, worst, floor_ms, med / floor_ms if floor_ms else 0,
                     row["left_behind"], row["runs"]))
            sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
