#!/usr/bin/env bash
# extract.bash EXPERIMENT [WORKERS] [EPISODES_PER_WORKER] [-- extract.py flags...]
#
# Runs WORKERS extract.py processes (default: one per core) for EXPERIMENT (carracing or doomrnn),
# worker w with --seed w, each recording EPISODES_PER_WORKER episodes (default: the preset's total
# divided among the workers) into EXPERIMENT/record/. Waits for all, prints how many episodes each
# has, names the ones that failed and exits non-zero if any did. Re-running tops every worker up to
# the requested count (extract.py resumes). No X server needed. Each worker logs to
# EXPERIMENT/logs/extract.<seed>.log. Extra flags after -- go to every extract.py (e.g. --preset).
# Counts must be whole numbers >= 1 and the preset must exist; otherwise one line, exit status 2,
# and no worker is started.
#   PYTHON=...            python to use (default: .venv/bin/python beside this script, else python3)
#   EXTRACT_SEED_OFFSET   first seed (default 0), to give several nodes distinct seeds
#   EXTRACT_TOTAL_WORKERS workers over all nodes, to split the preset's total (default: WORKERS)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=launcher_checks.bash
source "$here/launcher_checks.bash"
start_launcher extract.bash "carracing|doomrnn [WORKERS] [EPISODES_PER_WORKER] [-- flags]" "$@"
shift
workers=$(nproc); per_worker=""
if [ $# -ge 1 ] && [ "$1" != "--" ]; then workers=$1; shift; fi
if [ $# -ge 1 ] && [ "$1" != "--" ]; then per_worker=$1; shift; fi
[ "${1:-}" = "--" ] && shift
require_count WORKERS "$workers"
[ -z "$per_worker" ] || require_count EPISODES_PER_WORKER "$per_worker"
offset=${EXTRACT_SEED_OFFSET:-0}
require_count EXTRACT_SEED_OFFSET "$offset" 0
all_workers=${EXTRACT_TOTAL_WORKERS:-$workers}
require_count EXTRACT_TOTAL_WORKERS "$all_workers"
preset=$(preset_from_args paper "$@")
preset_value "$python" "$experiment" "$preset" || exit 2
folder=$here/$experiment
record=$folder/record
prev=""
for arg in "$@"; do  # an explicit --record DIR (relative paths: to the experiment folder)
  if [ "$prev" = "--record" ]; then case "$arg" in /*) record=$arg ;; *) record=$folder/$arg ;; esac; fi
  prev=$arg
done
mkdir -p "$folder/logs"

if [ -z "$per_worker" ]; then  # the preset's total, split over the workers
  total=$(preset_value "$python" "$experiment" "$preset" extract_episodes) || exit 2
  per_worker=$(( (total + all_workers - 1) / all_workers ))
fi

echo "extract.bash: $experiment, $workers workers x $per_worker episodes (seeds $offset..$((offset + workers - 1)))"
declare -A pids
for ((w = 0; w < workers; w++)); do
  seed=$((offset + w))
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    "$python" "$folder/extract.py" --seed "$seed" --episodes "$per_worker" "$@" \
    > "$folder/logs/extract.$seed.log" 2>&1 &
  pids[$seed]=$!
done

failed=()
for seed in "${!pids[@]}"; do
  wait "${pids[$seed]}" || failed+=("$seed")
done
for seed in $(printf '%s\n' "${!pids[@]}" | sort -n); do
  count=$(find "$record" -maxdepth 1 -name "s${seed}_*.npz" 2>/dev/null | wc -l)
  status=ok
  for f in "${failed[@]}"; do [ "$f" = "$seed" ] && status="FAILED (see $folder/logs/extract.$seed.log)"; done
  echo "  worker seed $seed: $count episodes  $status"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "extract.bash: ${#failed[@]} worker(s) failed: seeds ${failed[*]}" >&2
  exit 1
fi
echo "extract.bash: all $workers workers done; $(find "$record" -maxdepth 1 -name '*.npz' | wc -l) episodes in $record"
