#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages execdeck needs; the one list of them.
#
#   bash scripts/setup.sh           what `cargo run --release` needs to build
#   bash scripts/setup.sh --tests   that, plus what the test suite needs (and cargo-nextest)
#
# Idempotent: installs only what is missing; uses sudo when not run as root.
set -euo pipefail

# The cockpit: a C compiler and linker (libssh2 is built from C), pkg-config and
# OpenSSL's headers (ssh2 links the system OpenSSL) to build it; python3 for its
# default gateway (popen//python=python3).
BUILD_PKGS=(build-essential pkg-config libssl-dev python3)
# Testing: the interpreters of the matrix that come from Debian (/usr/bin/pypy3,
# /usr/bin/jython), sshd for the SSH tests, tmux for the cockpit tests, venv for the
# execnet venv, debootstrap for the base image of the docker lab (scripts/lab.sh; Docker
# Engine itself is expected to be there, as on the machines this project runs on). The
# pyenv interpreters are not Debian packages: see docs/fresh-machine.md.
TEST_PKGS=(pypy3 jython openssh-server tmux python3-venv debootstrap)

want=("${BUILD_PKGS[@]}")
tests=false
for arg in "$@"; do
  case "$arg" in
    --tests) tests=true; want+=("${TEST_PKGS[@]}") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup.sh: not root and no sudo; as root run: apt-get install -y ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if $tests && ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "== cargo install cargo-nextest --locked"
  cargo install cargo-nextest --locked
fi
