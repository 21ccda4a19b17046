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

import numpy as np

from estool.argtypes import OneLineParser, positive_int
from worldmodels.agent import Z_MODES, Agent, run_episodes
from worldmodels.controller import Controller, ControllerSpec, controller_spec
from worldmodels.dream import DreamEnv, DreamSettings, add_dream_arguments, dream_settings
from worldmodels.envs import env_action, make_env
from worldmodels.experiments import CONTROLLER_MODES, Experiment
from worldmodels.loading import load_controller_params, load_dream, load_rnn, load_vae, training_settings
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
    args = parser.parse_args(argv)
    try:
        args.dream_settings = dream_settings(args, exp.temperature)
    except ValueError as err:
        parser.error(str(err))
    _parse_words(parser, exp, args)
    return args


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
    parser.add_argument("--controller-mode", choices=CONTROLLER_MODES, default=None,
                        help="default: the one FILE was trained with (its .settings.json), else zh")
    parser.add_argument("--batch", type=positive_int, default=8, help="real games played in lockstep")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="real game, norender: processes sharing the episodes, one per core "
                        "(each draws its own z noise, so scores depend on this, as on --batch)")
    parser.add_argument("--max-frames", type=positive_int, default=None)
    parser.add_argument("--action-runs", action="store_true",
                        help="real game, norender: also print, per episode, the median length "
                        "of runs of the same action and the length of the last run")
    parser.add_argument("--rnn", default=None,
                        help="M weight file (default: the experiment's); use the M the controller "
                        "was trained with")
    parser.add_argument("--vae", default=None, help="V weight file (default: the experiment's)")
    parser.add_argument("--z", choices=Z_MODES, default=None, dest="z_mode",
                        help="real game: C and M see z sampled from V (the reference) or V's mean "
                        "(default: what FILE was trained with, from its .settings.json, else sample)")
    parser.add_argument("--initial-z", default=None,
                        help="initial_z for the dream (default: the experiment's); use the one "
                        "made with M's V")
    return parser


def play_modes(controller_path: str, controller_mode: str | None = None,
               z_mode: str | None = None) -> tuple[str, str]:
    """(controller mode, z mode) to play the controller file `controller_path` with: the given
    ones, else those it was trained with (train.py's settings file beside it), else the
    reference's ("zh", "sample"). Refuses unknown values with one line (ModelFileError)."""
    trained = training_settings(controller_path)
    controller_mode = controller_mode or trained.get("controller_mode", "zh")
    z_mode = z_mode or trained.get("z_mode", "sample")
    if controller_mode not in CONTROLLER_MODES or z_mode not in Z_MODES:
        raise ModelFileError(f"{controller_path}: trained with controller mode {controller_mode!r} "
                             f"and z {z_mode!r}; known: {CONTROLLER_MODES} and {Z_MODES}")
    return controller_mode, z_mode


def load_trained_controller(exp: Experiment, path: str, controller_mode: str | None = None,
                            z_mode: str | None = None) -> tuple[ControllerSpec, np.ndarray, str]:
    """(spec, parameters (P,), z mode) of the controller file `path`, in the modes
    :func:`play_modes` picks."""
    controller_mode, z_mode = play_modes(path, controller_mode, z_mode)
    spec = controller_spec(exp, controller_mode)
    return spec, load_controller_params(path, spec.num_params), z_mode


def play_controller(exp: Experiment, args: argparse.Namespace) -> None:
    """Run a command line parsed by :func:`parse_play_args`: norender prints each test episode's
    reward and their mean (in the game's score unit), render shows or records one episode."""
    spec, params, args.z_mode = load_trained_controller(exp, args.file, args.controller_mode,
                                                        args.z_mode)
    if args.mode == "norender":
        _score(exp, args, spec, params)
    else:
        _show(exp, args, spec, params)


