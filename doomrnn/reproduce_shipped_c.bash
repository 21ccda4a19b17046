#!/usr/bin/env bash
# Recompute the shipped doomrnn controller (log/doomrnn.cma.16.64.best.json) bit for bit, on any
# x86-64 machine with AVX-512 and Python 3.12, then compare it with the shipped file.
#
#   bash doomrnn/reproduce_shipped_c.bash [LOG_DIR]       # default LOG_DIR: doomrnn/log_repro
#
# Dream rollouts are chaotic: one rounding difference flips a death somewhere in 1024 rollouts
# and CMA-ES follows another ranking from there. So a run repeats only with the same floats:
# the same numpy (it bundles the OpenBLAS whose LAPACK pycma's eigendecomposition uses; numpy
# 2.5.2 needs Python >= 3.12), the same OpenBLAS kernel (SkylakeX, forced here), the same BLAS
# threads per process (2) and the same split of the population (8 workers x 8 candidates).
# Those are the settings of the machine that evolved it (docs/reproducibility.md). It takes
# ~6 minutes on 16 cores and 66 minutes on 2; re-running resumes from the checkpoint.
# Environment: PYTHON312 (default python3.12), REPRO_VENV (default .venv-repro beside this repo's
# .venv).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
log_dir=${1:-log_repro}
python312=${PYTHON312:-python3.12}
venv=${REPRO_VENV:-$root/.venv-repro}
shipped=$here/log/doomrnn.cma.16.64.best.json

if ! grep -qw avx512f /proc/cpuinfo; then
    echo "reproduce_shipped_c: this CPU has no AVX-512, so OpenBLAS cannot run the SkylakeX" \
         "kernel the shipped controller was computed with" >&2
    exit 2
fi
if ! "$python312" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    echo "reproduce_shipped_c: needs Python 3.12 (numpy 2.5.2 has no wheel for 3.11), and" \
         "'$python312' is not one; set PYTHON312=/path/to/python3.12" >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python312" -m venv "$venv"
fi
# numpy and cma fix the floats; the rest only has to run.
"$venv/bin/python" -m pip install --quiet numpy==2.5.2 cma==4.5.0 mpi4py mpich gymnasium tqdm \
    threadpoolctl

cd "$here"
# 16 BLAS threads share the cores on a small machine: OPENBLAS_THREAD_TIMEOUT=4 has idle ones
# sleep instead of spin (a speed setting; the floats do not depend on it).
OPENBLAS_CORETYPE=SkylakeX OPENBLAS_THREAD_TIMEOUT=4 PYTHONPATH="$root" "$venv/bin/python" \
    train.py --preset small \
    -n 8 -t 8 --num-episode 16 --blas-threads 2 --no-pin-workers --temperature 1.15 \
    --seed-start 333 --log-dir "$log_dir" --max-generations 25

"$venv/bin/python" - "$log_dir/doomrnn.cma.16.64.best.json" "$shipped" <<'EOF'
import json
import sys

new, shipped = (json.load(open(path)) for path in sys.argv[1:])
if new == shipped:
    print(f"identical to the shipped controller: {sys.argv[2]} (dream evaluation {new[1]})")
else:
    print(f"differs from the shipped controller (dream evaluation {new[1]} vs {shipped[1]})")
    sys.exit(1)
EOF
