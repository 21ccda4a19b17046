"""The project's main job: the shipped doomrnn agent (V, M and C trained from scratch on one 2-core
CPU machine, C evolved entirely in M's dream) plays the real VizdoomTakeCover-v1, next to a random
policy on the same episodes, and beside the paper's figures.

    python -m worldmodels.demo [--episodes 100] [--seed 0] [--batch 8]

With no shipped agent in doomrnn/ (a fresh, untrained checkout of the code), it plays untrained
V+M+C agents in both games instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from estool.argtypes import OneLineParser, positive_int
from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.envs import make_env
from worldmodels.experiments import DOOMRNN, EXPERIMENT_NAMES, get_experiment
from worldmodels.loading import load_controller_params, load_rnn, load_vae
from worldmodels.mdnrnn import MDNRNN
from worldmodels.scores import standard_error, write_scores
from worldmodels.seeds import TEST_SEED_BASE, episode_seed
from worldmodels.vae import VAE
from worldmodels.weights import init_weights

DOOMRNN_DIR = Path(__file__).resolve().parent.parent / "doomrnn"
SHIPPED_CONTROLLER = "log/doomrnn.cma.16.64.best.json"
PAPER = "paper: agent 1092 +/- 556, random 210 +/- 108; reference code: agent 973 +/- 540"


def shipped_agent(rng: np.random.Generator) -> Agent | None:
    """The agent shipped in doomrnn/ (V, M, best controller), or None when it is not there."""
    exp = DOOMRNN
    paths = [DOOMRNN_DIR / p for p in (exp.vae_path, exp.rnn_path, SHIPPED_CONTROLLER)]
    if not all(p.is_file() for p in paths):
        return None
    spec = controller_spec(exp)
    params = load_controller_params(paths[2], spec.num_params)
    return Agent(exp, load_vae(exp, paths[0]), load_rnn(exp, paths[1]), Controller(spec, params),
                 rng)


def random_policy_rewards(seeds: list[int], rng: np.random.Generator) -> np.ndarray:
    """Rewards (len(seeds),) of uniformly random TakeCover actions on the given episode seeds."""
    env = make_env(DOOMRNN)
    rewards = []
    for seed in seeds:
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(3)))
            total += reward
            done = terminated or truncated
        rewards.append(total)
    env.close()
    return np.asarray(rewards)


def play_shipped(agent: Agent, episodes: int, seed: int, batch: int,
                 scores_path: str | None = None) -> None:
    """Score the shipped agent and a random policy on the same real episodes; print both, and
    write both per episode to `scores_path` when given (worldmodels.scores format)."""
    seeds = [episode_seed(TEST_SEED_BASE + seed, i) for i in range(episodes)]
    print(f"doomrnn: the shipped agent plays {episodes} real VizdoomTakeCover-v1 episodes "
          f"(skill 4, cap 2100 steps), {batch} at a time ...", flush=True)
    start = time.perf_counter()
    envs = [make_env(DOOMRNN) for _ in range(min(batch, episodes))]
    rewards = []
    for first in range(0, episodes, len(envs)):
        part = seeds[first : first + len(envs)]
        r, _ = run_episodes(DOOMRNN, agent, envs[: len(part)], part, np.zeros(len(part), np.int64))
        rewards.extend(r)
        print(f"  episodes {first}-{first + len(part) - 1}: {' '.join(f'{v:.0f}' for v in r)}",
              flush=True)
    for env in envs:
        env.close()
    rewards = np.asarray(rewards)
    random = random_policy_rewards(seeds, np.random.default_rng(seed))
    if scores_path:
        write_scores(scores_path, DOOMRNN.real_env_name, DOOMRNN.score_unit, seeds,
                     {"shipped agent": rewards, "random policy": random},
                     {"paper": DOOMRNN.paper_mean, "reference code": 973.0})
    print(f"shipped agent : {rewards.mean():7.1f} +/- {rewards.std():.1f} steps survived "
          f"(standard error {standard_error(rewards):.1f}; min {rewards.min():.0f}, "
          f"max {rewards.max():.0f})")
    print(f"random policy : {random.mean():7.1f} +/- {random.std():.1f} on the same episodes")
    print(f"{PAPER}  ({time.perf_counter() - start:.0f}s)", flush=True)


def play_untrained(name: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
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
    """Command-line entry: the shipped agent if there is one, else untrained agents."""
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=positive_int, default=8, help="games played in lockstep")
    parser.add_argument("--scores", default=None, metavar="FILE",
                        help="also write both players' per-episode scores to FILE (JSON; plot "
                        "with python -m worldmodels.scores FILE --out fig.png)")
    parser.add_argument("--untrained", action="store_true",
                        help="play untrained agents in both games even if an agent is shipped")
    args = parser.parse_args(argv)
    agent = None if args.untrained else shipped_agent(np.random.default_rng(args.seed))
    if agent is not None:
        play_shipped(agent, args.episodes, args.seed, args.batch, args.scores)
        return
    episodes = min(args.episodes, 4)
    for name in EXPERIMENT_NAMES:
        print(f"{name}: untrained V+M+C playing {get_experiment(name).env_id}, "
              f"{episodes} episodes in one batch ...", flush=True)
        rewards, steps, speed = play_untrained(name, episodes, args.seed)
        for i, (r, s) in enumerate(zip(rewards, steps, strict=True)):
            print(f"  episode {i} (seed {args.seed + i}): reward {r:8.2f}  steps {s}")
        print(f"  mean {rewards.mean():.2f} +/- {rewards.std():.2f}; "
              f"{speed:.0f} agent steps/s on this machine", flush=True)


if __name__ == "__main__":
    main()
