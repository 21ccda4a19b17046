#!/usr/bin/env bash
# train_tmux.bash EXPERIMENT [train.py flags...]
#
# Opens (or re-attaches to) a tmux session "wm-EXPERIMENT": the left pane runs
# EXPERIMENT/train.py with the given flags (output also appended to EXPERIMENT/logs/train.log),
# the right pane redraws the newest log/*.hist.json every 30 s: a text summary with a sparkline,
# and PNG/SVG plots beside the log. Detach with Ctrl-b d; the training goes on. Re-running the same
# command after a crash resumes training from its checkpoint.
#   PYTHON=...   python to use (default: .venv/bin/python beside this script, else python3)
#   TMUX_ATTACH=0  start the session detached (for scripts)
#   TMUX_SESSION_NAME  session name (default wm-EXPERIMENT)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launcher_checks.bash
source "$here/launcher_checks.bash"
python=$(launcher_python "$here")

if [ "${1:-}" = --train-pane ]; then  # left pane: the trainer, output kept in logs/train.log
  cd "$here/$2"; shift 2
  "$python" train.py "$@" 2>&1 | tee -a logs/train.log || true
  echo "train.py ended (press Enter to close this pane)"; read -r _
  exit 0
fi
if [ "${1:-}" = --watch-pane ]; then  # right pane: summary of the newest log, every 30 s
  cd "$here/$2"
  log_dir=${3:-log}
  while true; do
    newest=$(ls -t "$log_dir"/*.hist.json 2>/dev/null | head -n 1 || true)
    if [ -n "$newest" ]; then screen=$("$python" -m estool.plot "$newest" --text | tail -n 3)
    else screen="waiting for $log_dir/*.hist.json"; fi
    screen+=$'\n\n'$(tail -n 5 logs/train.log 2>/dev/null || true)
    clear; echo "$screen"
    sleep "${WATCH_SECONDS:-30}"
  done
fi
start_launcher train_tmux.bash "carracing|doomrnn [train.py flags]" "$@"
shift
command -v tmux >/dev/null || { echo "train_tmux.bash: tmux is not installed (apt-get install tmux)" >&2; exit 2; }
folder=$here/$experiment
session=${TMUX_SESSION_NAME:-wm-$experiment}
mkdir -p "$folder/logs" "$folder/log"

if ! tmux has-session -t "$session" 2>/dev/null; then
  self=$(printf '%q' "$here/train_tmux.bash")
  tmux new-session -d -s "$session" -n train "bash $self --train-pane $(printf '%q ' "$experiment" "$@")"
  log_dir=log; prev=""
  for arg in "$@"; do
    case $prev in --log-dir|--log_dir) log_dir=$arg ;; esac
    case $arg in --log-dir=*|--log_dir=*) log_dir=${arg#*=} ;; esac
    prev=$arg
  done
  tmux split-window -h -t "$session:train" \
    "bash $self --watch-pane $(printf '%q ' "$experiment" "$log_dir")"
  echo "train_tmux.bash: started tmux session $session"
fi
if [ "${TMUX_ATTACH:-1}" = 1 ]; then exec tmux attach -t "$session"; fi
