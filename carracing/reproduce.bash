#!/usr/bin/env bash
# Rebuild the shipped carracing agent from nothing, every stage with its seeds and flags, into
# carracing/runs/ (gitignored), then score it on the validation and test tracks.
#
#   bash carracing/reproduce.bash [--install]
#
# Three iterations of the paper's recipe: V and M are trained on random (Cauchy) driving, C is
# evolved on real tracks; then V and M are retrained on the driving controller's episodes and C
# evolved again from the last one, twice. Every stage resumes when the script is run again (the
# stage scripts do), so a killed rebuild goes on where it stopped. The wall time after each
# stage is what it took on this project's 2-core x86-64 machine (24 GiB, no GPU); about 8.5 h
# in all. The rebuilt files equal the shipped ones only up to floating-point rounding (BLAS
# kernel, machine): the scores are what to compare. --install copies the rebuilt V, M,
# initial_z and C over the shipped ones.
# Environment: PYTHON (default: the repository's .venv/bin/python), RUNS (the work folder,
# default carracing/runs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-$root/.venv/bin/python}
install=${1:-}
cd "$here"
runs=${RUNS:-runs}
mkdir -p "$runs/r0" "$runs/r1" "$runs/r2"
small=(--preset small)
train=(--preset small -n 2 -t 8 --stop-after-negative 20)
rnn=(--predict-reward --steps 1000 --seq-len 300 --batch-size 32)

stage() { echo; echo "== reproduce: $*"; }

# retrain_v_and_m FROM TO RECORD MAX_EPISODES TIMES: V (2 epochs) and M go on from iteration FROM's
# weights on the episodes of RECORD; the series between them is encoded with the new V.
retrain_v_and_m() {
    local from=$runs/$1 to=$runs/$2 record=$3 episodes=$4
    stage "V, 2 epochs from $1's V; series; M from $1's M ($5)"
    "$python" vae_train.py "${small[@]}" --record "$record" --max-episodes "$episodes" --epochs 2 \
        --init "$from/vae.npz" --out "$to/vae.npz"
    "$python" series.py "${small[@]}" --record "$record" --vae "$to/vae.npz" \
        --series "$to/series" --initial-z "$to/initial_z.npz"
    "$python" rnn_train.py "${small[@]}" "${rnn[@]}" --series "$to/series" \
        --init "$from/rnn.npz" --out "$to/rnn.npz"
}

# Iteration 0: the reference's random driving (the full agent with Cauchy weights).
stage "600 Cauchy-random episodes (794 s)"
bash ../extract.bash carracing 2 300 -- "${small[@]}" --record "$runs/record"
stage "V, 3 epochs (4060 s)"
"$python" vae_train.py "${small[@]}" --record "$runs/record" --max-episodes 600 --epochs 3 \
    --out "$runs/r0/vae.npz"
stage "series (163 s)"
"$python" series.py "${small[@]}" --record "$runs/record" --vae "$runs/r0/vae.npz" \
    --series "$runs/r0/series" --initial-z "$runs/r0/initial_z.npz"
stage "M with the reward head (989 s)"
"$python" rnn_train.py "${small[@]}" "${rnn[@]}" --series "$runs/r0/series" --out "$runs/r0/rnn.npz"
stage "C on real tracks, 16 x 4, 40 generations (3071 s)"
"$python" train.py "${train[@]}" --vae "$runs/r0/vae.npz" --rnn "$runs/r0/rnn.npz" \
    --max-generations 40 --log-dir "$runs/r0/log"

# Iteration 1: V and M retrained on 200 more episodes of that controller, with noise.
stage "200 episodes of iteration 0's controller with noise (635 s)"
EXTRACT_SEED_OFFSET=2 bash ../extract.bash carracing 2 100 -- "${small[@]}" --record "$runs/record" \
    --policy controller --controller "$runs/r0/log/carracing.cma.4.16.best.json"
