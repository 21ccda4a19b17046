#!/usr/bin/env bash
# Action repeat with M retrained on K-step sequences: does C, evolved from zeros at action repeat
# K, learn faster when M has learnt to predict K environment steps ahead (one step per decision)?
#
#   bash carracing/measure_k_step_m.bash [K]        (default K = 2)
#
# 1. records episodes at action repeat K (frames K steps apart): 100 Cauchy-random ones and 100
#    of the shipped controller played at K with action noise, and 20 more of it for held-out
#    checks;
# 2. encodes them with the shipped V, and trains M from the shipped M's weights on them;
# 3. prints the shipped M's and the new M's prediction loss on the held-out episodes;
# 4. evolves C from zeros at K with the new M exactly as the K-step run with the shipped M was
#    (log/measured/action_repeat_K: 24 x 4, V's mean, common seeds, 20 negative steps end a
#    training episode, evaluations on the same 96 tracks every 10 generations, 30 generations).
#
# Every stage resumes when the script is run again. Outputs: runs/kK_m/ (episodes, series, M;
# gitignored) and log/measured/kK_m/ (C's logs, m_loss.txt). Environment: PYTHON (default: the
# repository's .venv/bin/python).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$(dirname "$here")/.venv/bin/python}
cd "$here"
k=${1:-2}
[[ $k =~ ^[1-9][0-9]*$ ]] || { echo "measure_k_step_m: K must be a whole number >= 1, got $k" >&2; exit 2; }
runs=runs/k${k}_m
out=log/measured/k${k}_m
shipped=log/carracing.cma.4.24.best.json
small=(--preset small)
driving=(--policy controller --controller "$shipped" --noise 0.5 --action-repeat "$k")
mkdir -p "$runs" "$out"

stage() { echo; echo "== measure_k_step_m (K = $k): $*"; }
# shellcheck source=measure_common.bash
source measure_common.bash

stage "100 Cauchy-random episodes, 100 of the shipped controller with noise, 20 held out"
EXTRACT_SEED_OFFSET=10 bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record" \
    --action-repeat "$k"
EXTRACT_SEED_OFFSET=12 bash ../extract.bash carracing 2 50 -- "${small[@]}" --record "$runs/record" \
    "${driving[@]}"
EXTRACT_SEED_OFFSET=14 bash ../extract.bash carracing 2 10 -- "${small[@]}" --record "$runs/heldout" \
    "${driving[@]}"

stage "series with the shipped V"
for part in record heldout; do
    "$python" series.py "${small[@]}" --record "$runs/$part" --vae vae/vae.npz \
        --series "$runs/series_$part" --initial-z "$runs/initial_z_$part.npz"
done

stage "M from the shipped M's weights on the K-step episodes"
m_from_shipped "$runs/series_record" "$runs/rnn.npz"

stage "prediction loss on the held-out K-step episodes: the shipped M, then the new M"
old_and_new "$out/m_loss.txt" rnn/rnn.npz "$runs/rnn.npz" \
    "$python" rnn_train.py "${small[@]}" --series "$runs/series_heldout" --evaluate

stage "C from zeros at K with the new M, 30 generations (the shipped M's run: log/measured/action_repeat_$k)"
"$python" train.py "${small[@]}" -n 2 -t 12 --stop-after-negative 20 --max-generations 30 \
    --eval-steps 10 --z mean --common-seeds --action-repeat "$k" --rnn "$runs/rnn.npz" \
    --log-dir "$out" >> "$out/train.out" 2>&1
"$python" - "$out" "log/measured/action_repeat_$k" <<'EOF'
import json
import sys
from pathlib import Path

from estool.logfiles import hist_best_value

for folder in sys.argv[1:]:
    files = sorted(Path(folder).glob("*.hist_best.json"))
    rows = json.loads(files[0].read_text()) if files else []
    shown = ", ".join(f"{hist_best_value(r, 'curr'):.1f} ({hist_best_value(r, 'generation')}, "
                      f"{hist_best_value(r, 'elapsed_s'):.0f} s)" for r in rows)
    print(f"{folder}: evaluations (generation, training time) {shown or 'none'}")
EOF
