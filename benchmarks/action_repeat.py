"""Training frames/s on real CarRacing-v3 tracks with action repeat k = 1, 2, 3, 4, in one run.

With action repeat k the agent (V + M + C) acts every k environment steps; the steps in between
repeat its action and are not drawn (worldmodels.envs.repeat). What a CMA-ES worker buys per
second is environment steps (the episode cap counts them), so this measures environment
steps/s of the whole agent (freshly initialised weights: the same cost per step as trained ones),
8 envs in lockstep in one process with one BLAS thread, as a training worker plays them. Each k
plays the same tracks with the same controller for the same number of environment steps; the ks
take turns track batch by track batch, so all of them meet the same machine load. The physics
alone (rendering off, no agent) is the limit no k can pass.

    python benchmarks/action_repeat.py [--rounds 3] [--steps 300] [--repeats 1,2,3,4]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import numpy as np  # noqa: E402
from carracing_speed import ENV_SPECS, EXP, env_rate, new_agent  # noqa: E402 - the script beside

from worldmodels.agent import run_episodes  # noqa: E402
from worldmodels.envs import make_env  # noqa: E402
from worldmodels.seeds import episode_seed  # noqa: E402

ENVS = 8


def play(repeat: int, seeds: list[int], steps: int) -> tuple[int, float]:
    """(environment steps, seconds) of the agent playing one episode per seed (8 in lockstep), cut
    at `steps` environment steps, acting every `repeat` steps."""
    agent = new_agent(np.random.default_rng(0))
    envs = [make_env(EXP, action_repeat=repeat) for _ in seeds]
    start = time.perf_counter()
    _, played = run_episodes(EXP, agent, envs, seeds, np.zeros(len(seeds), np.int64), steps)
    elapsed = time.perf_counter() - start
    for env in envs:
        env.close()
    return int(played.sum()), elapsed


def main() -> None:
    """Print environment steps/s per k and its ratio to k = 1, and the physics-only limit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="track batches of 8 per k")
    parser.add_argument("--steps", type=int, default=300, help="environment steps per episode")
    parser.add_argument("--repeats", default="1,2,3,4")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    repeats = [int(k) for k in args.repeats.split(",")]
    totals = {k: [0, 0.0] for k in repeats}
    for batch in range(args.rounds):
        seeds = [episode_seed(2_000_000 + batch, i) for i in range(ENVS)]
        for k in repeats:
            steps, seconds = play(k, seeds, args.steps)
            totals[k][0] += steps
            totals[k][1] += seconds
    actions = np.random.default_rng(0).uniform([-1, 0, 0], [1, 1, 1], (args.steps, 3))
    physics = env_rate(ENV_SPECS["physics only"], actions, 3)
    print(f"CarRacing-v3, agent (V + M + C) on {ENVS} envs in lockstep, 1 process, 1 BLAS thread; "
          f"{args.rounds} x {ENVS} tracks of {args.steps} environment steps per k")
    base = totals[repeats[0]][0] / totals[repeats[0]][1]
    for k in repeats:
        steps, seconds = totals[k]
        rate = steps / seconds
        print(f"  k = {k}: {rate:7.1f} environment steps/s ({rate / k:6.1f} decisions/s), "
              f"{rate / base:.2f}x k = {repeats[0]}, {rate / physics:.3f} of the physics alone")
    print(f"  physics alone (no rendering, no agent): {physics:.0f} steps/s")


if __name__ == "__main__":
    main()
