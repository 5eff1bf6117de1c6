#!/usr/bin/env bash
# The Python binding (python/): builds and installs it with `pip install .` into a venv,
# runs its tests, execnet 2.1.2's own test suite through the drop-in switch (checked
# against python/compat/execnet-2.1.2-not-passing.txt), and the pytest-xdist sample
# through execnet and through execdeck (the outcome counts must be the same).
# scripts/test.sh runs it; it can run alone too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=.venv-pybind
PY=python3
command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/3.12.1/bin/python" ] && PY="$(pyenv root)/versions/3.12.1/bin/python"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q pytest pytest-xdist pytest-timeout execnet==2.1.2
echo "== pip install . (maturin; the crate shares target/)"
# a dev build: it reuses the debug artifacts the rest of the suite already built, and
# keeps CI within its time (benches build the release wheel themselves)
CARGO_TARGET_DIR="$ROOT/target" MATURIN_PEP517_ARGS="${MATURIN_PEP517_ARGS:---profile dev}" \
  "$VENV/bin/pip" install -q --force-reinstall --no-deps .
status=0

echo "== binding tests (python/tests)"
(cd "$ROOT" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests) || status=1

echo "== execnet 2.1.2's own suite through the switch"
SRC=.cache-py/execnet-2.1.2
if [ ! -d "$SRC/testing" ]; then
  mkdir -p .cache-py
  "$VENV/bin/pip" download -q execnet==2.1.2 --no-binary :all: --no-deps -d .cache-py
  tar -C .cache-py -xzf .cache-py/execnet-2.1.2.tar.gz
fi
JUNIT=$(mktemp --suffix=.xml)
(cd "$SRC" && timeout 900 "$ROOT/$VENV/bin/python" -m execdeck.as_execnet -m pytest -q -p no:cacheprovider \
  --junitxml="$JUNIT" testing/test_channel.py testing/test_gateway.py testing/test_multi.py \
  testing/test_xspec.py testing/test_rsync.py testing/test_termination.py > "$JUNIT.log" 2>&1) || true
tail -1 "$JUNIT.log"
"$VENV/bin/python" python/compat/check_suite.py "$JUNIT" python/compat/execnet-2.1.2-not-passing.txt || status=1
rm -f "$JUNIT" "$JUNIT.log"

echo "== pytest-xdist sample (pytest -n 4): execnet vs execdeck"
counts() { sed -n '$p' | sed -E 's/ in [0-9.]+s.*//; s/=//g; s/^ +| +$//g'; }
A=$(cd python/xdist_sample && timeout 600 "$ROOT/$VENV/bin/python" -m pytest -n 4 -q -p no:cacheprovider 2>&1 | counts || true)
B=$(cd python/xdist_sample && timeout 600 "$ROOT/$VENV/bin/python" -m execdeck.as_execnet -m pytest -n 4 -q -p no:cacheprovider 2>&1 | counts || true)
echo "execnet:  $A"
echo "execdeck: $B"
if [ -z "$A" ] || [ "$A" != "$B" ]; then
  echo "FAILED: the outcome counts differ"
  status=1
fi
exit "$status"
