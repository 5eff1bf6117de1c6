#!/usr/bin/env bash
# Screenshots of the real cockpit for the README: drives target/release/execdeck in a
# private tmux server (130x34), captures the pane with its colours and renders each
# capture to screenshots/*.png with scripts/render_ansi.py.
#
#   bash scripts/screenshots.sh
#
# Needs tmux, python3 (for the venv with pyte and Pillow, made once in .venv-shots),
# /usr/bin/python3, pypy3 and pyenv's 2.7.18 for the three demo gateways (a missing
# one is left out), and DejaVu Sans Mono. Waits poll the screen; nothing sleeps blind.
set -euo pipefail
cd "$(dirname "$0")/.."

COLS=130
ROWS=34
OUT=screenshots
VENV=.venv-shots
TIMEOUT=${SHOTS_TIMEOUT:-30}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyte, PIL' 2>/dev/null; then
  echo "== creating $VENV with pyte and Pillow"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q pyte Pillow
fi

echo "== cargo build --release"
cargo build --release --quiet
BIN=$PWD/target/release/execdeck

# the three demo interpreters: CPython 3, PyPy 3, CPython 2.7 (pyenv)
specs=()
py3=/usr/bin/python3
[ -x "$py3" ] || py3=$(command -v python3)
specs+=("popen//python=$py3")
pypy=/usr/bin/pypy3
[ -x "$pypy" ] || pypy=$(command -v pypy3 || true)
if [ -n "$pypy" ]; then specs+=("popen//python=$pypy"); else echo "(no pypy3: left out)"; fi
py27=""
if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/2.7.18/bin/python" ]; then
  py27="$(pyenv root)/versions/2.7.18/bin/python"
elif [ -x "$HOME/.pyenv/versions/2.7.18/bin/python" ]; then
  py27="$HOME/.pyenv/versions/2.7.18/bin/python"
else
  py27=$(command -v python2.7 || command -v python2 || true)
