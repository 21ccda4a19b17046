"""Playing a trained controller: score it on test episodes of the real game or the dream, or show
one episode in a window or a video (model.py and dream_model.py).

The command line is ``[ENV] render|norender FILE [SEED]`` and flags, parsed by
:func:`parse_play_args` and run by :func:`play_controller`; model.py's docstring tells what it
does. Episode i is played on ``episode_seed(TEST_SEED_BASE + SEED, i)`` (:mod:`worldmodels.seeds`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from dataclasses import dataclass

import numpy as np

from estool.argtypes import OneLineParser, positive_int
from worldmodels.agent import Agent, run_episodes
from worldmodels.dream import DreamEnv, DreamSettings, add_dream_arguments, dream_settings
from worldmodels.driving import DrivingRecorder, episode_report, plot_drives, report_line, summary_lines
from worldmodels.envs import env_action, make_env
from worldmodels.envs.repeat import frames_taken
from worldmodels.experiments import Experiment
from worldmodels.loading import (
    TrainedController,
    add_recipe_arguments,
    describe_recipe,
    load_dream,
    load_trained_controller,
    recipe_overrides,
)
from worldmodels.scores import standard_error, write_scores
from worldmodels.seeds import TEST_SEED_BASE, episode_seed
from worldmodels.video import Viewer, has_display, side_by_side
from worldmodels.weights import ModelFileError


def parse_play_args(exp: Experiment, argv: list[str] | None,
                    default_temperature: float | None = None) -> argparse.Namespace:
    """Parse ``[ENV] render|norender FILE [SEED]`` and the flags of model.py.

    Adds to the flags: env (the real or dream env name), mode ("render" or "norender"), file (the
    controller log), seed (an int >= 0) and dream_settings (:class:`DreamSettings`).
    `default_temperature` is --temperature's default (None: the experiment's). A bad command line
    exits with the usage and status 2.
    """
    parser = _play_parser(exp, default_temperature)

    def check(args: argparse.Namespace) -> None:
        try:
            args.dream_settings = dream_settings(args, exp.temperature)
        except ValueError as err:
            parser.error(str(err))
        _parse_words(parser, exp, args)

    parser.checks.append(check)
    return parser.parse_args(argv)


def _parse_words(parser: argparse.ArgumentParser, exp: Experiment,
                 args: argparse.Namespace) -> None:
    """Set args.env, mode, file and seed from the words ``[ENV] render|norender FILE [SEED]``."""
    words = list(args.words)
    args.env = words.pop(0) if words[0] in (exp.real_env_name, exp.dream_env_name) else \
        exp.real_env_name
    if len(words) not in (2, 3) or words[0] not in ("render", "norender"):
        parser.error("expected [ENV] render|norender FILE [SEED]")
    args.mode, args.file = words[0], words[1]
    if len(words) == 3 and not words[2].isdigit():
        parser.error(f"SEED must be a whole number >= 0, got {words[2]!r}")
    args.seed = int(words[2]) if len(words) == 3 else 0


def _play_parser(exp: Experiment, default_temperature: float | None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        description=f"{exp.name}: play a controller ({exp.real_env_name} = real game, "
                    f"{exp.dream_env_name} = dream)")
    parser.add_argument("words", nargs="+", metavar="[ENV] render|norender FILE [SEED]")
    parser.add_argument("--episodes", type=positive_int, default=100, help="episodes for norender")
    parser.add_argument("--record", default=None, help="video file for render (mp4 or gif)")
    parser.add_argument("--video-height", type=positive_int, default=256,
                        help="render: height of each panel of the video, in pixels")
    parser.add_argument("--video-every", type=positive_int, default=1,
                        help="render: keep every N-th frame in the video (it still plays in real "
                        "time; smaller GIFs)")
    parser.add_argument("--scores", default=None, metavar="FILE",
                        help="real game, norender: also write each episode's seed and score to "
                        "FILE (JSON; python -m worldmodels.scores FILE --out fig.png plots it)")
    add_dream_arguments(parser, default_temperature)
    add_recipe_arguments(parser, training=False)
    parser.add_argument("--report", action="store_true",
                        help="real game, norender: the driving report (carracing): per episode "
                        "its tiles, whether the lap was finished, when the last new tile came, "
                        "speed, gas, brake, steering and the longest run of negative reward; "
                        "then where the points were lost over all episodes")
    parser.add_argument("--report-figure", default=None, metavar="PNG",
                        help="with the driving report, also draw speed and tiles over time for "
                        "the best episode and the 3 worst to this file")
    parser.add_argument("--batch", type=positive_int, default=8, help="real games played in lockstep")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="real game, norender: processes sharing the episodes, one per core "
                        "(each draws its own z noise, so scores depend on this, as on --batch)")
    parser.add_argument("--max-frames", type=positive_int, default=None)
    parser.add_argument("--action-runs", action="store_true",
                        help="real game, norender: also print, per episode, the median length "
                        "of runs of the same action and the length of the last run")
    return parser


def play_controller(exp: Experiment, args: argparse.Namespace) -> None:
    """Run a command line parsed by :func:`parse_play_args`: norender prints each test episode's
    reward and their mean (in the game's score unit), render shows or records one episode."""
    trained = load_trained_controller(exp, args.file, **recipe_overrides(args))
    print(f"{args.file}: {describe_recipe(trained.recipe)}", flush=True)
    if args.mode == "norender":
        _score(exp, args, trained)
    else:
        _show(exp, args, trained)


def _score(exp: Experiment, args: argparse.Namespace, trained: TrainedController) -> None:
    dream = args.env == exp.dream_env_name
    seeds = [episode_seed(TEST_SEED_BASE + args.seed, i) for i in range(args.episodes)]
    start = time.perf_counter()
    if dream:
        core = load_dream(exp, trained.model_path("rnn"), trained.model_path("initial_z"),
                          args.dream_settings)
        rewards, _ = core.rollout(trained.controller(), np.zeros(len(seeds), np.int64), seeds,
                                  args.max_frames)
        for i, r in enumerate(rewards):
            print(f"episode {i}: reward {r:.2f}", flush=True)
    else:
        options = PlayOptions(args.batch, args.max_frames, args.action_runs,
                              report=bool(args.report or args.report_figure))
        played = play_real_parallel(args.workers, exp, trained, seeds, options)
        rewards = played.rewards
        if played.traces is not None:
            _print_report(played, args.max_frames or exp.max_frames, args.report_figure,
                          os.path.relpath(args.file))
    if args.scores and not dream:
        write_scores(args.scores, args.env, exp.score_unit, seeds,
                     {os.path.relpath(args.file): rewards},  # the name as seen from the folder
                     exp.published.means if exp.published else {})
    print(f"{args.env}: {len(rewards)} episodes, mean {rewards.mean():.2f} +/- "
          f"{rewards.std():.2f} (standard error {standard_error(rewards):.2f}; min "
          f"{rewards.min():.2f}, max {rewards.max():.2f}) in "
          f"{time.perf_counter() - start:.0f}s", flush=True)


def _print_report(played: Played, cap: int, figure: str | None, title: str) -> None:
    """The driving report's summary (`cap`: the episodes' step cap), and its figure (the best
    episode and the 3 worst) when asked for."""
    reports = [episode_report(steps, total) for steps, total in played.traces]
    for line in summary_lines(played.rewards, reports, cap):
        print(line, flush=True)
    if figure:
        rows = [(i, played.rewards[i], *played.traces[i]) for i in best_and_worst(played.rewards)]
        plot_drives(figure, rows, title=f"{title}: the best episode and the worst")
        print(f"driving figure: {figure}", flush=True)


def best_and_worst(rewards: np.ndarray, worst: int = 3) -> list[int]:
    """Indices of the best episode of `rewards` (N,), then of the `worst` lowest, lowest first
    (fewer when N is small; each index once): the episodes a driving figure shows."""
    order = np.argsort(rewards, kind="stable")
    best = int(order[-1])
    return [best] + [int(i) for i in order[:worst] if i != best]


def _show(exp: Experiment, args: argparse.Namespace, trained: TrainedController) -> None:
    record = args.record or (None if has_display() else f"videos/{args.env}.{args.seed}.mp4")
    viewer = Viewer(record, height=args.video_height, every=args.video_every)
    seed = episode_seed(TEST_SEED_BASE + args.seed, 0)
    if args.env == exp.dream_env_name:
        total = render_dream(exp, trained, seed, args.dream_settings, viewer, args.max_frames)
    else:
        total = render_real(exp, trained, seed, viewer, args.max_frames)
    viewer.close()
    print(f"{args.env}: reward {total:.2f}", flush=True)


class RecordingAgent(Agent):
    """An Agent that also keeps each rollout's real-game actions: `actions[row]` is the list of
    that rollout's env actions, one per step (an int for Doom, a list of floats for CarRacing)."""

    def reset(self, candidate: np.ndarray) -> None:
        """As Agent.reset; also clears the recorded actions."""
        super().reset(candidate)
        self.actions: list[list] = [[] for _ in range(len(candidate))]

    def act(self, frames: np.ndarray, rows: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """As Agent.act; records env_action of each row's action."""
        action = super().act(frames, rows, noise)
        for row, value in zip(rows, env_action(self.exp, action), strict=True):
            self.actions[row].append(value.tolist())
        return action


def action_runs(actions: list) -> tuple[float, int]:
    """(median length, length of the last) of the runs of identical consecutive actions, in steps,
    of one episode's actions (T,) (T >= 1)."""
    values = np.asarray(actions).reshape(len(actions), -1)
    change = np.flatnonzero(np.any(values[1:] != values[:-1], axis=1)) + 1
    bounds = np.concatenate([[0], change, [len(values)]])
    runs = np.diff(bounds)
    return float(np.median(runs)), int(runs[-1])


@dataclass(frozen=True)
class PlayOptions:
    """How :func:`play_real` plays: `batch` games in lockstep, at most `max_frames` steps each
    (None: the game's cap); per episode it prints its reward and steps (when `verbose`), with
    `show_action_runs` also :func:`action_runs`, and with `report` the driving report's line
    (:mod:`worldmodels.driving`, games with a driving report only)."""

    batch: int = 8
    max_frames: int | None = None
    show_action_runs: bool = False
    report: bool = False
    verbose: bool = True


@dataclass
class Played:
    """What :func:`play_real` returns: rewards (N,) in the order of the seeds and, when the
    driving report was asked for, each episode's (recorded steps (T, 9), tiles of its track)."""

    rewards: np.ndarray
    traces: list[tuple[np.ndarray, int]] | None = None


def play_real_parallel(workers: int, exp: Experiment, trained: TrainedController,
                       seeds: list[int], options: PlayOptions = PlayOptions()) -> Played:
    """:func:`play_real` with the episodes shared by `workers` processes, each pinned to one core
    with one BLAS thread: worker w plays the batches b with b % workers == w, with z noise from
    the seed (0, w) (one worker: play_real itself, seed 0). Returns the episodes in the order of
    `seeds`."""
    if workers <= 1:
        return play_real(exp, trained, seeds, options)
    trained.load_models()  # a bad file: one error here, not one per worker
    index = np.arange(len(seeds))
    shares = [index[(index // options.batch) % workers == w] for w in range(workers)]
    shares = [share for share in shares if len(share)]
    jobs = [(w, exp, trained, [seeds[i] for i in share], options, share.tolist())
            for w, share in enumerate(shares)]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.starmap(_play_real_worker, jobs)
    rewards = np.zeros(len(seeds))
    traces: list = [None] * len(seeds)
    for share, part in zip(shares, results, strict=True):
        rewards[share] = part.rewards
        for i, trace in zip(share, part.traces or (), strict=False):
            traces[i] = trace
    return Played(rewards, traces if options.report else None)


def pin_worker(worker: int) -> None:
    """Pin this process to core `worker` (modulo the cores it may use) with one BLAS thread, so
    that parallel players do not fight over cores."""
    from threadpoolctl import threadpool_limits

    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[worker % len(cores)]})
    threadpool_limits(limits=1, user_api="blas")


def _play_real_worker(worker: int, exp: Experiment, trained: TrainedController, seeds: list[int],
                      options: PlayOptions, numbers: list[int]) -> Played:
    """One process of play_real_parallel: pins itself to a core, then plays its episodes."""
    pin_worker(worker)
    return play_real(exp, trained, seeds, options, numbers=numbers, rng_seed=(0, worker))


def play_real(exp: Experiment, trained: TrainedController, seeds: list[int],
              options: PlayOptions = PlayOptions(), numbers: list[int] | None = None,
              rng_seed: int | tuple[int, int] = 0) -> Played:
    """Play the controller `trained` (with its recipe's V, M, z mode and action repeat) on the
    real game, one episode per seed, `options.batch` at a time; print each episode as it
    finishes (as "episode NUMBER: reward R, steps T", numbers[i] for seeds[i], default i; T equal
    to the step cap means the episode was cut there). z noise from the seed `rng_seed`."""
    if options.report and not exp.driving_report:
        raise ModelFileError(f"--report: {exp.name} has no driving report")
    rng = np.random.default_rng(rng_seed)
    numbers = list(range(len(seeds))) if numbers is None else numbers
    vae, rnn = trained.load_models()
    agent = RecordingAgent(exp, vae, rnn, trained.controller(), rng, trained.recipe.z_mode)
    envs = [make_env(exp, action_repeat=trained.recipe.action_repeat)
            for _ in range(min(options.batch, len(seeds)))]
    rewards, traces = [], []
    for start in range(0, len(seeds), len(envs)):
        part = seeds[start : start + len(envs)]
        recorder = DrivingRecorder(len(part)) if options.report else None
        r, steps = run_episodes(exp, agent, envs[: len(part)], part,
                                np.zeros(len(part), np.int64), options.max_frames,
                                observer=recorder)
        if recorder is not None:
            traces.extend(zip(recorder.rows(), recorder.total_tiles.tolist(), strict=True))
        for row, (i, value, t) in enumerate(zip(numbers[start:], r, steps, strict=False)
                                            if options.verbose else ()):
            print(_episode_line(i, value, t, agent.actions[row], options,
                                traces[start + row] if recorder is not None else None), flush=True)
        rewards.extend(r)
    for env in envs:
        env.close()
    return Played(np.asarray(rewards), traces if options.report else None)


def _episode_line(number: int, reward: float, steps: int, actions: list, options: PlayOptions,
                  trace: tuple[np.ndarray, int] | None) -> str:
    """One finished episode's printed line."""
    if trace is not None:
        return report_line(number, reward, episode_report(*trace))
    runs = ""
    if options.show_action_runs:
        median, last = action_runs(actions)
        runs = f", action runs: median {median:.0f} steps, last {last} steps"
    return f"episode {number}: reward {reward:.2f}, steps {steps}{runs}"


def render_real(exp: Experiment, trained: TrainedController, seed: int, viewer: Viewer,
                max_frames: int | None) -> float:
    """One real episode shown as [screen | 64x64 input | V's reconstruction], one frame per
    agent step; returns its reward."""
    vae, rnn = trained.load_models()
    agent = Agent(exp, vae, rnn, trained.controller(), np.random.default_rng(0),
                  trained.recipe.z_mode)
    agent.reset(np.zeros(1, np.int64))
    env = make_env(exp, action_repeat=trained.recipe.action_repeat)
    frame, _ = env.reset(seed=seed)
    total, rows, steps = 0.0, np.zeros(1, np.int64), 0
    while steps < (max_frames or exp.max_frames):
        recon = (vae.decode(vae.encode(frame[None])[0])[0] * 255).round().astype(np.uint8)
        viewer.show(side_by_side(env.get_wrapper_attr("last_screen"), frame, recon,
                                 height=viewer.height))
        action = env_action(exp, agent.act(frame[None], rows))[0]
        frame, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += frames_taken(info)
        if terminated or truncated:
            break
    env.close()
    return total


def render_dream(exp: Experiment, trained: TrainedController, seed: int,
                 settings: DreamSettings, viewer: Viewer, max_frames: int | None = None) -> float:
    """One dream episode (at most `max_frames` steps) of M and initial_z of `trained`'s recipe,
    shown as V's decoding of each dreamed z; returns its reward."""
    core = load_dream(exp, trained.model_path("rnn"), trained.model_path("initial_z"), settings)
    vae, _ = trained.load_models()
    env = DreamEnv(core, trained.spec, vae=vae, render_mode="rgb_array")
    controller = trained.controller()
    obs, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(max_frames or exp.max_frames):
        viewer.show(side_by_side(env.render(), height=viewer.height))
        action = controller.act(obs[None, None])[0, 0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            break
    return total