def _score(exp: Experiment, args: argparse.Namespace, spec: ControllerSpec,
           params: np.ndarray) -> None:
    dream = args.env == exp.dream_env_name
    seeds = [episode_seed(TEST_SEED_BASE + args.seed, i) for i in range(args.episodes)]
    start = time.perf_counter()
    if dream:
        core = load_dream(exp, args.rnn, args.initial_z, args.dream_settings)
        rewards, _ = core.rollout(Controller(spec, params), np.zeros(len(seeds), np.int64),
                                  seeds, args.max_frames)
        for i, r in enumerate(rewards):
            print(f"episode {i}: reward {r:.2f}", flush=True)
    else:
        rewards = play_real_parallel(
            args.workers, exp, spec, params, seeds, args.batch, args.max_frames, args.vae,
            args.rnn, args.action_runs, args.z_mode)
    if args.scores and not dream:
        write_scores(args.scores, args.env, exp.score_unit, seeds, {args.file: rewards},
                     {"paper": exp.paper_mean})
    print(f"{args.env}: {len(rewards)} episodes, mean {rewards.mean():.2f} +/- "
          f"{rewards.std():.2f} (standard error {standard_error(rewards):.2f}; min "
          f"{rewards.min():.2f}, max {rewards.max():.2f}) in "
          f"{time.perf_counter() - start:.0f}s", flush=True)


def _show(exp: Experiment, args: argparse.Namespace, spec: ControllerSpec,
          params: np.ndarray) -> None:
    record = args.record or (None if has_display() else f"videos/{args.env}.{args.seed}.mp4")
    viewer = Viewer(record, height=args.video_height, every=args.video_every)
    seed = episode_seed(TEST_SEED_BASE + args.seed, 0)
    if args.env == exp.dream_env_name:
        total = render_dream(exp, spec, params, seed, args.dream_settings, viewer, args.max_frames,
                             args.vae, args.rnn, args.initial_z)
    else:
        total = render_real(exp, spec, params, seed, viewer, args.max_frames, args.vae, args.rnn,
                            args.z_mode)
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


