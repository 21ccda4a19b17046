"""train: evolve the controller with CMA-ES (estool), in M's dream or in the real environment.

All of estool's flags work (``-n``, ``-t``, ``-o``, ``--num_episode``, ``--eval_steps``, ...); the
preset sets their defaults (population, episodes, generations, evaluation interval), with
popsize = num_worker * num_worker_trial and num_worker = min(population, CPU cores). Every MPI
rank loads M, initial_z (and V for real-environment training) with numpy only.

Problems (both evaluate a worker's whole share of the population in one call):
- :class:`DreamProblem`: all candidates x episodes as one :class:`~worldmodels.dream.DreamBatch`.
- :class:`RealProblem`: the real game, `--envs` environments stepped in lockstep with one batched
  V/M/C call per step.
Episode j of candidate i uses the seed (seeds[i], j).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.data import DataFileError, read_initial_z
from worldmodels.dream import DEATH_MODES, DreamBatch
from worldmodels.experiments import CONTROLLER_MODES, PRESET_NAMES, Experiment, get_experiment
from worldmodels.mdnrnn import MDNRNN
from worldmodels.stages.common import OneLineParser, episode_seed, non_negative_int, positive_int
from worldmodels.vae import VAE
from worldmodels.weights import ModelFileError, load_weights, with_file_heads


def load_rnn(exp: Experiment, path: str | None) -> MDNRNN:
    """M's numpy twin from `path` (default: the experiment's M file), with the optional heads the
    file was trained with (rnn_train.py --predict-reward)."""
    path = path or exp.rnn_path
    exp = with_file_heads(path, exp)
    return MDNRNN(load_weights(path, "rnn", exp, made_by="rnn_train.py"), exp)


def load_vae(exp: Experiment, path: str | None) -> VAE:
    """V's numpy twin from `path` (default: the experiment's V file)."""
    return VAE(load_weights(path or exp.vae_path, "vae", exp, made_by="vae_train.py"), exp.z_size)


def load_dream(exp: Experiment, rnn_path: str | None, initial_z_path: str | None,
               temperature: float, death: str = "threshold",
               death_logit: float = 0.0, temperature_max: float | None = None) -> DreamBatch:
    """The batched dream of `exp` from its M and initial_z files (death: see DEATH_MODES;
    `death_logit`: the done-logit cut-off of threshold death; `temperature_max`: each rollout's
    tau drawn uniformly in [temperature, temperature_max])."""
    path = Path(initial_z_path or exp.initial_z_path)
    if not path.is_file():
        raise DataFileError(f"{path}: missing initial_z for {exp.name} (made by: series.py)")
    mu, logvar = read_initial_z(path, exp.z_size)
    return DreamBatch(exp, load_rnn(exp, rnn_path), mu, logvar, temperature, death, death_logit,
                      temperature_max)


class DreamProblem:
    """Fitness of controllers = mean dream reward over `num_episode` rollouts each."""

    def __init__(self, exp: Experiment, dream: DreamBatch, mode: str = "zh"):
        self.exp, self.dream = exp, dream
        self.spec = controller_spec(exp, mode)
        self.num_params = self.spec.num_params
        self.name = exp.name

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """params (k, P), seeds (k,) -> (mean reward (k,), mean steps (k,)) over num_episode."""
        k = len(params)
        candidate = np.repeat(np.arange(k), num_episode)
        rollout_seeds = [[int(seeds[i]), j] for i in range(k) for j in range(num_episode)]
        rewards, steps = self.dream.rollout(Controller(self.spec, params), candidate,
                                            rollout_seeds, max_len if max_len > 0 else None)
        return rewards.reshape(k, -1).mean(1), steps.reshape(k, -1).mean(1)


class RealProblem:
    """Fitness of controllers = mean real-game reward over `num_episode` episodes each, played
    `envs` at a time in lockstep; in training (not in evaluations) an episode may end after
    `stop_after_negative` consecutive steps of negative reward (0: never)."""

    def __init__(self, exp: Experiment, vae: VAE, rnn: MDNRNN, mode: str = "zh", envs: int = 8,
                 seed: int = 0, stop_after_negative: int = 0):
        from worldmodels.envs import make_env

        self.exp, self.vae, self.rnn = exp, vae, rnn
        self.stop_after_negative = stop_after_negative
        self.spec = controller_spec(exp, mode)
        self.num_params = self.spec.num_params
        self.name = exp.name
        self.rng = np.random.default_rng(seed)
        self.envs = [make_env(exp) for _ in range(envs)]

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """params (k, P), seeds (k,) -> (mean reward (k,), mean steps (k,)) over num_episode."""
        k = len(params)
        agent = Agent(self.exp, self.vae, self.rnn, Controller(self.spec, params), self.rng)
        candidate = np.repeat(np.arange(k), num_episode)
        env_seeds = [episode_seed(int(seeds[i]), j) for i in range(k) for j in range(num_episode)]
        rewards, steps = np.zeros(len(candidate)), np.zeros(len(candidate))
        for start in range(0, len(candidate), len(self.envs)):
            part = slice(start, start + len(self.envs))
            n = len(candidate[part])
            rewards[part], steps[part] = run_episodes(
                self.exp, agent, self.envs[:n], env_seeds[part], candidate[part],
                max_len if max_len > 0 else None,
                self.stop_after_negative if train_mode else 0)
        return rewards.reshape(k, -1).mean(1), steps.reshape(k, -1).mean(1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment's own flags, added to estool's."""
    parser.add_argument("--preset", choices=PRESET_NAMES, default="paper",
                        help="sets the defaults of population, episodes, generations, eval_steps")
    parser.add_argument("--controller-mode", choices=CONTROLLER_MODES, default="zh")
    parser.add_argument("--temperature", type=float, default=None,
                        help="dream temperature tau (default: the experiment's)")
    parser.add_argument("--temperature-max", type=float, default=None,
                        help="draw each dream episode's tau uniformly in [--temperature, this] "
                        "(default: every episode at --temperature)")
    parser.add_argument("--death", choices=DEATH_MODES, default="threshold",
                        help="dream death: done logit > 0 (threshold, the reference's) or drawn "
                        "with M's calibrated done probability (sample)")
    parser.add_argument("--death-logit", type=float, default=0.0,
                        help="threshold death: die when the done logit is above this (0: the "
                        "reference's; lower makes the dream harsher: docs/results/doomrnn.md)")
    parser.add_argument("--dream", action="store_true",
                        help="evolve in M's dream even if the experiment trains in the real env")
    parser.add_argument("--rnn", default=None, help="M weight file (default: the experiment's)")
    parser.add_argument("--vae", default=None, help="V weight file (default: the experiment's)")
    parser.add_argument("--initial-z", default=None, help="initial_z (default: the experiment's)")
    parser.add_argument("--envs", type=positive_int, default=8,
                        help="real environments each worker steps in lockstep")
    parser.add_argument("--stop-after-negative", type=non_negative_int, default=0, metavar="N",
                        help="real game, training only: end an episode after N consecutive steps "
                        "of negative reward (0: never; an attention agent for CarRacing used 20); "
                        "the evaluations every --eval_steps use the full rules")


