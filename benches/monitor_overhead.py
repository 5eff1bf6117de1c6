#!/usr/bin/env python3
"""Monitoring overhead: CPU of the cockpit and of each remote with N gateways sampled
every `--interval` seconds, against references measured in the same run.

    python3 benches/monitor_overhead.py [--gateways 32] [--interval 1] [--seconds 30]
                                        [--python /usr/bin/python3] [--no-build] [--json FILE]

Five configurations, one after the other, each with N popen gateways to `--python`:

  1. execdeck cockpit, `--monitor-interval INTERVAL` (every gateway gets a STATUS ping
     each interval; the reply carries the remote's CPU and RSS);
  2. execdeck cockpit, `--monitor-interval 0` (sampling off): reference 1;
  3. execnet 2.1.2: a Python loop calls `gw.remote_status()` (execnet's STATUS message)
     on every gateway each interval: reference 2;
  4. execnet 2.1.2: one channel per gateway; each interval the loop sends a ping on every
     channel and the remote answers with its CPU seconds and RSS read from /proc, i.e.
     what execdeck's STATUS reply carries: reference 3;
  5. `execdeck top --interval INTERVAL`, output to a file: the engine's sampling without
     the cockpit's UI.

The cockpit runs in a private tmux server (200x50) with EXECDECK_CONFIG_DIR and
EXECDECK_DATA_DIR in a temp dir. Each configuration waits until all gateways are ready,
settles `--settle` seconds, then measures `--seconds` seconds of CPU (utime+stime from
/proc/PID/stat, all threads) of the controlling process (the cockpit, the execnet
Python loop or `top`) and of each worker (the controlling process's children). The
threads' schedstat run times (ns) are summed as a finer cross-check; the ratios use them.

Needs: tmux, cargo (unless --no-build, which uses target/release/execdeck as built), and
a Python with execnet==2.1.2: $EXECDECK_EXECNET_PYTHON, else .venv-test/bin/python,
which is created as scripts/test.sh does if it is missing (pip install execnet==2.1.2).

Every process it starts carries a marker in its environment; at the end (also on
failure or Ctrl+C) they are all killed, and the script checks that none is left.
"""
import argparse
import json
import os
import random
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TAG_VAR = "EXECDECK_MONITOR_BENCH"
TAG = "%d-%06d" % (os.getpid(), random.randrange(10 ** 6))