retrain_v_and_m r0 r1 "$runs/record" 800 "2743 s, 451 s, 673 s"
stage "C in M's dream, 16 x 4, 60 generations (69 s)"
"$python" train.py --preset small -n 2 -t 8 --dream --rnn "$runs/r1/rnn.npz" \
    --initial-z "$runs/r1/initial_z.npz" --vae "$runs/r1/vae.npz" --max-generations 60 \
    --log-dir "$runs/r1/log_dream"
"$python" - "$runs/r1/log_dream/carracing.cma.4.16" <<'EOF'
import json
import sys
from pathlib import Path

from worldmodels.fileio import atomic_write_text

base = sys.argv[1]
generation, reward, params = json.loads(Path(base + ".log.json").read_text())[-1]
atomic_write_text(f"{base}.gen{generation}.best.json", json.dumps([params, reward]))
EOF
stage "C on real tracks from the dream's controller, 24 x 4, sampled z, 30 generations (3531 s)"
"$python" train.py "${train[@]}" -t 12 --vae "$runs/r1/vae.npz" --rnn "$runs/r1/rnn.npz" \
    --init "$runs/r1/log_dream/carracing.cma.4.16.gen60.best.json" --max-generations 30 \
    --log-dir "$runs/r1/log_sampled_z"
stage "C from there with V's mean and common seeds, 20 generations (3891 s)"
"$python" train.py "${train[@]}" -t 12 --vae "$runs/r1/vae.npz" --rnn "$runs/r1/rnn.npz" \
    --init "$runs/r1/log_sampled_z/carracing.cma.4.24.best.json" --z mean --common-seeds \
    --max-generations 20 --log-dir "$runs/r1/log"

# Iteration 2: V and M retrained on that controller's driving and on fresh random driving.
stage "200 episodes of iteration 1's controller with noise (344 s) and 100 Cauchy ones (88 s)"
EXTRACT_SEED_OFFSET=4 bash ../extract.bash carracing 2 100 -- "${small[@]}" --record "$runs/record2" \
    --policy controller --controller "$runs/r1/log/carracing.cma.4.24.best.json" --noise 0.5
bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record2"
retrain_v_and_m r1 r2 "$runs/record2" 1000 "1070 s, 59 s, 318 s"
stage "C on real tracks from iteration 1's controller, V's mean, common seeds, 30 generations (4975 s)"
"$python" train.py "${train[@]}" -t 12 --vae "$runs/r2/vae.npz" --rnn "$runs/r2/rnn.npz" \
    --init "$runs/r1/log/carracing.cma.4.24.best.json" --z mean --common-seeds \
    --max-generations 30 --log-dir "$runs/r2/log"

best=$runs/r2/log/carracing.cma.4.24.best.json
stage "validation: 50 tracks (about 90 s); shipped agent 764.9 +/- 160.5"
"$python" model.py norender "$best" 1 --episodes 50 --workers 2 | tail -1
stage "test: 100 tracks (about 175 s); shipped agent 734.9 +/- 195.9"
"$python" model.py norender "$best" --workers 2 --report | tail -7

if [ "$install" = --install ]; then
    cp "$runs/r2/vae.npz" vae/vae.npz
    cp "$runs/r2/rnn.npz" rnn/rnn.npz
    cp "$runs/r2/initial_z.npz" initial_z/initial_z.npz
    for suffix in best.json hist.json hist_best.json log.json settings.json; do
        cp "$runs/r2/log/carracing.cma.4.24.$suffix" "log/carracing.cma.4.24.$suffix"
    done
    "$python" - <<'EOF'
from worldmodels.experiments import CARRACING
from worldmodels.loading import make_recipe, recipe_path, write_recipe
write_recipe(recipe_path("log/carracing.cma.4.24.best.json"), make_recipe(CARRACING, z_mode="mean"))
EOF
    echo "reproduce: installed the rebuilt V, M, initial_z and C over the shipped ones"
fi
