#!/usr/bin/env bash
# Another round of V and M, on faster driving: does C gain when V and M are retrained on the
# episodes of the controllers that the levers made faster?
#
#   bash carracing/measure_vm_round.bash
#
# 1. records 300 episodes: 100 of the best lever's controller (8 episodes per candidate, the best
#    on validation), 100 of the fastest one (gas in [0.1, 1]), both with action noise, and 100
#    Cauchy-random ones; and 20 more of the two controllers, held out;
# 2. V, 2 epochs from the shipped V on the 300 episodes; series; M from the shipped M, as the
#    shipped round was trained (carracing/reproduce.bash, iteration 2);
# 3. prints the shipped and the new V's reconstruction error and M's prediction loss on the
#    held-out episodes;
# 4. plays the shipped controller with the new V and M on the validation tracks, untrained;
# 5. trains C from the shipped controller with the new V and M exactly as the levers' base run
#    (log/measured/levers/negative20: 24 x 4, V's mean, common seeds, 20 negative steps end a
#    training episode, 1800 s), plays its final mean on the 50 validation tracks and prints the
#    lever table of both beside the base run and the shipped controller.
#
# Every stage resumes when the script is run again. Outputs: runs/vm_round/ (episodes, series, V,
# M; gitignored) and log/measured/vm_round/ (v_error.txt, m_loss.txt, shipped_c/ and c/ as lever
# runs). Environment: PYTHON (default: the repository's .venv/bin/python), SECONDS_EACH (C's
# training time, default 1800), EPISODES (validation tracks, default 50).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$(dirname "$here")/.venv/bin/python}
cd "$here"
runs=runs/vm_round
out=log/measured/vm_round
levers=log/measured/levers
seconds=${SECONDS_EACH:-1800}
episodes=${EPISODES:-50}
shipped=log/carracing.cma.4.24.best.json
best=$levers/episodes8/carracing.cma.8.24.json
fastest=$levers/gas_floor01/carracing.cma.4.24.json
small=(--preset small)
[[ $# -eq 0 ]] || { echo "measure_vm_round: takes no arguments (got $*); see the comment at its top" >&2; exit 2; }
for file in "$best" "$fastest" "$levers/negative20/validation.txt"; do
    [[ -f $file ]] || { echo "measure_vm_round: $file is missing: run carracing/measure_levers.bash negative20 episodes8 gas_floor01 first" >&2; exit 2; }
done
mkdir -p "$runs" "$out"

stage() { echo; echo "== measure_vm_round: $*"; }

# shellcheck source=measure_common.bash
source measure_common.bash

stage "100 episodes each of the best and the fastest lever's controller with noise, 100 Cauchy-random, 20 held out"
EXTRACT_SEED_OFFSET=20 bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record" \
    --policy controller --controller "$best" --noise 0.5
EXTRACT_SEED_OFFSET=22 bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record" \
    --policy controller --controller "$fastest" --noise 0.5
EXTRACT_SEED_OFFSET=24 bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record"
EXTRACT_SEED_OFFSET=26 bash ../extract.bash carracing 2 5 -- "${small[@]}" --record "$runs/heldout" \
    --policy controller --controller "$best" --noise 0.5
EXTRACT_SEED_OFFSET=28 bash ../extract.bash carracing 2 5 -- "${small[@]}" --record "$runs/heldout" \
    --policy controller --controller "$fastest" --noise 0.5

stage "V, 2 epochs from the shipped V; series; M from the shipped M"
[[ -f $runs/vae.npz ]] || "$python" vae_train.py "${small[@]}" --record "$runs/record" \
    --max-episodes 300 --epochs 2 --init vae/vae.npz --out "$runs/vae.npz"
for part in record heldout; do
    "$python" series.py "${small[@]}" --record "$runs/$part" --vae "$runs/vae.npz" \
        --series "$runs/series_$part" --initial-z "$runs/initial_z_$part.npz"
done
m_from_shipped "$runs/series_record" "$runs/rnn.npz"

stage "held-out episodes: V's reconstruction error, the shipped V then the new V"
old_and_new "$out/v_error.txt" vae/vae.npz "$runs/vae.npz" \
    "$python" vae_train.py "${small[@]}" --record "$runs/heldout" --evaluate
stage "held-out episodes: M's prediction loss, the shipped M (on the shipped V's series) then the new M"
m_losses() {  # the shipped M on the shipped V's series, then the new M on the new V's
    "$python" series.py "${small[@]}" --record "$runs/heldout" --vae vae/vae.npz \
        --series "$runs/series_heldout_shipped_v" --initial-z "$runs/initial_z_heldout_shipped_v.npz" >&2
    "$python" rnn_train.py "${small[@]}" --series "$runs/series_heldout_shipped_v" \
        --evaluate rnn/rnn.npz | tail -1
    "$python" rnn_train.py "${small[@]}" --series "$runs/series_heldout" \
        --evaluate "$runs/rnn.npz" | tail -1
}
once "$out/m_loss.txt" m_losses
cat "$out/m_loss.txt"

stage "the shipped controller with the new V and M, untrained, on the validation tracks"
play "$shipped" "$out/shipped_c" 1 "$episodes" --vae "$runs/vae.npz" --rnn "$runs/rnn.npz"
tail -7 "$out/shipped_c/validation.txt"

stage "C from the shipped controller with the new V and M, ${seconds} s (the levers' base run)"
"$python" train.py "${small[@]}" -n 2 -t 12 --eval-steps 0 --max-seconds "$seconds" --init "$shipped" \
    --z mean --common-seeds --stop-after-negative 20 --vae "$runs/vae.npz" --rnn "$runs/rnn.npz" \
    --log-dir "$out/c" >> "$out/c.train.out" 2>&1
play "$(ls "$out"/c/carracing.cma.*[0-9].json)" "$out/c" 1 "$episodes"
tail -7 "$out/c/validation.txt"

stage "lever table: beside the base run (the shipped V and M) and the shipped controller"
"$python" -m worldmodels.lever_table --base "$levers/negative20" --base "$levers/shipped" \
    "$levers/negative20" "$out/shipped_c" "$out/c"