def log(msg):
    print("[monitor-overhead] %s" % msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ /proc helpers


def proc_stat(pid):
    """(ppid, starttime, cpu seconds, rss MiB) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st.rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime/stime are fields 14/15
    return (int(fields[1]), int(fields[19]),
            (int(fields[11]) + int(fields[12])) / float(CLK),
            int(fields[21]) * PAGE / float(1 << 20))


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[0] == pid:
                out.append(int(name))
    return sorted(out)


def tagged_pids():
    """Every live process whose environment carries this run's marker."""
    marker = ("%s=%s" % (TAG_VAR, TAG)).encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if marker in env:
            st = proc_stat(int(name))
            if st is not None and not _is_zombie(int(name)):
                out.append(int(name))
    return sorted(out)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def kill_tagged(grace=5.0):
    """SIGTERM then SIGKILL every tagged process; return the pids that had to be killed."""
    pids = tagged_pids()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        end = time.time() + grace
        while time.time() < end and tagged_pids():
            time.sleep(0.05)
        if not tagged_pids():
            break
    return pids


def thread_ns(pid):
    """{tid: run time in ns} of pid's live threads, from /proc/PID/task/*/schedstat."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


class ThreadClock:
    """Run time of a process in ns, summed over its threads and polled, so threads that
    start or end during the window count too (an ending thread loses at most what it ran
    after the last poll)."""

    def __init__(self, pid):
        self.pid = pid
        self.base = thread_ns(pid)  # tid -> run time at the start (0 for later threads)
        self.last = dict(self.base)  # live threads as of the last poll
        self.done = 0  # run time of ended threads within the window
        self.ended = 0

    def poll(self):
        now = thread_ns(self.pid)
        for t in [t for t in self.last if t not in now]:
            self.done += self.last.pop(t) - self.base.pop(t)
            self.ended += 1
        for t, v in now.items():
            self.base.setdefault(t, 0)  # a new thread started from 0
            self.last[t] = v

    def total(self):
        return self.done + sum(self.last[t] - self.base[t] for t in self.last)


def measure(ctl_pid, n, seconds, extra=None, poll=0.25):
    """CPU of ctl_pid and of its n children over `seconds`. `extra`: other pids to
    measure (name -> pid), e.g. the tmux server.

    The figures are utime+stime deltas from /proc/PID/stat (all threads, 1/CLK_TCK
    resolution). The threads' schedstat run times (ns), polled every `poll` s, are kept
    as a finer cross-check (`*_ns` keys)."""
    workers = children(ctl_pid)
    if len(workers) != n:
        raise SystemExit("expected %d workers under pid %d, found %d" % (n, ctl_pid, len(workers)))
    extra = extra or {}
    pids = [ctl_pid] + workers + list(extra.values())
    before = {p: proc_stat(p) for p in pids}
    clocks = {p: ThreadClock(p) for p in pids}
    w0 = time.monotonic()
    end = w0 + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(poll, left))
        for c in clocks.values():
            c.poll()
    after = {p: proc_stat(p) for p in pids}
    wall = time.monotonic() - w0
    for p in pids:
        if after[p] is None or after[p][1] != before[p][1]:
            raise SystemExit("pid %d ended during the measurement" % p)

    def pct(p):
        return 100.0 * (after[p][2] - before[p][2]) / wall

    def pct_ns(p):
        return 100.0 * clocks[p].total() / 1e9 / wall

    wk = [pct(p) for p in workers]
    wn = [pct_ns(p) for p in workers]
    return {
        "wall_s": round(wall, 2),
        "controller_cpu_percent": round(pct(ctl_pid), 3),
        "controller_rss_mib": round(after[ctl_pid][3], 1),
        "worker_cpu_percent_mean": round(sum(wk) / len(wk), 3),
        "worker_cpu_percent_max": round(max(wk), 3),
        "worker_cpu_percent_min": round(min(wk), 3),
        "worker_rss_mib_mean": round(sum(after[p][3] for p in workers) / len(workers), 1),
        "extra_cpu_percent": {k: round(pct(v), 3) for k, v in extra.items()},
        "controller_cpu_percent_ns": round(pct_ns(ctl_pid), 4),
        "worker_cpu_percent_mean_ns": round(sum(wn) / len(wn), 4),
        "worker_cpu_percent_max_ns": round(max(wn), 4),
        "threads_ended": {"controller": clocks[ctl_pid].ended,
                          "workers": sum(clocks[p].ended for p in workers)},
    }


# ------------------------------------------------------------------ execdeck cockpit


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, "-f", "/dev/null"] + list(args),
                          capture_output=True, text=True).stdout


def left_after(res):
    """Record how many processes of this run outlive a configuration (after up to 5 s),
    then kill them so the next configuration starts clean."""
    end = time.time() + 5
    while time.time() < end and tagged_pids():
        time.sleep(0.05)
    res["left_after_quit"] = len(tagged_pids())
    kill_tagged()
    return res


def run_cockpit(binary, tmp, args, interval):
    sock = "monitor-overhead-%s-%s" % (TAG, str(interval).replace(".", "_"))
    cfg = os.path.join(tmp, "config-%s" % interval)
    data = os.path.join(tmp, "data-%s" % interval)
    os.makedirs(cfg)
    os.makedirs(data)
    specs = ",".join(["popen//python=%s" % args.python] * args.gateways)
    cmd = "exec %s --monitor-interval %s --group %s" % (
        shlex.quote(binary), interval, shlex.quote("bench=" + specs))
    want = "gateways alive %d/%d" % (args.gateways, args.gateways)
    socket_path = None
    try:
        tmux(sock, "new-session", "-d", "-s", "t", "-x", "200", "-y", "50",
             "-e", "TERM=xterm-256color", "-e", "EXECDECK_CONFIG_DIR=" + cfg,
             "-e", "EXECDECK_DATA_DIR=" + data, "-e", "%s=%s" % (TAG_VAR, TAG),
             cmd, ";", "set-option", "-t", "t", "remain-on-exit", "on")
        end = time.time() + 120
        while want not in tmux(sock, "capture-pane", "-p", "-t", "t"):
            if time.time() > end:
                raise SystemExit("cockpit: timed out waiting for %r:\n%s"
                                 % (want, tmux(sock, "capture-pane", "-p", "-t", "t")))
            time.sleep(0.05)
        socket_path = tmux(sock, "display-message", "-p", "-t", "t", "#{socket_path}").strip()
        pane_pid = int(tmux(sock, "list-panes", "-t", "t", "-F", "#{pane_pid}").split()[0])
        pid = pane_pid
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() != "execdeck":
                pid = [c for c in children(pane_pid)
                       if open("/proc/%d/comm" % c).read().strip() == "execdeck"][0]
        server = int(tmux(sock, "display-message", "-p", "-t", "t", "#{pid}").strip())
        time.sleep(args.settle)
        tagged = len(tagged_pids())
        res = measure(pid, args.gateways, args.seconds, {"tmux_server": server})
        res["tagged_processes"] = tagged
        res["screen_header"] = tmux(sock, "capture-pane", "-p", "-t", "t").splitlines()[0].strip()
        # quit as a user would: every gateway is terminated
        tmux(sock, "send-keys", "-t", "t", "C-q")
        end = time.time() + 30
        while time.time() < end and tmux(sock, "display-message", "-p", "-t", "t",
                                         "#{pane_dead}").strip() != "1":
            time.sleep(0.05)
        res["quit_clean"] = tmux(sock, "display-message", "-p", "-t", "t",
                                 "#{pane_dead}").strip() == "1"
        return res
    finally:
        tmux(sock, "kill-server")
        if socket_path and os.path.basename(socket_path) == sock:
            try:
                os.unlink(socket_path)
            except OSError:
                pass


def run_top(binary, tmp, args):
    """`execdeck top --interval INTERVAL` with the same gateways, output to a file: the
    engine's sampling without the cockpit's UI."""
    out_path = os.path.join(tmp, "top.out")
    env = dict(os.environ)
    env[TAG_VAR] = TAG
    env["EXECDECK_CONFIG_DIR"] = os.path.join(tmp, "config-top")
    env["EXECDECK_DATA_DIR"] = os.path.join(tmp, "data-top")
    cmd = [binary, "top", "--interval", str(args.interval)]
    for _ in range(args.gateways):
        cmd += ["-g", "popen//python=%s" % args.python]
    with open(out_path, "w") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, env=env,
                             start_new_session=True)
    try:
        end = time.time() + 120
        while True:  # the first full table: every gateway answered
            with open(out_path) as f:
                if sum(1 for ln in f if ln.startswith("gw")) >= args.gateways:
                    break
            if p.poll() is not None or time.time() > end:
                raise SystemExit("execdeck top did not start (exit %s)" % p.poll())
            time.sleep(0.05)
        time.sleep(args.settle)
        tagged = len(tagged_pids())
        res = measure(p.pid, args.gateways, args.seconds)
        res["tagged_processes"] = tagged
        p.send_signal(signal.SIGINT)  # as Ctrl+C: terminates every gateway
        p.wait(timeout=30)
        res["quit_clean"] = True
        return res
    finally:
        reap(p)


def reap(p):
    """Kills what a configuration left running: the process group of `p`."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.wait()


# ------------------------------------------------------------------ execnet reference

def metrics_src():
    """The remote side of reference 3: our stub's own `_self_usage` (what its STATUS
    reply carries), answered over a channel once per ping."""
    with open(os.path.join(ROOT, "engine", "remote_stub", "gateway.py")) as f:
        stub = f.read()
    at = stub.index("def _self_usage(")
    body = stub[at:stub.index("\n\n\n", at)]
    return ("import os, sys\n" + body + "\n\n"
            "while 1:\n"
            "    x = channel.receive()\n"
            "    if x is None:\n"
            "        break\n"
            "    channel.send(_self_usage())\n")


def controller(args):
    """Runs under the execnet venv: open the gateways, say READY, ping every interval
    until stdin closes, terminate the gateways, print the ping count."""
    import threading

    import execnet

    group = execnet.Group()
    gws = [group.makegateway("popen//python=%s" % args.python) for _ in range(args.gateways)]
    for gw in gws:  # every gateway has answered once
        gw.remote_status()
    chans = [gw.remote_exec(metrics_src()) for gw in gws] if args.controller == "metrics" else []
    stop = threading.Event()

    def watch():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    print("READY", flush=True)
    rounds = 0
    t0 = time.monotonic()
    while not stop.is_set():
        if chans:
            for ch in chans:
                ch.send(1)
            for ch in chans:
                ch.receive(timeout=30)
        else:
            for gw in gws:
                gw.remote_status()
        rounds += 1
        stop.wait(max(0.0, t0 + rounds * args.interval - time.monotonic()))
    for ch in chans:
        ch.send(None)
    group.terminate(timeout=10)
    print("ROUNDS %d %.3f" % (rounds, time.monotonic() - t0), flush=True)


def run_execnet(venv_py, args, mode):
    env = dict(os.environ)
    env[TAG_VAR] = TAG
    cmd = [venv_py, os.path.abspath(__file__), "--controller", mode,
           "--gateways", str(args.gateways), "--interval", str(args.interval),
           "--python", args.python]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                         start_new_session=True, text=True)
    try:
        r, _, _ = select.select([p.stdout], [], [], 120)
        line = p.stdout.readline() if r else ""
        if line.strip() != "READY":
            raise SystemExit("execnet controller did not start (%r)" % line)
        time.sleep(args.settle)
        tagged = len(tagged_pids())
        res = measure(p.pid, args.gateways, args.seconds)
        res["tagged_processes"] = tagged
        out = p.communicate(timeout=30)[0]  # closes stdin: the controller stops
        for ln in out.splitlines():
            if ln.startswith("ROUNDS"):
                n, secs = ln.split()[1:]
                res["rounds"], res["rounds_seconds"] = int(n), round(float(secs), 1)
        res["quit_clean"] = p.returncode == 0
        return res
    finally:
        reap(p)


