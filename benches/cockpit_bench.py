#!/usr/bin/env python3
"""Cockpit responsiveness benchmark: the real binary in tmux with N gateways.

    python3 benches/cockpit_bench.py [--gateways 100] [--rate 50000] [--seconds 10]

Measures, for the execdeck process itself:
  - CPU while idle (nothing changes on screen),
  - key press -> screen latency (select next/previous gateway, seen in capture-pane)
    while one console receives `--rate` lines/s,
  - CPU and peak RSS under that load, and how many lines arrived.
Prints one JSON object. Everything it starts is killed at the end.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "execdeck")
CLK = os.sysconf("SC_CLK_TCK")


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, "-f", "/dev/null"] + list(args),
                          capture_output=True, text=True).stdout


def screen(sock):
    return tmux(sock, "capture-pane", "-p", "-t", "t")


def wait(sock, pred, secs, what):
    end = time.time() + secs
    while time.time() < end:
        s = screen(sock)
        if pred(s):
            return s
        time.sleep(0.01)
    raise SystemExit("timed out waiting for %s:\n%s" % (what, screen(sock)))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def execdeck_pid():
    out = subprocess.run(["pgrep", "-f", "^" + BIN], capture_output=True, text=True).stdout.split()
    return max(int(p) for p in out) if out else None


def selected_row(s):
    for n, line in enumerate(s.splitlines()):
        if "\u203a gw" in line:
            return n
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=100)
    ap.add_argument("--rate", type=int, default=50000, help="lines per second into one console")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--presses", type=int, default=20)
    args = ap.parse_args()
    sock = "cockpit-bench-%d" % os.getpid()
    specs = ",".join(["popen//python=%s" % args.python] * args.gateways)
    cmd = "%s --group load='%s'" % (BIN, specs)
    result = {"gateways": args.gateways, "target_rate_lines_per_s": args.rate}
    try:
        tmux(sock, "new-session", "-d", "-s", "t", "-x", "150", "-y", "45", "-e", "TERM=xterm-256color", cmd)
        t0 = time.time()
        wait(sock, lambda s: "alive %d/%d" % (args.gateways, args.gateways) in s, 120, "all gateways")
        wait(sock, lambda s: "channels open %d" % args.gateways in s, 120, "all consoles")
        result["start_all_s"] = round(time.time() - t0, 2)
        pid = execdeck_pid()
        # idle CPU
        time.sleep(1)
        c0, w0 = cpu_seconds(pid), time.time()
        time.sleep(5)
        result["idle_cpu_percent"] = round(100 * (cpu_seconds(pid) - c0) / (time.time() - w0), 2)
        # load: one console prints `rate` lines per second
        batch = max(1, args.rate // 100)
        code = ("import time\nt0 = time.time()\nn = 0\nwhile time.time() - t0 < %f:\n"
                "    for i in range(%d):\n        print('line', n, i)\n    n += 1\n"
                "    time.sleep(max(0, t0 + n * 0.01 - time.time()))\nprint('LOAD-DONE', n * %d)"
                % (args.seconds, batch, batch))
        tmux(sock, "send-keys", "-t", "t", "Enter")
        # a bracketed paste goes into the editor as is (no auto-indent)
        tmux(sock, "set-buffer", "-b", "code", code)
        tmux(sock, "paste-buffer", "-p", "-b", "code", "-t", "t")
        tmux(sock, "send-keys", "-t", "t", "F5")
        time.sleep(0.2)
        tmux(sock, "send-keys", "-t", "t", "Escape")
        wait(sock, lambda s: "busy 1" in s, 20, "load started")
        c0, w0 = cpu_seconds(pid), time.time()
        lat = []
        key = "j"
        for _ in range(args.presses):
            before = selected_row(screen(sock))
            t = time.time()
            tmux(sock, "send-keys", "-t", "t", key)
            wait(sock, lambda s: selected_row(s) != before, 5, "selection move")
            lat.append((time.time() - t) * 1000)
            key = "k" if key == "j" else "j"
            time.sleep(0.1)
        result["key_to_screen_ms_median"] = round(statistics.median(lat), 1)
        result["key_to_screen_ms_max"] = round(max(lat), 1)
        result["rss_under_load_mib"] = round(status(pid, "VmRSS"), 1)
        # (an even number of presses leaves gw0 selected) wait for the end of the load
        done = wait(sock, lambda s: "LOAD-DONE" in s or "busy 0" in s, args.seconds + 60, "load end")
        result["load_cpu_percent"] = round(100 * (cpu_seconds(pid) - c0) / (time.time() - w0), 1)
        result["peak_rss_mib"] = round(status(pid, "VmHWM"), 1)
        for line in done.splitlines():
            if "LOAD-DONE" in line:
                try:
                    result["lines_sent"] = int(line.split("LOAD-DONE")[1].split()[0].strip("│ "))
                    result["achieved_rate_lines_per_s"] = round(result["lines_sent"] / args.seconds)
                except (ValueError, IndexError):
                    pass
        tmux(sock, "send-keys", "-t", "t", "C-q")
        end = time.time() + 30
        while time.time() < end and execdeck_pid():
            time.sleep(0.05)
        result["quit_clean"] = execdeck_pid() is None
    finally:
        pid = execdeck_pid()
        if pid:
            os.kill(pid, 9)
        tmux(sock, "kill-server")
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