def preset_defaults(exp: Experiment, preset_name: str) -> dict:
    """estool defaults from the preset: population split over min(population, cores) workers."""
    preset = exp.preset(preset_name)
    workers = max(1, min(preset.population, os.cpu_count() or 1))
    return {"num_episode": preset.num_episode, "eval_steps": preset.eval_steps,
            "max_generations": preset.generations, "num_worker": workers,
            "num_worker_trial": max(1, preset.population // workers),
            "seed_start": exp.es_seed_start, "cap_time": preset.max_frames or 0}


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of train.py: estool's trainer with this experiment's problem."""
    import sys

    from estool.trainer import main as estool_main

    exp = get_experiment(exp_name)
    pre = OneLineParser(add_help=False)
    pre.add_argument("--preset", choices=PRESET_NAMES, default="paper")
    known, _ = pre.parse_known_args(argv)

    def make_problem(args: argparse.Namespace):
        try:
            return build_problem(args)
        except (ModelFileError, DataFileError) as err:  # one line, also from an MPI rank
            raise SystemExit(f"error: {err}") from None

    def build_problem(args: argparse.Namespace):
        if exp.train_in_dream or args.dream:
            temperature = exp.temperature if args.temperature is None else args.temperature
            try:
                dream = load_dream(exp, args.rnn, args.initial_z, temperature, args.death,
                                   args.death_logit, args.temperature_max)
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
            return DreamProblem(exp, dream, args.controller_mode)
        return RealProblem(exp, load_vae(exp, args.vae), load_rnn(exp, args.rnn),
                           args.controller_mode, args.envs, seed=args.seed_start,
                           stop_after_negative=args.stop_after_negative)

    # estool relaunches sys.argv under mpiexec for -n > 1, so hand it the real command line.
    code = estool_main(None if argv == sys.argv[1:] else argv, make_problem, exp.name,
                       add_arguments, preset_defaults(exp, known.preset))
    if code:
        raise SystemExit(code)
