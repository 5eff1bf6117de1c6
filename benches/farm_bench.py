"""Task-farm throughput, side by side in one run: `execdeck map` vs
multiprocessing.Pool(2).imap_unordered(chunksize=1) vs a farm written with execnet
(one channel per worker, send a task, receive its result).

    .venv-test/bin/python benches/farm_bench.py --bin target/release/execdeck \
        [--python /usr/bin/python3] [--repeat 3]

Every side is timed end to end from the start of its workers to the last result (the
worker start is in it for all three; it is ~1-3% of the short run). Tasks spin on
time.perf_counter for their duration, so they cost the same CPU everywhere.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TASK_CODE = """
import time
def spin(x):
    t = time.perf_counter() + x[1]
    while time.perf_counter() < t:
        pass
    return x[0]
"""

ns = {}
exec(TASK_CODE, ns)
spin = ns["spin"]


def inputs(n, secs):
    return [[i, secs] for i in range(n)]


def run_execdeck(binary, python, workers, n, secs, tmp):
    code = os.path.join(tmp, "work.py")
    with open(code, "w") as f:
        f.write(TASK_CODE)
    inp = os.path.join(tmp, "in.jsonl")
    with open(inp, "w") as f:
        for x in inputs(n, secs):
            f.write(json.dumps(x) + "\n")
    t0 = time.perf_counter()
    out = subprocess.run(
        [binary, "map", "-g", "%d*popen//python=%s" % (workers, python), "--code", code,
         "--call", "spin", "--inputs", inp],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    dt = time.perf_counter() - t0
    got = sorted(json.loads(l)["index"] for l in out.splitlines())
    assert got == list(range(n)), "execdeck: wrong results"
    return n / dt


def run_mp(workers, n, secs):
    t0 = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        got = sorted(pool.imap_unordered(spin, inputs(n, secs), chunksize=1))
    dt = time.perf_counter() - t0
    assert got == list(range(n)), "multiprocessing: wrong results"
    return n / dt


EXECNET_WORKER = TASK_CODE + """
for x in channel:
    channel.send(spin(x))
"""


def run_execnet(python, workers, n, secs):
    import execnet
    t0 = time.perf_counter()
    group = execnet.Group()
    for _ in range(workers):
        group.makegateway("popen//python=%s" % python)
    tasks = inputs(n, secs)
    lock = threading.Lock()
    pos = [0]
    got = []

    def drive(gw):
        ch = gw.remote_exec(EXECNET_WORKER)
        while True:
            with lock:
                if pos[0] >= n:
                    break
                x = tasks[pos[0]]
                pos[0] += 1
            ch.send(x)
            r = ch.receive()
            with lock:
                got.append(r)
        ch.close()

    threads = [threading.Thread(target=drive, args=(gw,)) for gw in group]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    group.terminate(5)
    assert sorted(got) == list(range(n)), "execnet: wrong results"
    return n / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import execnet
    med = lambda f: statistics.median(f() for _ in range(a.repeat))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        short = (10000, 0.0002)
        long_ = (1000, 0.02)
        rows["short_execdeck"] = med(lambda: run_execdeck(a.bin, a.python, 2, *short, tmp=tmp))
        rows["short_mp"] = med(lambda: run_mp(2, *short))
        rows["short_execnet"] = med(lambda: run_execnet(a.python, 2, *short))
        rows["long_execdeck_2"] = med(lambda: run_execdeck(a.bin, a.python, 2, *long_, tmp=tmp))
        rows["long_execdeck_1"] = med(lambda: run_execdeck(a.bin, a.python, 1, *long_, tmp=tmp))
        rows["long_mp"] = med(lambda: run_mp(2, *long_))
        rows["long_execnet"] = med(lambda: run_execnet(a.python, 2, *long_))
    ver = subprocess.run([a.python, "-c", "import sys; print(sys.version.split()[0])"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    print("Interpreter %s (%s); multiprocessing on %s; execnet %s; median of %d; %d CPUs"
          % (a.python, ver, sys.version.split()[0], execnet.__version__, a.repeat,
             os.cpu_count()))
    print()
    print("| work (2 local workers) | execnet farm | multiprocessing | execdeck map | vs execnet | vs multiprocessing | goal | met |")
    print("|---|---|---|---|---|---|---|---|")
    s_e, s_m, s_x = rows["short_execnet"], rows["short_mp"], rows["short_execdeck"]
    met = s_x >= 1.5 * s_e and s_x >= s_m
    print("| 10,000 tasks of 0.2 ms | %.0f /s | %.0f /s | %.0f /s | %.2fx | %.2fx | >= 1.5x execnet, >= 1.0x mp | %s |"
          % (s_e, s_m, s_x, s_x / s_e, s_x / s_m, "yes" if met else "**no**"))
    l_e, l_m, l_x, l_1 = rows["long_execnet"], rows["long_mp"], rows["long_execdeck_2"], rows["long_execdeck_1"]
    print("| 1,000 tasks of 20 ms | %.1f /s | %.1f /s | %.1f /s | %.2fx | %.2fx | | |"
          % (l_e, l_m, l_x, l_x / l_e, l_x / l_m))
    print("| 1,000 tasks of 20 ms: 2 workers vs 1 (execdeck) | | | %.1f /s vs %.1f /s | | | 2 workers >= 1.8x one | %s (%.2fx) |"
          % (l_x, l_1, "yes" if l_x >= 1.8 * l_1 else "**no**", l_x / l_1))
    print()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
