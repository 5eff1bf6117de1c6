#!/usr/bin/env bash
# SSH gateways vs OpenSSH on the same sshd (127.0.0.1, started and stopped here):
# ready time vs `ssh host python -c pass`, round trips over ssh vs popen, 8 gateways
# opened concurrently vs one at a time.   bash benches/ssh_bench.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-/usr/bin/python3}
D=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$D/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$D/client_key"
cp "$D/client_key.pub" "$D/authorized_keys"; chmod 600 "$D/authorized_keys"
cat > "$D/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CFG
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/host_ed25519.pub")" > "$D/known_hosts"
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
SSHD=$!
trap 'kill $SSHD 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
cargo build --release --benches --quiet
BENCH=$(ls -t target/release/deps/engine-* | grep -v '\.d$' | head -1)
# the OpenSSH reference: ssh + start the interpreter + exit, median of 10
samples=()
for _ in $(seq 10); do
  t0=$(date +%s%N)
  ssh -n -i "$D/client_key" -p "$PORT" -o UserKnownHostsFile="$D/known_hosts" -o BatchMode=yes \
      root@127.0.0.1 "$PY" -c pass
  samples+=($(( ($(date +%s%N) - t0) / 1000 )))
done
SSH_MS=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]/1000}')
SPEC="ssh=root@127.0.0.1:$PORT//identity=$D/client_key//known_hosts=$D/known_hosts//python=$PY"
OURS=$("$BENCH" --spec "$SPEC")
POPEN=$("$BENCH" --spec "popen//python=$PY")
python3 - "$SSH_MS" "$OURS" "$POPEN" <<'PYEOF'
import json, sys
ssh_ms = float(sys.argv[1]); ours = json.loads(sys.argv[2]); popen = json.loads(sys.argv[3])
print("| measure | reference | execdeck | ratio |")
print("|---|---|---|---|")
print("| ssh gateway ready vs `ssh host python -c pass` | %.1f ms | %.1f ms | %.2fx |" % (ssh_ms, ours["ready_ms"], ours["ready_ms"] / ssh_ms))
print("| round trips/s over ssh vs popen | %.0f/s (popen) | %.0f/s (ssh) | %.2fx |" % (popen["echo_per_s"], ours["echo_per_s"], ours["echo_per_s"] / popen["echo_per_s"]))
print("| 8 ssh gateways: concurrently vs one at a time | %.3f s (sequential) | %.3f s (concurrent) | %.2fx |" % (ours["open8_sequential_s"], ours["open8_concurrent_s"], ours["open8_concurrent_s"] / ours["open8_sequential_s"]))
PYEOF
