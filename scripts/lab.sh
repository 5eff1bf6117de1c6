#!/usr/bin/env bash
# A lab of small real hosts in docker, for the multi-host tests and by hand.
#
#   bash scripts/lab.sh up       build the images (once, cached by content hash), start the lab
#   bash scripts/lab.sh down     remove every container, network and volume the lab made
#   bash scripts/lab.sh status   what runs, with addresses
#   bash scripts/lab.sh clean    down, and remove the lab's images too
#
# Hosts (hostname = name in the lab's ssh_config):
#   bastion  Debian's python3 (3.11) and pypy3; on the "front" network (reachable from
#            this machine) and on the "back" network
#   py27     only CPython 2.7.18      back network only: reachable through the bastion
#   py313    only CPython 3.13.0      back network only
#   pypy     only PyPy 3 (Debian's)   back network only
# Both networks are docker `--internal` networks: no route out of them, so nothing in the
# lab can talk to any address outside the lab. Every host runs sshd; root and the user
# `lab` log in with a key generated into the lab folder (EXECDECK_LAB_DIR, default
# .lab/ in the repository, git-ignored). `lab` may sudo with the password in
# $LAB/sudo_password (a test password, made at `up`) and runs as uid 1000; `svc` (uid
# 1001) is a target for sudo hops. The images are built from Debian's packages
# (debootstrap) and this machine's pyenv builds; no image is pulled. Everything the lab
# makes carries the label execdeck-lab.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LAB=${EXECDECK_LAB_DIR:-$REPO/.lab}
P=execdeck-lab                    # prefix of every name, and the label
FRONT=$P-front BACK=$P-back
# the two /24 networks (first three octets); every host has a fixed address on them,
# kept across restarts and reconnects
FRONT_NET=${EXECDECK_LAB_FRONT_NET:-172.30.213}
BACK_NET=${EXECDECK_LAB_BACK_NET:-172.30.214}
declare -A ADDR=([bastion]=10 [py27]=27 [py313]=13 [pypy]=30)
HOSTS=(bastion py27 py313 pypy)
PYENV_ROOT=${PYENV_ROOT:-$( (command -v pyenv >/dev/null && pyenv root) || echo "$HOME/.pyenv")}
PY27=$PYENV_ROOT/versions/2.7.18
PY313=$PYENV_ROOT/versions/3.13.0
# packages of the base root filesystem; python3 and pypy3 are removed from the hosts
# that must not have them
PKGS=openssh-server,procps,sudo,python3,pypy3,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libgdbm6,libuuid1,libexpat1

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { echo "== lab: $*" >&2; }

need_docker() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed (the lab needs Docker Engine)"
  docker info >/dev/null 2>&1 || die "the docker daemon does not answer (is it running? are you in the docker group?)"
}

# The Debian mirror apt already uses (never a host name of ours).
mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$m" ] || die "no Debian mirror found in apt's configuration"
  echo "$m"
}

# The Dockerfile of the common host layer (users, sudo, sshd) on the base image, and of
# each host on that (few steps: every layer costs a commit).
dockerfile() {
  local host=$1 from=$2
  echo "FROM $from"
  case $host in
    common)
      cat <<EOF
LABEL $P=1
RUN useradd -m -u 1000 -s /bin/bash lab && useradd -m -u 1001 -s /bin/bash svc \\
 && echo 'lab ALL=(ALL:ALL) ALL' > /etc/sudoers.d/lab && chmod 0440 /etc/sudoers.d/lab \\
 && mkdir -p /run/sshd && rm -f /etc/ssh/ssh_host_* \\
 && printf '%s\n' 'HostKey /lab/host_ed25519' 'AuthorizedKeysFile /lab/authorized_keys' \\
    'PermitRootLogin prohibit-password' 'PasswordAuthentication no' \\
    'KbdInteractiveAuthentication no' 'StrictModes no' 'AllowTcpForwarding yes' \\
    'UseDNS no' 'LogLevel VERBOSE' > /etc/ssh/sshd_config.d/lab.conf
CMD ["/usr/sbin/sshd", "-D", "-e"]
EOF
      ;;
    py27|py313)
      local ver=${host#py} dir
      dir=$([ "$host" = py27 ] && echo "$PY27" || echo "$PY313")
      local exe=python${ver:0:1}.${ver:1}
      cat <<EOF
COPY $(basename "$dir") $dir
RUN dpkg --purge --force-depends pypy3 pypy3-lib python3 python3.11 python3-minimal python3.11-minimal \\
      libpython3.11-minimal libpython3.11-stdlib libpython3-stdlib >/dev/null 2>&1; \\
    rm -rf /usr/lib/python3* /usr/lib/pypy3* /usr/bin/python3* /usr/bin/pypy3* \\
 && ln -s $dir/bin/$exe /usr/local/bin/$exe && ln -s $dir/bin/$exe /usr/local/bin/python${ver:0:1} \\
 && ln -s $dir/bin/$exe /usr/local/bin/python && chmod 755 /root
EOF
      ;;
    pypy)
      cat <<EOF
