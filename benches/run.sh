#!/usr/bin/env bash
# Runs the same work through execnet (venv) and execdeck in one run and prints ratios.
#   bash benches/run.sh [--python PATH] [--repeat N]
# Needs the venv with execnet that scripts/test.sh creates (.venv-test).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PY=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
VENV_PY=${EXECDECK_EXECNET_PYTHON:-.venv-test/bin/python}
[ -x "$VENV_PY" ] || { echo "no venv with execnet at $VENV_PY (run scripts/test.sh once)" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --benches --quiet
BENCH=$(ls -t target/release/deps/engine-* | grep -v '\.d$' | head -1)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "== execnet reference ($("$VENV_PY" -c 'import execnet; print(execnet.__version__)'))" >&2
"$VENV_PY" benches/reference.py --python "$PY" --json --pin --repeat "$REPEAT" > "$OUT/ref.json"
echo "== execdeck" >&2
EXECDECK_BIN=target/release/execdeck "$BENCH" --python "$PY" --pin --repeat "$REPEAT" > "$OUT/ours.json"
python3 benches/compare.py "$OUT/ref.json" "$OUT/ours.json" "$PY"
