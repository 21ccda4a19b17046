"""train: evolve the controller with CMA-ES (estool), in M's dream or in the real environment.

All of estool's flags work (``-n``, ``-t``, ``-o``, ``--num-episode``, ``--eval-steps``, ...); the
preset sets their defaults (population, episodes, generations, evaluation interval), with
popsize = num_worker * num_worker_trial and num_worker = min(population, CPU cores). Every MPI
rank loads M, initial_z (and V for real-environment training) with numpy only. The problems are
:class:`~worldmodels.problems.DreamProblem` and :class:`~worldmodels.problems.RealProblem`.
"""

from __future__ import annotations

import argparse
import os

from worldmodels.data import DataFileError
from worldmodels.dream import add_dream_arguments, dream_settings
from worldmodels.experiments import PRESET_NAMES, Experiment, get_experiment
from worldmodels.loading import add_recipe_arguments, load_dream, load_rnn, load_vae, make_recipe
from worldmodels.problems import DreamProblem, RealProblem
from worldmodels.stages.common import OneLineParser, non_negative_int, positive_int
from worldmodels.weights import ModelFileError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment's own flags, added to estool's."""
    parser.add_argument("--preset", choices=PRESET_NAMES, default="paper",
                        help="sets the defaults of population, episodes, generations, eval_steps")
    add_recipe_arguments(parser, training=True)
    add_dream_arguments(parser)
    parser.add_argument("--dream", action="store_true",
                        help="evolve in M's dream even if the experiment trains in the real env")
    parser.add_argument("--envs", type=positive_int, default=8,
                        help="real environments each worker steps in lockstep")
    parser.add_argument("--stop-after-negative", type=non_negative_int, default=0, metavar="N",
                        help="real game, training only: end an episode after N consecutive steps "
                        "of negative reward (0: never; an attention agent for CarRacing used 20); "
                        "the evaluations every --eval-steps use the full rules")
    parser.add_argument("--stop-off-road", type=non_negative_int, default=0, metavar="N",
                        help="real game with a driving report (carracing), training only: end an "
                        "episode after N consecutive steps with every wheel off the road (0: never)")


def preset_defaults(exp: Experiment, preset_name: str, workers: int | None = None) -> dict:
    """estool defaults from the preset: the population split over `workers` (-n as given; by
    default min(population, cores)) workers."""
    preset = exp.preset(preset_name)
    workers = workers or max(1, min(preset.population, os.cpu_count() or 1))
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
    pre.add_argument("-n", "--num-worker", type=positive_int, default=None)
    known, _ = pre.parse_known_args(argv)

    def make_problem(args: argparse.Namespace):
        try:
            return build_problem(args)
        except (ModelFileError, DataFileError) as err:  # one line, also from an MPI rank
            raise SystemExit(f"error: {err}") from None

    def build_problem(args: argparse.Namespace):
        if args.stop_off_road and not exp.driving_report:
            raise SystemExit(f"error: --stop-off-road: {exp.name} has no road")
        in_dream = exp.train_in_dream or args.dream
        real_only = [flag for flag, value in (("--action-repeat", args.action_repeat > 1),
                                              ("--stop-after-negative", args.stop_after_negative),
                                              ("--stop-off-road", args.stop_off_road)) if value]
        if in_dream and real_only:
            raise SystemExit(f"error: {', '.join(real_only)}: real game only, not in the dream")
        recipe = make_recipe(exp, args.controller_mode, args.z_mode, args.action_repeat, args.vae,
                             args.rnn, args.initial_z, args.action_scale, args.action_offset)
        if in_dream:
            try:
                dream = load_dream(exp, args.rnn, args.initial_z,
                                   dream_settings(args, exp.temperature))
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
            return DreamProblem(exp, dream, recipe)
        return RealProblem(exp, load_vae(exp, args.vae), load_rnn(exp, args.rnn), recipe,
                           args.envs, seed=args.seed_start,
                           stop_after_negative=args.stop_after_negative,
                           stop_off_road=args.stop_off_road)

    # estool relaunches sys.argv under mpiexec for -n > 1, so hand it the real command line.
    code = estool_main(None if argv == sys.argv[1:] else argv, make_problem, exp.name,
                       add_arguments, preset_defaults(exp, known.preset, known.num_worker))
    if code:
        raise SystemExit(code)
