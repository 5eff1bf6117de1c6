#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs them.
# In this mode a test whose dependency is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in "sshd:openssh-server" "pypy3:pypy3" "jython:jython" "tmux:tmux" "pkg-config:pkg-config"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need_pkgs+=("$pkg")
done
[ -f /usr/include/openssl/ssl.h ] || need_pkgs+=(libssl-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

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
echo "== cargo nextest"
cargo nextest run --workspace --no-fail-fast --failure-output final
echo "== doctests"
cargo test --workspace --doc --quiet