def ensure_venv():
    py = os.environ.get("EXECDECK_EXECNET_PYTHON") or os.path.join(ROOT, ".venv-test", "bin", "python")
    ok = os.access(py, os.X_OK) and subprocess.run(
        [py, "-c", "import execnet"], capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("EXECDECK_EXECNET_PYTHON"):
            raise SystemExit("no execnet at $EXECDECK_EXECNET_PYTHON=%s" % py)
        venv = os.path.join(ROOT, ".venv-test")
        log("creating %s with execnet==2.1.2 (as scripts/test.sh does)" % venv)
        base = "python3"
        try:
            pyenv = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
            cand = os.path.join(pyenv, "versions", "3.11.7", "bin", "python")
            if pyenv and os.access(cand, os.X_OK):
                base = cand
        except OSError:
            pass
        subprocess.run([base, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "execnet==2.1.2"], check=True)
        py = os.path.join(venv, "bin", "python")
    return py


# ------------------------------------------------------------------ report


def ratio(a, b):
    return "%.2fx" % (a / b) if b > 0 else "n/a (ref. 0)"


ROWS = [
    ("on", "execdeck cockpit, --monitor-interval {i:g}"),
    ("off", "execdeck cockpit, --monitor-interval 0 (ref. 1)"),
    ("execnet_status", "execnet 2.1.2, gw.remote_status() every {i:g} s (ref. 2)"),
    ("execnet_metrics", "execnet 2.1.2, channel ping + /proc CPU/RSS every {i:g} s (ref. 3)"),
    ("top", "execdeck top --interval {i:g}, headless (engine only)"),
]


def report(r, args):
    rows = [(k, t.format(i=args.interval)) for k, t in ROWS if k in r]
    w = max(len(t) for _, t in rows)
    head = "configuration (%d gateways, %g s window)" % (args.gateways, args.seconds)
    lines = ["CPU in %% of one core from utime+stime in /proc/PID/stat (1/%d s ticks); in "
             "brackets the same from the threads' schedstat run times (ns, polled)." % CLK, "",
             "%-*s  %-20s  %7s  %-20s  %-20s" % (w, head, "controller % core", "RSS MiB",
                                                  "worker mean %", "worker max %")]

    def cell(m, key, fmt):
        v = fmt % m[key]
        if key + "_ns" in m:
            v += " (" + fmt % m[key + "_ns"] + ")"
        return v

    for k, title in rows:
        m = r[k]
        lines.append("%-*s  %-20s  %7.1f  %-20s  %-20s" % (
            w, title, cell(m, "controller_cpu_percent", "%.2f"), m["controller_rss_mib"],
            cell(m, "worker_cpu_percent_mean", "%.3f"), cell(m, "worker_cpu_percent_max", "%.3f")))
    on, off = r["on"], r["off"]
    es, em = r["execnet_status"], r["execnet_metrics"]
    lines.append("")
    lines.append("tmux server CPU (not part of the cockpit): %.2f %% (on), %.2f %% (off)"
                 % (on["extra_cpu_percent"]["tmux_server"], off["extra_cpu_percent"]["tmux_server"]))
    lines.append("execnet loop: %s rounds in %s s (remote_status), %s in %s s (channel ping)"
                 % (es.get("rounds"), es.get("rounds_seconds"), em.get("rounds"), em.get("rounds_seconds")))
    lines.append("processes of this run while measuring (controller + workers) / left after quit: "
                 + ", ".join("%d/%d" % (r[k].get("tagged_processes", -1), r[k].get("left_after_quit", -1))
                             for k, _ in rows))
    lines.append("")
    lines.append("threads that ended during the window (controller/workers): "
                 + ", ".join("%d/%d" % (r[k]["threads_ended"]["controller"], r[k]["threads_ended"]["workers"])
                             for k, _ in rows))
    lines.append("")
    lines.append("ratios (same run, from the schedstat figures):")
    sfx = "_ns"
    for name, ref in (("on / off (ref. 1)", off), ("on / execnet remote_status (ref. 2)", es),
                      ("on / execnet channel ping (ref. 3)", em), ("on / execdeck top", r.get("top"))):
        if ref is None:
            continue
        lines.append("  %-36s cockpit %-14s worker mean %-14s worker max %s" % (
            name, ratio(on["controller_cpu_percent" + sfx], ref["controller_cpu_percent" + sfx]),
            ratio(on["worker_cpu_percent_mean" + sfx], ref["worker_cpu_percent_mean" + sfx]),
            ratio(on["worker_cpu_percent_max" + sfx], ref["worker_cpu_percent_max" + sfx])))
    lines.append("  cost of sampling (on - off): cockpit %+.2f %% of one core, worker mean %+.3f %%"
                 % (on["controller_cpu_percent"] - off["controller_cpu_percent"],
                    on["worker_cpu_percent_mean"] - off["worker_cpu_percent_mean"]))
    lines.append("")
    lines.append("targets: cockpit < 2 %% of one core: %.2f %% -> %s; each remote < 1 %%: max %.3f %% -> %s"
                 % (on["controller_cpu_percent"], "met" if on["controller_cpu_percent"] < 2 else "NOT met",
                    on["worker_cpu_percent_max"], "met" if on["worker_cpu_percent_max"] < 1 else "NOT met"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateways", type=int, default=32)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    ap.add_argument("--settle", type=float, default=5.0, help="wait after all are ready")
    ap.add_argument("--python", default="/usr/bin/python3", help="worker interpreter")
    ap.add_argument("--no-build", action="store_true", help="use target/release/execdeck as is")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results as JSON")
    ap.add_argument("--controller", choices=["status", "metrics"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.controller:
        return controller(args)

    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed")
    if not args.no_build:
        log("cargo build --release")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    built = os.path.join(ROOT, "target", "release", "execdeck")
    if not os.access(built, os.X_OK):
        raise SystemExit("no %s (run without --no-build)" % built)
    venv_py = ensure_venv()
    tmp = tempfile.mkdtemp(prefix="monitor-overhead-")
    # a private copy: a concurrent `cargo build` cannot swap the binary mid-run
    binary = os.path.join(tmp, "execdeck")
    shutil.copy2(built, binary)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    r = {"gateways": args.gateways, "interval_s": args.interval, "window_s": args.seconds,
         "python": args.python, "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    try:
        r["commit"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    failed = True
    try:
        log("execdeck, --monitor-interval %g" % args.interval)
        r["on"] = left_after(run_cockpit(binary, tmp, args, args.interval))
        log("execdeck, --monitor-interval 0")
        r["off"] = left_after(run_cockpit(binary, tmp, args, 0))
        log("execdeck top --interval %g (headless)" % args.interval)
        r["top"] = left_after(run_top(binary, tmp, args))
        log("execnet, remote_status() every %g s" % args.interval)
        r["execnet_status"] = left_after(run_execnet(venv_py, args, "status"))
        log("execnet, channel ping every %g s" % args.interval)
        r["execnet_metrics"] = left_after(run_execnet(venv_py, args, "metrics"))
        failed = False
    finally:
        killed = kill_tagged()
        left = tagged_pids()
        shutil.rmtree(tmp, ignore_errors=True)
        if killed:
            log("had to kill %d leftover process(es): %s" % (len(killed), killed))
        if left:
            log("STILL RUNNING after SIGKILL: %s" % left)
        elif not failed:
            log("no process of this run is left")
    r["loadavg_end"] = os.getloadavg()
    r["leftovers_killed"] = len(killed)
    print(report(r, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
