#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (README "Fuzzing").
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# Each target runs SECONDS (default 30) from its committed seeds (fuzz/seeds/TARGET)
# plus what earlier runs found (fuzz/corpus/TARGET, not committed). Installs
# cargo-fuzz from crates.io when missing; needs a nightly toolchain (rustup). A crash,
# a timeout (an input over 10 s) or an out-of-memory (over 2 GB) fails the script and
# leaves the input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame decode decode_channels literal)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz.sh: no nightly toolchain: cargo-fuzz needs one (rustup toolchain install nightly --profile minimal)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi

echo "== cargo +nightly fuzz build"
cargo +nightly fuzz build
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t for ${secs}s"
  status=0
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+.*DONE|stat::(number_of_executed_units|peak_rss_mb|new_units_added|slowest_unit_time_sec))' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "== fuzz: no crash, timeout or out-of-memory in ${targets[*]}"
