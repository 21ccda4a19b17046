#!/usr/bin/env bash
# Measure training levers of the carracing controller at equal training time: each lever trains
# C from the shipped controller for the same number of seconds (train.py --max-seconds), with
# everything else as the shipped run had it (CMA-ES 24 x 4, V's mean, common seeds, 20 steps of
# negative reward end a training episode), then its final mean is played on the 50 validation
# tracks with the driving report, beside the shipped controller on the same tracks.
#
#   bash carracing/measure_levers.bash [LEVER ...]      (default: every lever, in the order below)
#   bash carracing/measure_levers.bash --list           (each lever's train.py arguments)
#   bash carracing/measure_levers.bash --table          (the table of the levers measured so far)
#   bash carracing/measure_levers.bash --confirm LEVER  (LEVER's controller and the shipped one on
#                                                        200 fresh validation tracks, paired)
#
# The best of many levers on the same 50 tracks is partly the luck of the draw, so a lever is
# shipped only if it also beats the shipped controller on 200 other validation tracks, seeds
# (1000002, i), which no choice has looked at (written to log/measured/confirm/).
#
# A lever already measured is skipped, a killed one resumes from its checkpoint with the time it
# had, so the script can be run again until all are done. Environment: PYTHON (default: the
# repository's .venv/bin/python), OUT (default carracing/log/measured/levers), SECONDS_EACH
# (default 1800), EPISODES (validation tracks, default 50), CONFIRM_OUT (default
# carracing/log/measured/confirm).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$(dirname "$here")/.venv/bin/python}
cd "$here"
out=${OUT:-log/measured/levers}
seconds=${SECONDS_EACH:-1800}
episodes=${EPISODES:-50}
shipped=log/carracing.cma.4.24.best.json
common=(--preset small -n 2 -t 12 --eval-steps 0 --max-seconds "$seconds" --init "$shipped"
        --z mean --common-seeds)

# lever name -> the train.py flags that differ from the shipped run's
declare -A flags=(
    [negative20]="--stop-after-negative 20"
    [no_early_end]=""
    [offroad50]="--stop-off-road 50"
    [negative100]="--stop-after-negative 100"
    [negative50]="--stop-after-negative 50"
    [diagonal]="--stop-after-negative 20 --cma-diagonal"
    [sigma02]="--stop-after-negative 20 --sigma-init 0.2"
    [sigma005]="--stop-after-negative 20 --sigma-init 0.05"
    [population48]="--stop-after-negative 20 -t 24"
    [episodes8]="--stop-after-negative 20 --num-episode 8"
    [steer06]="--stop-after-negative 20 --action-scale 0.6,1,1"
    [gas_floor01]="--stop-after-negative 20 --action-scale 1,0.9,1 --action-offset 0,0.1,0"
)
order=(negative20 no_early_end offroad50 negative100 negative50 diagonal sigma02 sigma005
       population48 episodes8 steer06 gas_floor01)

# shellcheck source=measure_common.bash
source measure_common.bash
validate() { play "$1" "$2" 1 "$episodes"; }  # validate CONTROLLER DIR: the 50 validation tracks

if [[ ${1:-} == --list ]]; then
    for lever in "${order[@]}"; do echo "$lever: ${common[*]} --log-dir $out/$lever ${flags[$lever]}"; done
    exit 0
fi
if [[ ${1:-} == --table ]]; then  # paired with the shipped recipe's run and the shipped controller
    measured=()
    for lever in shipped "${order[@]}"; do [[ -f $out/$lever/validation.txt ]] && measured+=("$out/$lever"); done
    exec "$python" -m worldmodels.lever_table --base "$out/negative20" --base "$out/shipped" "${measured[@]}"
fi
if [[ ${1:-} == --confirm ]]; then
    lever=${2:-}
    [[ -n $lever && -v "flags[$lever]" && -f $out/$lever/validation.txt ]] ||
        { echo "measure_levers: --confirm needs a measured lever, got '$lever'" >&2; exit 2; }
    confirm=${CONFIRM_OUT:-log/measured/confirm}
    play "$shipped" "$confirm/shipped" 2 200
    play "$(ls "$out/$lever"/carracing.cma.*[0-9].json)" "$confirm/$lever" 2 200
    exec "$python" -m worldmodels.lever_table --base "$confirm/shipped" "$confirm/shipped" "$confirm/$lever"
fi
[[ $# -gt 0 ]] && order=("$@")
for lever in "${order[@]}"; do
    [[ -v "flags[$lever]" ]] || { echo "measure_levers: unknown lever $lever; known: ${!flags[*]}" >&2; exit 2; }
done

validate "$shipped" "$out/shipped"
for lever in "${order[@]}"; do
    dir=$out/$lever
    echo "== lever $lever: ${flags[$lever]:-(no early end)}"
    # shellcheck disable=SC2086  # the flags are words
    "$python" train.py "${common[@]}" --log-dir "$dir" ${flags[$lever]} >> "$dir.train.out" 2>&1
    mean=$(ls "$dir"/carracing.cma.*[0-9].json)  # the final mean
    validate "$mean" "$dir"
    tail -7 "$dir/validation.txt"
done
