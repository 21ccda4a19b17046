"""The project's main job: each shipped agent (V, M and C trained from scratch on one 2-core CPU
machine) plays its real game on 100 unseen episodes, next to a random policy on the same episodes,
and beside the paper's figures: doomrnn (C evolved entirely in M's dream) on VizdoomTakeCover-v1,
then carracing (C evolved on real tracks) on CarRacing-v3.

    python -m worldmodels.demo [--experiment all|carracing|doomrnn] [--episodes 100] [--seed 0]
                               [--batch 8] [--scores-dir DIR]

Experiments without a shipped agent are skipped; with none at all (a fresh, untrained checkout of
the code) it plays untrained V+M+C agents in both games instead.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gymnasium import spaces

from estool.argtypes import OneLineParser, positive_int
from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.envs import make_env
from worldmodels.experiments import CARRACING, DOOMRNN, EXPERIMENT_NAMES, Experiment, get_experiment
from worldmodels.loading import load_trained_controller
from worldmodels.mdnrnn import MDNRNN
from worldmodels.play import PlayOptions, pin_worker, play_real_parallel
from worldmodels.scores import standard_error, write_scores
from worldmodels.seeds import TEST_SEED_BASE, episode_seed
from worldmodels.vae import VAE
from worldmodels.weights import init_weights

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ShippedAgent:
    """An agent shipped in the repository and the published figures it is compared with."""

    exp: Experiment
    controller: str  # the controller file, relative to the experiment's folder
    episode: str  # what one episode is, for the header line
    workers: int  # processes that play it; each draws its own z noise, so scores depend on it

    @property
    def folder(self) -> Path:
        """The experiment's folder in the repository."""
        return ROOT / self.exp.name

    def files(self) -> list[Path]:
        """V, M and C files, in that order."""
        return [self.folder / p for p in (self.exp.vae_path, self.exp.rnn_path, self.controller)]

    def is_shipped(self) -> bool:
        """Whether all its files are in the checkout."""
        return all(p.is_file() for p in self.files())


SHIPPED = {
    "doomrnn": ShippedAgent(
        DOOMRNN, "log/doomrnn.cma.16.64.best.json",
        "real VizdoomTakeCover-v1 episodes (skill 4, cap 2100 steps)",
        1),
    "carracing": ShippedAgent(
        CARRACING, "log/carracing.cma.4.24.best.json",
        "random CarRacing-v3 tracks (full rules, 1000-step cap)",
        2),
}


def random_action(space: spaces.Space, rng: np.random.Generator) -> int | np.ndarray:
    """One uniformly random action of `space` (Discrete: an int; Box: float32 (A,))."""
    if isinstance(space, spaces.Discrete):
        return int(rng.integers(space.n))
    return rng.uniform(space.low, space.high).astype(np.float32)


def random_policy_rewards(exp: Experiment, seeds: list[int],
                          rng: np.random.Generator) -> np.ndarray:
    """Rewards (len(seeds),) of uniformly random actions in the real game on the given episode
    seeds, played one after the other with actions drawn from `rng`."""
    env = make_env(exp)
    rewards = []
    for seed in seeds:
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(random_action(env.action_space, rng))
            total += reward
            done = terminated or truncated
        rewards.append(total)
    env.close()
    return np.asarray(rewards)


def _random_policy_worker(worker: int, exp: Experiment, seeds: list[int], seed: int) -> np.ndarray:
    pin_worker(worker)
    return random_policy_rewards(exp, seeds, np.random.default_rng((seed, worker)))


def random_policy_parallel(exp: Experiment, seeds: list[int], seed: int,
                           workers: int) -> np.ndarray:
    """random_policy_rewards shared by `workers` pinned processes: worker w plays seeds[w::workers]
    with actions from the seed (seed, w) (one worker: one process, actions from `seed`). Returns
    rewards (len(seeds),) in the order of `seeds`."""
    if workers <= 1:
        return random_policy_rewards(exp, seeds, np.random.default_rng(seed))
    jobs = [(w, exp, seeds[w::workers], seed) for w in range(min(workers, len(seeds)))]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.starmap(_random_policy_worker, jobs)
    rewards = np.zeros(len(seeds))
    for (w, *_), part in zip(jobs, parts, strict=True):
        rewards[w::workers] = part
    return rewards


def play_shipped(shipped: ShippedAgent, episodes: int, seed: int, batch: int,
                 scores_dir: str | None = None) -> None:
    """Score a shipped agent and a random policy on the same real episodes (model.py's test
    episodes for `seed`); print both, and write both per episode to
    `scores_dir/EXPERIMENT_scores.json` when given (worldmodels.scores format)."""
    exp = shipped.exp
    seeds = [episode_seed(TEST_SEED_BASE + seed, i) for i in range(episodes)]
    print(f"{exp.name}: the shipped agent plays {episodes} {shipped.episode}, {batch} at a time "
          f"in {shipped.workers} process(es) ...", flush=True)
    start = time.perf_counter()
    trained = load_trained_controller(exp, shipped.files()[2])
    rewards = play_real_parallel(shipped.workers, exp, trained, seeds,
                                 PlayOptions(batch=batch, verbose=False)).rewards
    print(f"  scores: {' '.join(f'{v:.0f}' for v in rewards)}", flush=True)
    random = random_policy_parallel(exp, seeds, seed, shipped.workers)
    if scores_dir:
        write_scores(Path(scores_dir) / f"{exp.name}_scores.json", exp.real_env_name,
                     exp.score_unit, seeds, {"shipped agent": rewards, "random policy": random},
                     exp.published.means)
    print(f"shipped agent : {rewards.mean():7.1f} +/- {rewards.std():.1f} {exp.score_unit} "
          f"(standard error {standard_error(rewards):.1f}; min {rewards.min():.0f}, "
          f"max {rewards.max():.0f})")
    print(f"random policy : {random.mean():7.1f} +/- {random.std():.1f} on the same episodes")
    print(f"{exp.published.line()}  ({time.perf_counter() - start:.0f}s)", flush=True)


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
    """Command-line entry: the shipped agents if there are any, else untrained agents."""
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", choices=("all", *EXPERIMENT_NAMES), default="all",
                        help="which shipped agents to play (default: all, doomrnn first)")
    parser.add_argument("--episodes", type=positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0,
                        help="test episodes (model.py's SEED): episode i has the seed "
                        "episode_seed(1000000 + SEED, i)")
    parser.add_argument("--batch", type=positive_int, default=8, help="games played in lockstep")
    parser.add_argument("--scores-dir", default=None, metavar="DIR",
                        help="also write both players' per-episode scores to "
                        "DIR/EXPERIMENT_scores.json (plot with python -m worldmodels.scores)")
    parser.add_argument("--untrained", action="store_true",
                        help="play untrained agents in both games even if agents are shipped")
    args = parser.parse_args(argv)
    names = ("doomrnn", "carracing") if args.experiment == "all" else (args.experiment,)
    shipped = [] if args.untrained else [SHIPPED[n] for n in names if SHIPPED[n].is_shipped()]
    for name in () if args.untrained else names:
        if not SHIPPED[name].is_shipped():
            missing = [str(p.relative_to(ROOT)) for p in SHIPPED[name].files() if not p.is_file()]
            print(f"{name}: no shipped agent in this checkout ({', '.join(missing)} missing)")
    for agent in shipped:
        play_shipped(agent, args.episodes, args.seed, args.batch, args.scores_dir)
    if shipped:
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
