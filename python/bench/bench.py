"""execnet vs the execdeck binding from Python, same run, same interpreter.

    python python/bench/bench.py [--quick]

Prints a Markdown table (BENCHMARKS.md has the numbers of a run). Each measurement is
the median of several rounds; the two libraries alternate, so machine load hits both."""

import os
import statistics
import subprocess
import sys
import time

import execnet

import execdeck

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 5
SPEC = "popen//python=%s" % sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "xdist_sample")


def gateway_start(lib):
    group = lib.Group()
    t = time.perf_counter()
    gw = group.makegateway(SPEC)
    ch = gw.remote_exec("channel.send(1)")
    ch.receive()
    took = time.perf_counter() - t
    group.terminate(5)
    return took


def echo(lib, n=2000 if not QUICK else 500):
    group = lib.Group()
    gw = group.makegateway(SPEC)
    ch = gw.remote_exec("for x in channel:\n    channel.send(x)")
    ch.send(0)
    ch.receive()
    t = time.perf_counter()
    for i in range(n):
        ch.send(i)
        ch.receive()
    took = time.perf_counter() - t
    ch.close()
    group.terminate(5)
    return n / took  # round trips per second


def bulk(lib, mib=64 if not QUICK else 16):
    group = lib.Group()
    gw = group.makegateway(SPEC)
    ch = gw.remote_exec(
        "n = channel.receive()\nblock = b'x' * (1 << 20)\nfor i in range(n):\n    channel.send(block)"
    )
    t = time.perf_counter()
    ch.send(mib)
    for _ in range(mib):
        ch.receive()
    took = time.perf_counter() - t
    group.terminate(5)
    return mib / took  # MiB per second


def group32(lib):
    group = lib.Group()
    t = time.perf_counter()
    for _ in range(32):
        group.makegateway(SPEC)
    group.terminate(10)
    return time.perf_counter() - t


def xdist(switched):
    cmd = [sys.executable, "-m", "pytest", "-n", "4", "-q", "-p", "no:cacheprovider"]
    if switched:
        cmd[1:1] = ["-m", "execdeck.as_execnet"]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=SAMPLE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def measure(fn_execnet, fn_execdeck, rounds=ROUNDS):
    a, b = [], []
    for _ in range(rounds):
        a.append(fn_execnet())
        b.append(fn_execdeck())
    return statistics.median(a), statistics.median(b)


def main():
    print("interpreter: %s %s, execnet %s, execdeck %s" % (
        sys.implementation.name, sys.version.split()[0], execnet.__version__, execdeck.__version__))
    rows = []
    a, b = measure(lambda: gateway_start(execnet), lambda: gateway_start(execdeck))
    rows.append(("gateway start + first item (ms)", a * 1e3, b * 1e3, a / b))
    a, b = measure(lambda: echo(execnet), lambda: echo(execdeck))
    rows.append(("echo round trips per second", a, b, b / a))
    a, b = measure(lambda: bulk(execnet), lambda: bulk(execdeck))
    rows.append(("bulk bytes, worker -> here (MiB/s)", a, b, b / a))
    a, b = measure(lambda: group32(execnet), lambda: group32(execdeck), rounds=max(1, ROUNDS // 2))
    rows.append(("32-gateway group create + terminate (s)", a, b, a / b))
    a, b = measure(lambda: xdist(False), lambda: xdist(True), rounds=max(1, ROUNDS // 2))
    rows.append(("pytest -n 4 on the 351-test sample, wall (s)", a, b, a / b))
    print()
    print("| measurement | execnet | execdeck | execdeck speed-up |")
    print("|---|---:|---:|---:|")
    for name, x, y, r in rows:
        print("| %s | %.1f | %.1f | %.2f× |" % (name, x, y, r))


if __name__ == "__main__":
    main()