fi
if [ -n "$py27" ]; then specs+=("popen//python=$py27"); else echo "(no Python 2.7: left out)"; fi
NGW=${#specs[@]}
GROUP=$(IFS=,; echo "${specs[*]}")

WORK=$(mktemp -d /tmp/execdeck-shots.XXXXXX)
SOCK=shots-$$
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
APP_PID=""
GW_PIDS=()
# alive PID: running (a zombie waiting to be reaped counts as ended)
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [[ $st != Z* ]]; }
cleanup() {
  T kill-server 2>/dev/null || true
  rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK" # the socket outlives a server that quit with its last pane
  # the cockpit and its workers are ours: none may outlive the script
  local p
  for p in $APP_PID "${GW_PIDS[@]}"; do
    if [ -n "$p" ] && alive "$p" && grep -qaE 'execdeck|python|pypy' "/proc/$p/cmdline" 2>/dev/null; then
      kill -9 "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

screen=""
has() { grep -qF -- "$1" <<<"$screen"; }
lacks() { ! has "$1"; }
# wait_for WHAT PREDICATE...: polls the pane until PREDICATE (run with $screen set) holds
wait_for() {
  local what=$1 end=$((SECONDS + TIMEOUT))
  shift
  while :; do
    screen=$(T capture-pane -p -t t 2>/dev/null || true)
    if "$@"; then return 0; fi
    if [ "$SECONDS" -ge "$end" ]; then
      echo "timed out waiting for $what; screen:" >&2
      printf '%s\n' "$screen" >&2
      exit 1
    fi
    sleep 0.05
  done
}
keys() { T send-keys -t t "$@"; }
text() { T send-keys -t t -l "$1"; }
shot() {
  T capture-pane -p -e -t t >"$WORK/$1.ansi"
  "$VENV/bin/python" scripts/render_ansi.py "$WORK/$1.ansi" "$OUT/$1.png" "$COLS" "$ROWS"
  echo "   $OUT/$1.png"
}

ready_gateways() { [ "$(grep -cE '· pid [0-9]+ · local' <<<"$screen")" -ge "$NGW" ]; }
idle() { has "busy 0"; }
tree_focus() { has "j/Down next"; }

mkdir -p "$OUT" "$WORK/config" "$WORK/data"
echo "== capturing ($NGW gateways)"
# a fresh config and data dir: no user keymap or history changes the pictures
T new-session -d -s t -x "$COLS" -y "$ROWS" \
  -e TERM=xterm-256color -e EXECDECK_CONFIG_DIR="$WORK/config" -e EXECDECK_DATA_DIR="$WORK/data" \
  "exec '$BIN' --group demo='$GROUP'"
APP_PID=$(T display-message -p -t t '#{pane_pid}')

wait_for "$NGW ready gateways" ready_gateways
mapfile -t GW_PIDS < <(grep -oE '· pid [0-9]+ ·' <<<"$screen" | grep -oE '[0-9]+')

# console: a loop, a literal result, a traceback
keys Enter
text "import sys"
keys Enter
text "for i in range(3):"
keys Enter
text "print('line', i)" # the editor indents the body itself
keys F5
loop_done() { has "line 2" && idle; }
wait_for "the loop's output" loop_done
text "{'answer': 6*7, 'items': [1, 2.5, b'x', None]}"
keys F5
dict_done() { has "'answer': 42" && idle; }
wait_for "the dict" dict_done
text "1/0"
keys F5
tb_done() { has "ZeroDivisionError" && idle; }
wait_for "the traceback" tb_done
shot console

# broadcast to the group: interleaved with [gwN] prefixes, then side by side
text "import sys; sys.version"
keys Escape
wait_for "tree focus" tree_focus # a key right after Esc would read as Alt+key
keys b
all_tagged() {
  local n
  for ((n = 0; n < NGW; n++)); do has "[gw$n]" || return 1; done
  idle
}
wait_for "broadcast output" all_tagged
shot broadcast
keys v
side_by_side() { has "gw0 ·" && has "gw$((NGW - 1)) ·" && idle; }
wait_for "side by side" side_by_side
shot broadcast_side_by_side
keys o
console_again() { lacks "broadcast to group" && tree_focus; }
wait_for "the console again" console_again

# channels view: a channel running the editor's code, a literal sent, the reply
keys Enter
text "for x in channel:"
keys Enter
text "channel.send({'doubled': x * 2, 'type': type(x).__name__})"
keys Escape
wait_for "tree focus" tree_focus
keys E
chan_open() { has "channels of gw0" && has " here "; }
wait_for "the channel" chan_open
keys s
text "21"
keys Enter
reply() { has "'doubled': 42"; }
wait_for "the reply" reply
keys s
text "[1, 2.5, b'x']"
keys Enter
reply2() { has "'type': 'list'"; }
wait_for "the second reply" reply2
shot channels
keys C
no_channels() { lacks "channels of gw0" && tree_focus; }
wait_for "the console again" no_channels

# the terminate confirmation for the selected gateway (cancelled)
keys X
dialog() { has "Terminate gateway"; }
wait_for "the terminate dialog" dialog
shot terminate_dialog
keys Escape
no_dialog() { lacks "Terminate gateway" && tree_focus; }
wait_for "the dialog to close" no_dialog

# help, generated from the keymap
keys "?"
help_open() { has " help "; }
wait_for "help" help_open
shot help
keys Escape
no_help() { lacks " help " && tree_focus; }
wait_for "help to close" no_help

# the add prompt's inline validation
keys a
text "popen//nice=abc"
invalid() { has "nice must be an integer"; }
wait_for "the validation message" invalid
shot add_prompt
keys Escape
no_prompt() { lacks "nice must be an integer" && tree_focus; }
wait_for "the prompt to close" no_prompt

# wait_quit: the cockpit ends and takes its workers with it
wait_quit() {
  local end=$((SECONDS + TIMEOUT)) p
  while alive "$APP_PID"; do
    [ "$SECONDS" -lt "$end" ] || { echo "execdeck did not quit" >&2; exit 1; }
    sleep 0.05
  done
  for p in "${GW_PIDS[@]}"; do
    while alive "$p"; do
      [ "$SECONDS" -lt "$end" ] || { echo "worker $p still running after quit" >&2; exit 1; }
      sleep 0.05
    done
  done
}
keys C-q
wait_quit
# the demo session (assets/demo/bridge.toml): Rosetta grid, monitor, tail, the bridge
if [ -x "$HOME/.pyenv/versions/2.7.18/bin/python" ] && [ -x "$HOME/.pyenv/versions/3.13.0/bin/python" ] \
  && [ -x "$HOME/.pyenv/versions/3.8.18/bin/python" ] && command -v pypy3 >/dev/null && command -v jython >/dev/null; then
  echo "== capturing the demo session"
  COLS=160
  ROWS=36
  T new-session -d -s t -x "$COLS" -y "$ROWS" \
    -e TERM=xterm-256color -e EXECDECK_CONFIG_DIR="$WORK/config" -e EXECDECK_DATA_DIR="$WORK/data" \
    "exec '$BIN' --session assets/demo/bridge.toml --monitor-interval 0.5"
  APP_PID=$(T display-message -p -t t '#{pane_pid}')
  grid_done() { has "Jython 2.7.3" && has "elapsed" && lacks "running…"; }
  wait_for "the Rosetta grid" grid_done
  shot demo_rosetta
  keys M
  five_started() { [ "$(grep -c 'started:' <<<"$screen")" -ge 5 ] && [ "$(grep -cE '[0-9]ms +[0-9]' <<<"$screen")" -ge 5 ]; }
  wait_for "the monitor" five_started
  mapfile -t GW_PIDS < <(grep -oE '\(pid [0-9]+\)' <<<"$screen" | grep -oE '[0-9]+')
  keys T
  ticks() { has "got str 'tick 8 from Python 2.7.18'"; }
  wait_for "eight bridged items" ticks
  shot demo_tail
  # a few more samples for the sparklines
  more_ticks() { has "got str 'tick 24 from Python 2.7.18'"; }
  wait_for "more bridged items" more_ticks
  keys M
  wait_for "the monitor" five_started
  shot demo_monitor
  keys o
  console_view() { has "┌ gateways"; }
  wait_for "the console" console_view
  # the console's editor has the keys: Esc to the tree first
  keys Escape
  wait_for "the tree" tree_focus
  keys j j C
  link() { has "channels of py313" && has "⇐ py27#"; }
  wait_for "the bridge link" link
  shot demo_bridge
  # C-q: quit without the question (the demo's gateways hold state)
  keys C-q
  wait_quit
else
  echo "(demo screenshots left out: needs pyenv 2.7.18, 3.8.18, 3.13.0, pypy3 and jython)"
fi

echo "== done: $(ls "$OUT"/*.png | wc -l) screenshots in $OUT/"