RUN dpkg --purge --force-depends python3 python3.11 python3-minimal python3.11-minimal \\
      libpython3.11-minimal libpython3.11-stdlib libpython3-stdlib >/dev/null 2>&1; \\
    rm -rf /usr/lib/python3 /usr/lib/python3.11 /usr/bin/python3*; true
EOF
      ;;
  esac
}

# The base image's hash: what debootstrap is asked for (the slow step, so it is not
# redone when only a host recipe changes).
base_hash() { echo "base-1 bookworm minbase $PKGS $(mirror)" | sha256sum | cut -c1-12; }

# The hosts' hash: their recipes (dockerfile above), the package list, the mirror, and
# which pyenv builds are copied.
content_hash() {
  {
    declare -f dockerfile
    echo "$PKGS $(mirror)"
    for d in "$PY27" "$PY313"; do
      echo "$d"; "$d/bin/python" -c 'import sys; print(sys.version)' 2>&1
    done
  } | sha256sum | cut -c1-12
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {
  local tag=$1 root
  image_exists "$tag" && return 0
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (bash scripts/setup.sh --tests)"
  [ "$(id -u)" -eq 0 ] || die "building the base image needs root (debootstrap)"
  root=$LAB/build/rootfs
  rm -rf "$root"; mkdir -p "$root"
  log "debootstrap bookworm (minbase + $PKGS) from $(mirror)"
  debootstrap --variant=minbase --include="$PKGS" bookworm "$root" "$(mirror)" \
      >"$LAB/build/debootstrap.log" 2>&1 || { tail -n 20 "$LAB/build/debootstrap.log" >&2; die "debootstrap failed (log: $LAB/build/debootstrap.log)"; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  log "docker import $tag"
  tar -C "$root" -c . | docker import --change "LABEL $P=1" - "$tag" >/dev/null
  rm -rf "$root"
}

build_host() {
  local host=$1 base=$2 tag=$3 ctx
  image_exists "$tag" && return 0
  if [ "$host" = bastion ]; then docker tag "$base" "$tag"; return 0; fi
  log "docker build $tag"
  ctx=$LAB/build/ctx-$host
  rm -rf "$ctx"; mkdir -p "$ctx"
  dockerfile "$host" "$base" > "$ctx/Dockerfile"
  # the pyenv build goes in at the same absolute path (its RUNPATH points there);
  # its test suite stays out
  local src=""
  case $host in py27) src=$PY27 ;; py313) src=$PY313 ;; esac
  if [ -n "$src" ]; then
    [ -x "$src/bin/python" ] || die "$src/bin/python is missing (the pyenv build the $host host copies; see docs/fresh-machine.md)"
    tar -cf - -C "$ctx" Dockerfile -C "$(dirname "$src")" \
        --exclude="$(basename "$src")/lib/python*/test" --exclude='__pycache__' \
        --exclude="$(basename "$src")/lib/python*/idlelib" "$(basename "$src")" \
      | docker build -q -t "$tag" - 2>&1 >/dev/null | grep -v -e DEPRECATED -e buildx -e '^ *$' >&2 || true
  else
    docker build -q -t "$tag" "$ctx" 2>&1 >/dev/null | grep -v -e DEPRECATED -e buildx -e '^ *$' >&2 || true
  fi
  image_exists "$tag" || die "docker build $tag failed"
  rm -rf "$ctx"
}

