"""The project's main job until trained agents ship: full V+M+C agents (freshly initialised weights,
numpy twins, no TensorFlow) playing the real games, all episodes of a game stepped in one batch.

    python -m worldmodels.demo [--experiments doomrnn carracing] [--episodes 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.envs import make_env
from worldmodels.experiments import EXPERIMENT_NAMES, get_experiment
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE
from worldmodels.weights import init_weights


def play(name: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Play `episodes` real episodes of experiment `name` with an untrained agent.

    Returns (rewards (episodes,), steps (episodes,), agent+env steps per second).
    """
    exp = get_experiment(name)
    rng = np.random.default_rng(seed)
    spec = controller_spec(exp)
    agent = Agent(exp, VAE(init_weights("vae", exp, rng), exp.z_size),
                  MDNRNN(init_weights("rnn", exp, rng), exp),
                  Controller(spec, rng.standard_normal(spec.num_params) * 0.1), rng)
    envs = [make_env(exp) for _ in range(episodes)]
    start = time.perf_counter()
    rewards, steps = run_episodes(exp, agent, envs, seeds=[seed + i for i in range(episodes)],
                                  candidate=np.zeros(episodes, np.int64))
    elapsed = time.perf_counter() - start
    for env in envs:
        env.close()
    return rewards, steps, steps.sum() / elapsed


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: play each experiment and print rewards and speed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENT_NAMES),
                        choices=EXPERIMENT_NAMES)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per experiment")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in args.experiments:
        print(f"{name}: untrained V+M+C playing {get_experiment(name).env_id}, "
              f"{args.episodes} episodes in one batch ...", flush=True)
        rewards, steps, speed = play(name, args.episodes, args.seed)
        for i, (r, s) in enumerate(zip(rewards, steps, strict=True)):
            print(f"  episode {i} (seed {args.seed + i}): reward {r:8.2f}  steps {s}")
        print(f"  mean {rewards.mean():.2f} +/- {rewards.std():.2f}; "
              f"{speed:.0f} agent steps/s on this machine", flush=True)


if __name__ == "__main__":
    main()
