#!/usr/bin/env bash
# gpu_jobs.bash EXPERIMENT [--preset P] [--predict-reward]
#
# The GPU part of the pipeline for EXPERIMENT (carracing or doomrnn): vae_train.py, then series.py,
# then rnn_train.py, each with --preset P (default paper). Stops at the first stage that fails,
# naming it and its log. Each stage's output goes to EXPERIMENT/logs/<stage>.log (appended, so a
# resumed run keeps the history). The stages write V, M and initial_z where train.py and model.py
# read them (carracing: vae/ rnn/ initial_z/; doomrnn: tf_models/), so there is nothing to copy.
# Re-running resumes: finished stages say "nothing to do", interrupted ones continue from their
# last checkpoint. --predict-reward is passed to rnn_train.py (dream training for carracing).
#   PYTHON=...   python to use (default: .venv/bin/python beside this script, else python3)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launcher_checks.bash
source "$here/launcher_checks.bash"
start_launcher gpu_jobs.bash "carracing|doomrnn [--preset P] [--predict-reward]" "$@"
shift
preset=paper; rnn_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=${2:?--preset needs a value}; shift 2 ;;
    --predict-reward) rnn_flags+=(--predict-reward); shift ;;
    *) echo "gpu_jobs.bash: unknown option '$1'" >&2; usage ;;
  esac
done
preset_value "$python" "$experiment" "$preset" || exit 2
folder=$here/$experiment
mkdir -p "$folder/logs"

for stage in vae_train series rnn_train; do
  log=$folder/logs/$stage.log
  flags=(--preset "$preset")
  [ "$stage" = rnn_train ] && flags+=("${rnn_flags[@]}")
  echo "gpu_jobs.bash: $(date '+%F %T') $experiment $stage ${flags[*]} (log: $log)"
  start=$(date +%s)
  echo "=== $(date '+%F %T') $stage ${flags[*]}" >> "$log"
  if ! "$python" "$folder/$stage.py" "${flags[@]}" >> "$log" 2>&1; then
    echo "gpu_jobs.bash: $stage FAILED after $(( $(date +%s) - start )) s; last lines of $log:" >&2
    tail -n 5 "$log" >&2
    exit 1
  fi
  echo "gpu_jobs.bash: $stage done in $(( $(date +%s) - start )) s: $(grep -v '^\s*$' "$log" | tail -n 1)"
done
echo "gpu_jobs.bash: $experiment models ready for train.py and model.py"
