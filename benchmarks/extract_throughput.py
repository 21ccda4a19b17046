"""Extraction throughput: frames written per second by 1 and 2 extract.bash workers, against the raw
environment's steps per second (random actions, no recording) measured in the same run, for each
experiment (its own random policy: doomrnn held uniform actions, carracing the Cauchy-random agent).

    python benchmarks/extract_throughput.py [--experiment all|doomrnn|carracing] [--episodes 6]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worldmodels.data import list_npz, read_episode
from worldmodels.envs import make_env
from worldmodels.experiments import EXPERIMENT_NAMES, get_experiment

ROOT = Path(__file__).resolve().parent.parent


def raw_steps_per_second(name: str, steps: int = 2000) -> float:
    """Steps/s of the bare environment (64x64 frames) with random actions."""
    exp = get_experiment(name)
    env = make_env(exp)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def extract_rate(name: str, workers: int, episodes: int) -> float:
    """Frames/s written by `bash extract.bash name workers episodes` (the launcher users run, with
    its one BLAS thread per worker), into a temporary record folder."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "record"
        start = time.perf_counter()
        done = subprocess.run(["bash", str(ROOT / "extract.bash"), name, str(workers), str(episodes),
                               "--", "--record", str(record)],
                              env={**os.environ, "PYTHON": sys.executable}, capture_output=True,
                              text=True)
        if done.returncode:
            raise SystemExit(f"extract.bash failed: {done.stderr.strip() or done.stdout.strip()}")
        elapsed = time.perf_counter() - start
        frames = sum(len(read_episode(p)["obs"]) for p in list_npz(record))
    return frames / elapsed


def main() -> None:
    """Print raw env steps/s and extraction frames/s for 1 and 2 workers, with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", choices=("all", *EXPERIMENT_NAMES), default="all")
    parser.add_argument("--episodes", type=int, default=6, help="episodes per worker")
    args = parser.parse_args()
    for name in EXPERIMENT_NAMES if args.experiment == "all" else (args.experiment,):
        raw = raw_steps_per_second(name)
        one = extract_rate(name, 1, args.episodes)
        two = extract_rate(name, 2, args.episodes)
        print(f"{name}: raw environment {raw:.0f} steps/s (one process, no recording)")
        print(f"  extract, 1 worker : {one:8.0f} frames/s  ({one / raw:.2f} of raw)")
        print(f"  extract, 2 workers: {two:8.0f} frames/s  ({two / raw:.2f} of raw, "
              f"{two / one:.2f}x one worker)", flush=True)


if __name__ == "__main__":
    main()
