"""How noisy is CMA-ES's fitness on real CarRacing tracks, and how much do common seeds remove?

Plays --candidates controllers drawn around a controller file as CMA-ES draws them (mean + sigma *
eps, in antithetic pairs) on the same --tracks real tracks with the full rules, then splits the
rewards (candidates x tracks, one episode each) as a two-way layout:

- candidate variance: how much the candidates really differ (the signal CMA-ES ranks);
- track variance: how much easier one track is than another, for every candidate;
- residual variance: the rest (a candidate crashing on one track and not on another, z noise).

With n episodes per candidate the fitness noise is (track + residual) / n when candidates play
different tracks (antithetic pairs), and residual / n when the whole generation plays the same
tracks (`--common-seeds`), since the track part is then shared. Prints the three parts and both
signal-to-noise ratios, for z sampled from V and for V's mean (--z). Tracks are episode_seed(SEED +
t, 0): neither training (random seeds), evaluation (0..popsize-1) nor test seeds (1_000_000 + s).

    python benchmarks/fitness_noise.py carracing/log/carracing.cma.4.24.best.json \
        [--sigma 0.125] [--candidates 8] [--tracks 8] [--episodes 4] [--z sample mean]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import numpy as np  # noqa: E402

from worldmodels.controller import controller_spec  # noqa: E402
from worldmodels.experiments import CARRACING, Z_MODES  # noqa: E402
from worldmodels.loading import (  # noqa: E402
    load_controller_params,
    load_rnn,
    load_vae,
    reference_recipe,
)
from worldmodels.problems import RealProblem  # noqa: E402

TRACK_SEED_BASE = 3_000_000
FOLDER = Path(__file__).resolve().parent.parent / "carracing"  # the shipped V and M


def candidates_around(mean: np.ndarray, sigma: float, count: int, seed: int) -> np.ndarray:
    """`count` (even) parameter vectors (count, P): mean +/- sigma * eps in antithetic pairs."""
    eps = np.random.default_rng(seed).standard_normal((count // 2, mean.size))
    return np.concatenate([mean + sigma * eps, mean - sigma * eps])


def variance_parts(rewards: np.ndarray) -> dict[str, float]:
    """Unbiased candidate, track and residual variances of rewards (C candidates, T tracks)."""
    c, t = rewards.shape
    cand = rewards.mean(1) - rewards.mean()
    track = rewards.mean(0) - rewards.mean()
    resid = rewards - rewards.mean() - cand[:, None] - track[None, :]
    residual = float((resid**2).sum() / ((c - 1) * (t - 1)))
    return {"candidate": max(float(cand.var(ddof=1)) - residual / t, 0.0),
            "track": max(float(track.var(ddof=1)) - residual / c, 0.0), "residual": residual}


def play(problem: RealProblem, params: np.ndarray, tracks: int) -> np.ndarray:
    """Rewards (len(params), tracks): every candidate on each track, full rules."""
    rewards = np.zeros((len(params), tracks))
    for t in range(tracks):
        seeds = np.full(len(params), TRACK_SEED_BASE + t, np.int64)
        rewards[:, t], _ = problem.evaluate(params, seeds, 1, 0, train_mode=False)
        print(f"  track {t}: {' '.join(f'{r:6.0f}' for r in rewards[:, t])}", flush=True)
    return rewards


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("controller", help="controller file (.best.json or .json), played with "
                        "carracing/'s V and M")
    parser.add_argument("--sigma", type=float, default=0.125, help="CMA-ES step size to mimic")
    parser.add_argument("--candidates", type=int, default=8, help="an even number")
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per candidate in training")
    parser.add_argument("--z", nargs="+", choices=Z_MODES, default=list(Z_MODES), dest="z_modes")
    parser.add_argument("--seed", type=int, default=5, help="seed of the candidates' eps")
    args = parser.parse_args()
    if args.candidates < 2 or args.candidates % 2 or args.tracks < 2:
        parser.error("--candidates must be even and >= 2, --tracks >= 2")
    exp = CARRACING
    spec = controller_spec(exp)
    params = candidates_around(load_controller_params(args.controller, spec.num_params),
                               args.sigma, args.candidates, args.seed)
    vae, rnn = load_vae(exp, FOLDER / exp.vae_path), load_rnn(exp, FOLDER / exp.rnn_path)
    n = args.episodes
    for z_mode in args.z_modes:
        print(f"z {z_mode}: {args.candidates} candidates (sigma {args.sigma}) x {args.tracks} "
              "tracks", flush=True)
        problem = RealProblem(exp, vae, rnn, reference_recipe(exp, z_mode=z_mode), envs=8,
                              seed=1)
        parts = variance_parts(play(problem, params, args.tracks))
        pairs = (parts["track"] + parts["residual"]) / n
        common = parts["residual"] / n
        print(f"z {z_mode}: variance candidate {parts['candidate']:.0f}, track "
              f"{parts['track']:.0f}, residual {parts['residual']:.0f}; fitness noise at {n} "
              f"episodes: {pairs:.0f} (antithetic pairs) vs {common:.0f} (common seeds, "
              f"{1 - common / pairs:.0%} less); signal/noise {parts['candidate'] / pairs:.2f} vs "
              f"{parts['candidate'] / max(common, 1e-9):.2f}", flush=True)


if __name__ == "__main__":
    main()