keys() {
  mkdir -p "$LAB"; chmod 700 "$LAB"
  [ -f "$LAB/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C execdeck-lab -f "$LAB/id_ed25519"
  # what the hosts see (mounted read-only at /lab): their host key and the client key
  mkdir -p "$LAB/hosts"
  [ -f "$LAB/hosts/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C execdeck-lab-host -f "$LAB/hosts/host_ed25519"
  cp "$LAB/id_ed25519.pub" "$LAB/hosts/authorized_keys"
  chmod 644 "$LAB/hosts/authorized_keys" "$LAB/hosts/host_ed25519.pub"
  [ -f "$LAB/sudo_password" ] || { head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$LAB/sudo_password"; }
  chmod 600 "$LAB/sudo_password"
}

ip_on() { docker inspect -f "{{with index .NetworkSettings.Networks \"$2\"}}{{.IPAddress}}{{end}}" "$P-$1" 2>/dev/null || true; }

write_client_files() {
  local hostkey ip cfg=$LAB/ssh_config kh=$LAB/known_hosts
  hostkey=$(cut -d' ' -f1,2 "$LAB/hosts/host_ed25519.pub")
  : > "$kh"; : > "$cfg"
  ip=$(ip_on bastion "$FRONT")
  {
    echo "# written by scripts/lab.sh up: the lab's hosts (internal ones through the bastion)"
    echo "Host bastion"
    echo "  HostName $ip"
    for h in py27 py313 pypy; do echo "Host $h"; echo "  HostName $h"; echo "  ProxyJump bastion"; done
    echo "Host bastion py27 py313 pypy"
    echo "  User root"
    echo "  IdentityFile $LAB/id_ed25519"
    echo "  IdentitiesOnly yes"
    echo "  UserKnownHostsFile $kh"
  } > "$cfg"
  echo "bastion,$ip $hostkey" >> "$kh"
  for h in py27 py313 pypy; do echo "$h,$(ip_on "$h" "$BACK") $hostkey" >> "$kh"; done
  {
    echo "EXECDECK_LAB_DIR=$LAB"
    echo "EXECDECK_LAB_BASTION=$ip"
    for h in py27 py313 pypy; do echo "EXECDECK_LAB_$(echo "$h" | tr a-z A-Z)=$(ip_on "$h" "$BACK")"; done
  } > "$LAB/lab.env"
}

wait_sshd() {
  local h=$1 end=$((SECONDS + 60))
  # sshd answers on port 22 inside the container (checked from inside: the back
  # network is not reachable from here)
  until docker exec "$P-$h" sh -c 'exec 3<>/dev/tcp/127.0.0.1/22' 2>/dev/null \
        || docker exec "$P-$h" sh -c 'ss -ltn 2>/dev/null | grep -q ":22 "' 2>/dev/null; do
    (( SECONDS < end )) || { docker logs "$P-$h" 2>&1 | tail -n 20 >&2; die "sshd on $h did not come up"; }
    sleep 0.2
  done
}

up() {
  need_docker
  local t0=$SECONDS hash base
  hash=$(content_hash)
  base=$P-base:$(base_hash)
  mkdir -p "$LAB/build"
  keys
  build_base "$base"
  build_host common "$base" "$P-common:$hash"
  for h in "${HOSTS[@]}"; do build_host "$h" "$P-common:$hash" "$P-$h:$hash"; done
  rmdir "$LAB/build" 2>/dev/null || true
  # images of older recipes are no use any more
  docker images --filter "label=$P" --format '{{.Repository}}:{{.Tag}}' \
    | grep -v -e ":$hash\$" -e "^$base\$" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker image prune -f --filter "label=$P" >/dev/null 2>&1 || true
  # a lab that is up already is replaced, so `up` always gives a fresh one
  down_quiet
  log "networks $FRONT, $BACK (both --internal)"
  # fixed subnets, so that a host reconnected after a cut link gets its address back
  docker network create --internal --label $P=1 --subnet "$FRONT_NET.0/24" "$FRONT" >/dev/null
  # the back network has no address on this machine: only the bastion reaches it
  docker network create --internal --label $P=1 --subnet "$BACK_NET.0/24" \
    -o com.docker.network.bridge.inhibit_ipv4=true "$BACK" >/dev/null
  for h in "${HOSTS[@]}"; do
    local net=$BACK ip=$BACK_NET.${ADDR[$h]}
    [ "$h" = bastion ] && net=$FRONT ip=$FRONT_NET.${ADDR[$h]}
    docker run -d --name "$P-$h" --hostname "$h" --label $P=1 --network "$net" --ip "$ip" \
      -v "$LAB/hosts:/lab:ro" "$P-$h:$hash" >/dev/null
  done
  docker network connect --ip "$BACK_NET.${ADDR[bastion]}" "$BACK" "$P-bastion"
  local pw; pw=$(cat "$LAB/sudo_password")
  for h in "${HOSTS[@]}"; do
    docker exec -i "$P-$h" chpasswd <<<"lab:$pw"
  done
  for h in "${HOSTS[@]}"; do wait_sshd "$h"; done
  write_client_files
  log "up in $((SECONDS - t0)) s (images $hash); ssh -F $LAB/ssh_config py27"
}

down_quiet() {
  docker ps -aq --filter "label=$P" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker network ls -q --filter "label=$P" | xargs -r docker network rm >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=$P" | xargs -r docker volume rm >/dev/null 2>&1 || true
}

down() {
  need_docker
  down_quiet
  local left
  left=$( (docker ps -aq --filter "label=$P"; docker network ls -q --filter "label=$P"; docker volume ls -q --filter "label=$P") | wc -l)
  [ "$left" -eq 0 ] || die "$left containers/networks/volumes of the lab are left"
  rm -f "$LAB/ssh_config" "$LAB/known_hosts" "$LAB/lab.env"
  log "down: no container, network or volume of the lab is left"
}

status() {
  need_docker
  echo "images:"; docker images --filter "label=$P" --format '  {{.Repository}}:{{.Tag}}  {{.Size}}'
  echo "containers:"
  docker ps -a --filter "label=$P" --format '{{.Names}} {{.Status}}' | while read -r name st; do
    local h=${name#$P-}
    echo "  $name  $st  front=$(ip_on "$h" "$FRONT") back=$(ip_on "$h" "$BACK")"
  done
  echo "networks:"; docker network ls --filter "label=$P" --format '  {{.Name}}'
  [ -f "$LAB/ssh_config" ] && echo "ssh config: $LAB/ssh_config"
  return 0
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  clean) down; docker images --filter "label=$P" -q | sort -u | xargs -r docker rmi -f >/dev/null; log "images removed" ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
