"""Prints a Markdown table of execdeck vs execnet from the two JSON results."""
import json
import platform
import subprocess
import sys

ref = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
python = sys.argv[3]

# (label, execnet key, execdeck key, unit, higher is better, target text, target check)
ROWS = [
    ("popen gateway ready (bootstrap + first round trip)", "execnet_ready_ms", "execdeck_ready_ms", "ms", False,
     "<= 1.5x floor", lambda o, r: o <= 1.5 * ref["python_floor_ms"]),
    ("20,000 echo round trips, unpinned", "execnet_echo_per_s", "execdeck_echo_per_s", "/s", True,
     ">= 2x execnet", lambda o, r: o >= 2 * r),
    ("20,000 echo round trips, pinned (taskset -c 0)", "execnet_echo_per_s_pinned", "execdeck_echo_per_s_pinned", "/s", True,
     ">= 2x execnet", lambda o, r: o >= 2 * r),
    ("200 MiB as 1 MiB bytes, to the remote", "execnet_bytes_to_remote_MBps", "execdeck_bytes_to_remote_MBps", "MB/s", True,
     ">= 1.5x execnet", lambda o, r: o >= 1.5 * r),
    ("200 MiB as 1 MiB bytes, back", "execnet_bytes_from_remote_MBps", "execdeck_bytes_from_remote_MBps", "MB/s", True,
     ">= 1.5x execnet", lambda o, r: o >= 1.5 * r),
    ("200,000 small items remote -> local", "execnet_items_from_remote_per_s", "execdeck_items_from_remote_per_s", "/s", True,
     ">= 1.5x execnet", lambda o, r: o >= 1.5 * r),
    ("32 gateways: create", "execnet_32_create_s", "execdeck_32_create_s", "s", False,
     "<= 0.4x execnet", lambda o, r: o <= 0.4 * r),
    ("32 gateways: terminate", "execnet_32_terminate_s", "execdeck_32_terminate_s", "s", False,
     "<= 1x execnet", lambda o, r: o <= r),
    ("32 gateways: local peak RSS", "execnet_32_peak_rss_mib", "execdeck_32_peak_rss_mib", "MiB", False,
     "<= 15 MiB", lambda o, r: o <= 15),
    ("kill -9 of the master while the remote spins: remote lives", "execnet_deadman_s", "execdeck_deadman_s", "s", False,
     "<= 2 s", lambda o, r: o <= 2),
]


def num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


ver = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip()
print(f"Interpreter: {python} (Python {ver}); floor `python -u -c pass`: {ref['python_floor_ms']:.1f} ms; "
      f"raw pipe ping-pong {num(ref['pipe_pingpong_per_s'])}/s unpinned, {num(ref['pipe_pingpong_per_s_pinned'])}/s pinned")
print(f"Machine: {platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {platform.platform()}")
print()
print("| work | execnet | execdeck | execdeck / execnet | target | met |")
print("|---|---|---|---|---|---|")
for label, rk, ok, unit, higher, target, check in ROWS:
    r, o = ref.get(rk), ours.get(ok)
    if r is None or o is None:
        continue
    ratio = o / r if r else float("nan")
    ratio_text = f"{ratio:.2f}x"
    if rk == "execnet_ready_ms":
        ratio_text += f" ({o / ref['python_floor_ms']:.2f}x floor)"
    print(f"| {label} | {num(r)} {unit} | {num(o)} {unit} | {ratio_text} | {target} | {'yes' if check(o, r) else 'NO'} |")