def play_real_parallel(workers: int, exp: Experiment, spec: ControllerSpec, params: np.ndarray,
                       seeds: list[int], batch: int, max_frames: int | None,
                       vae_path: str | None = None, rnn_path: str | None = None,
                       show_action_runs: bool = False, z_mode: str = "sample",
                       verbose: bool = True) -> np.ndarray:
    """:func:`play_real` with the episodes shared by `workers` processes, each pinned to one core
    with one BLAS thread: worker w plays the batches b with b % workers == w, with z noise from
    the seed (0, w) (one worker: play_real itself, seed 0). Returns rewards (len(seeds),) in the
    order of `seeds`."""
    options = (max_frames, vae_path, rnn_path, show_action_runs, z_mode, verbose)
    if workers <= 1:
        return play_real(exp, spec, params, seeds, batch, *options)
    load_vae(exp, vae_path), load_rnn(exp, rnn_path)  # a bad file: one error here, not one per worker
    index = np.arange(len(seeds))
    shares = [index[(index // batch) % workers == w] for w in range(workers)]
    shares = [share for share in shares if len(share)]
    jobs = [(w, exp, spec, params, [seeds[i] for i in share], batch, options, share.tolist())
            for w, share in enumerate(shares)]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.starmap(_play_real_worker, jobs)
    rewards = np.zeros(len(seeds))
    for share, r in zip(shares, results, strict=True):
        rewards[share] = r
    return rewards


def pin_worker(worker: int) -> None:
    """Pin this process to core `worker` (modulo the cores it may use) with one BLAS thread, so
    that parallel players do not fight over cores."""
    from threadpoolctl import threadpool_limits

    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[worker % len(cores)]})
    threadpool_limits(limits=1, user_api="blas")


def _play_real_worker(worker: int, exp: Experiment, spec: ControllerSpec, params: np.ndarray,
                      seeds: list[int], batch: int, options: tuple, numbers: list[int]) -> np.ndarray:
    """One process of play_real_parallel: pins itself to a core, then plays its episodes."""
    pin_worker(worker)
    return play_real(exp, spec, params, seeds, batch, *options, numbers=numbers,
                     rng_seed=(0, worker))


def play_real(exp: Experiment, spec: ControllerSpec, params: np.ndarray, seeds: list[int],
              batch: int, max_frames: int | None, vae_path: str | None = None,
              rnn_path: str | None = None, show_action_runs: bool = False,
              z_mode: str = "sample", verbose: bool = True, numbers: list[int] | None = None,
              rng_seed: int | tuple[int, int] = 0) -> np.ndarray:
    """Real-game rewards (len(seeds),), played `batch` games at a time, printed as they finish
    (as "episode NUMBER: reward R, steps T", numbers[i] for seeds[i], default i; T equal to the
    step cap means the episode was cut there; with `show_action_runs`, also each episode's
    :func:`action_runs`). V and M come from `vae_path` / `rnn_path` (default: the
    experiment's files); `z_mode` as in Agent; z noise from the seed `rng_seed`. Prints nothing
    when not `verbose`."""
    rng = np.random.default_rng(rng_seed)
    numbers = list(range(len(seeds))) if numbers is None else numbers
    agent = RecordingAgent(exp, load_vae(exp, vae_path), load_rnn(exp, rnn_path),
                           Controller(spec, params), rng, z_mode)
    envs = [make_env(exp) for _ in range(min(batch, len(seeds)))]
    rewards = []
    for start in range(0, len(seeds), len(envs)):
        part = seeds[start : start + len(envs)]
        r, steps = run_episodes(exp, agent, envs[: len(part)], part,
                                np.zeros(len(part), np.int64), max_frames)
        for row, (i, value, t) in enumerate(zip(numbers[start:], r, steps, strict=False)
                                            if verbose else ()):
            runs = ""
            if show_action_runs:
                median, last = action_runs(agent.actions[row])
                runs = f", action runs: median {median:.0f} steps, last {last} steps"
            print(f"episode {i}: reward {value:.2f}, steps {t}{runs}", flush=True)
        rewards.extend(r)
    for env in envs:
        env.close()
    return np.asarray(rewards)


def render_real(exp: Experiment, spec: ControllerSpec, params: np.ndarray, seed: int,
                viewer: Viewer, max_frames: int | None, vae_path: str | None = None,
                rnn_path: str | None = None, z_mode: str = "sample") -> float:
    """One real episode shown as [screen | 64x64 input | V's reconstruction]; returns its reward.
    `z_mode` as in Agent."""
    vae = load_vae(exp, vae_path)
    agent = Agent(exp, vae, load_rnn(exp, rnn_path), Controller(spec, params),
                  np.random.default_rng(0), z_mode)
    agent.reset(np.zeros(1, np.int64))
    env = make_env(exp)
    frame, _ = env.reset(seed=seed)
    total, rows = 0.0, np.zeros(1, np.int64)
    for _ in range(max_frames or exp.max_frames):
        recon = (vae.decode(vae.encode(frame[None])[0])[0] * 255).round().astype(np.uint8)
        viewer.show(side_by_side(env.last_screen, frame, recon, height=viewer.height))
        action = env_action(exp, agent.act(frame[None], rows))[0]
        frame, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            break
    env.close()
    return total


def render_dream(exp: Experiment, spec: ControllerSpec, params: np.ndarray, seed: int,
                 settings: DreamSettings, viewer: Viewer, max_frames: int | None = None,
                 vae_path: str | None = None, rnn_path: str | None = None,
                 initial_z_path: str | None = None) -> float:
    """One dream episode (at most `max_frames` steps) shown as V's decoding of each dreamed z;
    returns its reward."""
    core = load_dream(exp, rnn_path, initial_z_path, settings)
    env = DreamEnv(core, spec, vae=load_vae(exp, vae_path), render_mode="rgb_array")
    controller = Controller(spec, params)
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
