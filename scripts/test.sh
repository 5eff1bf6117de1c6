#!/usr/bin/env bash
# The whole test suite: installs the packages and tools the tests need, then runs them.
# In this mode a test whose dependency is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages and cargo-nextest (the one list is in scripts/setup.sh). The pyenv
# interpreters are not installed here: docs/fresh-machine.md says how to get them.
bash scripts/setup.sh --tests

# A venv with execnet for the interop tests (and benchmarks).
VENV=.venv-test
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import execnet' 2>/dev/null; then
  echo "== creating $VENV with execnet"
  PY=python3
  command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.11.7/bin/python" ] && PY="$(pyenv root)/versions/3.11.7/bin/python"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q execnet==2.1.2
fi

export EXECDECK_STRICT=1
export EXECDECK_EXECNET_PYTHON="$PWD/$VENV/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# the doctests and the fuzz smoke run even when nextest fails; the script still fails then
status=0
echo "== cargo nextest (all but the lab)"
cargo nextest run --workspace --no-fail-fast --failure-output final -E 'not binary(lab)' || status=$?
# The docker lab for tests/lab.rs (built once, cached by content hash), and always down
# afterwards. If it cannot come up, the lab tests fail (strict). The lab tests run one
# at a time after the others, so that the lab is up only as long as it is needed.
echo "== lab up"
trap 'echo "== lab down"; bash scripts/lab.sh down || true' EXIT
bash scripts/lab.sh up || status=$?
echo "== cargo nextest (the lab)"
cargo nextest run --workspace --no-fail-fast --failure-output final -E 'binary(lab)' || status=$?
echo "== doctests"
cargo test --workspace --doc --quiet || status=$?
# a short run of each fuzz target (README "Fuzzing"); installs cargo-fuzz if missing
# Opt-in (EXECDECK_FUZZ_SMOKE=1): on a fresh machine installing cargo-fuzz and the
# nightly fuzz build take longer than CI's time budget allows.
if [ "${EXECDECK_FUZZ_SMOKE:-0}" = 1 ]; then
  echo "== fuzz smoke"
  bash scripts/fuzz.sh 30 || status=$?
else
  echo "== fuzz smoke skipped (set EXECDECK_FUZZ_SMOKE=1 to run it)"
fi
# The Python binding is its own cargo workspace (maturin builds it); it shares target/.
echo "== Python binding: fmt, clippy"
(cd python && cargo fmt -- --check && CARGO_TARGET_DIR=../target cargo clippy --all-targets --quiet -- -D warnings) || status=$?
echo "== Python binding: tests, execnet's suite through the switch, xdist sample"
bash scripts/test_python.sh || status=$?
if [ "$status" -ne 0 ]; then
  echo "== FAILED (exit $status): see above"
fi
exit "$status"
