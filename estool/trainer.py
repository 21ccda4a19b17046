"""The ES trainer: generation loop, evaluation every N generations, logs, checkpoint and resume.

Entry point: :func:`main`. Each MPI rank parses the same arguments and builds its own problem with
the ``make_problem(args)`` factory. Rank 0 runs the solver; the other ranks evaluate.

Logs go to ``{log_dir}/{game}.{optimizer}.{num_episode}.{popsize}`` + ``.json`` (current mean,
rounded to 4 decimals), ``.hist.json`` (one row per generation, columns
:data:`estool.logfiles.HIST_COLUMNS`), ``.best.json``, ``.log.json``, ``.hist_best.json``,
``.settings.json`` and ``.checkpoint.pkl``; every file is written to a temporary name in the same
folder and renamed. Running the same command again resumes from the checkpoint. ``--init FILE``
starts the mean from a solution file instead of zeros.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import io
import json
import pickle
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from estool import mpi
from estool.argtypes import OneLineParser, non_negative_float, non_negative_int, positive_int
from estool.average import SolutionFileError, load_solution
from estool.es import SOLVER_NAMES, Solver, make_solver, popsize_problem
from estool.logfiles import (
    HIST,
    WriteError,
    atomic_write,
    hist_best_row,
    hist_dict,
    hist_row,
    portable_paths,
    remove_temporaries,
    rounded_params,
    write_json,
)
from estool.runlock import LockBusyError, RunLock

CHECKPOINT_VERSION = 1


class Problem(Protocol):
    """Anything the trainer can optimise.

    ``num_params``: P, the length of a parameter vector. ``name``: the game name used in log file
    names (unless ``main(game=...)`` overrides it).

    ``evaluate(params, seeds, num_episode, max_len, train_mode) -> (rewards, steps)``:
    params (k, P) float64, seeds (k,) int64; returns rewards (k,) (the mean return over
    ``num_episode`` episodes, higher is better) and steps (k,) (mean episode length). Episode ``j``
    of candidate ``i`` must use an environment seed derived deterministically from
    ``(seeds[i], j)`` only, so results do not depend on how the population is split (up to float
    rounding: BLAS may round a batch of another size differently, which a chaotic problem
    amplifies; see ``--blas-threads``). ``max_len``
    <= 0 means the problem's own episode limit. ``train_mode`` is False for the periodic
    evaluation of the mean (seeds 0..popsize-1).

    A problem may also have ``run_files() -> {suffix: text}``: files the trainer writes beside its
    logs (``{base}{suffix}``) when a run starts, e.g. how to play what it trains.
    """

    num_params: int
    name: str

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]: ...


def _opt(*flags: str, help: str, **kwargs: Any) -> dict:  # noqa: A002 - mirrors argparse
    """Field metadata: the argparse flags and options of one setting."""
    return {"flags": flags, "help": help, **kwargs}


@dataclass(frozen=True)
class Settings:
    """Trainer settings: the single source of defaults (the reference's, plus a few)."""

    optimizer: str = field(default="cma", metadata=_opt(
        "-o", "--optimizer", help="solver", choices=SOLVER_NAMES))
    num_episode: int = field(default=16, metadata=_opt(
        "--num-episode", help="episodes per candidate; its fitness is their mean",
        type=positive_int))
    eval_steps: int = field(default=25, metadata=_opt(
        "--eval-steps", help="evaluate the mean every this many generations (0: never)",
        type=non_negative_int))
    num_worker: int = field(default=64, metadata=_opt(
        "-n", "--num-worker", help="worker processes; -n N > 1 relaunches under mpiexec",
        type=positive_int))
    num_worker_trial: int = field(default=1, metadata=_opt(
        "-t", "--num-worker-trial", help="candidates per worker; popsize = n * t",
        type=positive_int))
    antithetic: bool = field(default=True, metadata=_opt(
        "--antithetic", help="candidates 2i and 2i+1 share environment seeds",
        action=argparse.BooleanOptionalAction))
    common_seeds: bool = field(default=False, metadata=_opt(
        "--common-seeds", help="every candidate of a generation plays the same episode seeds "
        "(common random numbers: how hard the episodes are drops out of the ranking)",
        action="store_true"))
    cap_time: int = field(default=0, metadata=_opt(
        "--cap-time", help="max steps per episode (0: the problem's own limit)",
        type=non_negative_int))
    retrain: bool = field(default=False, metadata=_opt(
        "--retrain", help="reset the mean to the best evaluated one when evaluation got worse",
        action="store_true"))
    seed_start: int = field(default=0, metadata=_opt(
        "-s", "--seed-start", help="seed of the solver and of the training-episode seeds"))
    sigma_init: float = field(default=0.1, metadata=_opt(
        "--sigma-init", help="initial standard deviation"))
    cma_diagonal: bool = field(default=False, metadata=_opt(
        "--cma-diagonal", help="cma: separable CMA-ES (only the covariance's diagonal is learnt, "
        "with learning rates about 400 times higher at 867 parameters and population 24; for "
        "hundreds of parameters and a small population)",
        action="store_true"))
    sigma_decay: float = field(default=0.999, metadata=_opt(
        "--sigma-decay", help="sigma decay per generation (not used by cma)"))
    weight_decay: float = field(default=0.01, metadata=_opt(
        "--weight-decay", help="fitness = reward - weight_decay * mean(params^2)"))
    max_generations: int = field(default=0, metadata=_opt(
        "--max-generations", help="stop after this generation (0: run until killed)",
        type=non_negative_int))
    max_seconds: float = field(default=0.0, metadata=_opt(
        "--max-seconds", help="stop after the generation that ends past this much training time "
        "(seconds, summed over resumes, evaluations included; 0: no limit); runs compared at "
        "equal training time use it", type=non_negative_float))
    log_dir: str = field(default="log", metadata=_opt(
        "--log-dir", help="folder for logs and the checkpoint"))
    no_mpi: bool = field(default=False, metadata=_opt(
        "--no-mpi", help="evaluate the whole population in this process, never use MPI",
        action="store_true"))
    pin_workers: bool = field(default=True, metadata=_opt(
        "--pin-workers", help="pin each MPI worker to its share of the CPUs",
        action=argparse.BooleanOptionalAction))
    blas_threads: int = field(default=0, metadata=_opt(
        "--blas-threads", help="BLAS threads in every process (0: with -n N > 1, the CPUs "
        "divided by N, else the BLAS default); with the BLAS kernel and the -n/-t split, this "
        "decides the exact floats of a chaotic problem", type=non_negative_int))
    init: str = field(default="", metadata=_opt(
        "--init", help="start the mean from this solution file ([params, ...], e.g. a .best.json "
        "evolved in a dream or in an earlier round) instead of zeros"))
    mpiexec: str = field(default="", metadata=_opt(
        "--mpiexec", help="mpiexec used by -n N > 1 (default: $ESTOOL_MPIEXEC, beside python, "
        "or on PATH)"))

    @property
    def popsize(self) -> int:
        """Population size: num_worker * num_worker_trial."""
        return self.num_worker * self.num_worker_trial

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> Settings:
        """Pick this dataclass's fields out of parsed arguments."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


# Settings that a checkpoint must agree with to be resumed (the rest may change between runs).
RESUME_KEYS = ("optimizer", "num_episode", "eval_steps", "antithetic", "cap_time", "retrain",
               "seed_start", "sigma_init", "sigma_decay", "weight_decay")
# Settings added later: they join the identity only when set, so older checkpoints still resume.
RESUME_KEYS_WHEN_SET = ("common_seeds", "cma_diagonal")


# Switches the reference set with a number ("--common_seeds 1"), accepted so too.
NUMERIC_SWITCHES = ("antithetic", "common_seeds", "retrain", "pin_workers")


def add_settings_arguments(parser: argparse.ArgumentParser, defaults: Settings) -> None:
    """Add one argparse option per Settings field, with ``defaults`` as the defaults."""
    for f in dataclasses.fields(Settings):
        meta = dict(f.metadata)
        flags = meta.pop("flags")
        default = getattr(defaults, f.name)
        if "action" in meta:  # an on/off switch
            meta["help"] += " (default: on)" if default else ""
            parser.add_argument(*flags, dest=f.name, default=default, **meta)
            if f.name in NUMERIC_SWITCHES and isinstance(parser, OneLineParser):
                parser.numeric_switches.add(flags[0])  # the reference wrote "--retrain 1"
        else:
            kind = meta.pop("type", None) or {"int": int, "float": float, "str": str}[str(f.type)]
            meta["help"] += f" (default: {default})" if default != "" else ""
            parser.add_argument(*flags, dest=f.name, type=kind, default=default, **meta)


def build_parser(add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
                 problem_option: bool = False,
                 defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The trainer's argument parser.

    ``add_arguments(parser)`` may add the caller's own options; ``defaults`` overrides Settings
    defaults (e.g. ``{"seed_start": 111}``); ``problem_option`` adds ``--problem module:factory``
    and the options of :mod:`estool.problems`.
    """
    parser = OneLineParser(description="Evolution strategies trainer (estool)",
                           prog="python -m estool" if problem_option else None)
    add_settings_arguments(parser, dataclasses.replace(Settings(), **(defaults or {})))
    if problem_option:
        parser.add_argument("--problem", default="estool.problems:sphere",
                            help="problem factory module:function (default: %(default)s)")
        parser.add_argument("--problem-dim", type=positive_int, default=10, help="parameters (P)")
        parser.add_argument("--problem-noise", type=float, default=0.0,
                            help="std of seeded per-episode reward noise")
        parser.add_argument("--problem-sleep", type=float, default=0.0,
                            help="seconds each evaluate call sleeps")
    if add_arguments is not None:
        add_arguments(parser)
    return parser


def load_factory(spec: str) -> Callable[[argparse.Namespace], Problem]:
    """Import ``module:function``."""
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"estool: --problem must look like module:function, got {spec!r}")
    return getattr(importlib.import_module(module), name)


# -- episode seeds --------------------------------------------------------------------------------
def seed_batch(seeder: np.random.Generator, popsize: int, antithetic: bool,
               common: bool = False) -> np.ndarray:
    """Training-episode seeds (popsize,) int64: one seed for all with `common`, else antithetic
    pairs (2i, 2i+1) share a seed, else each candidate its own."""
    if common:
        return np.repeat(seeder.integers(0, 2**31 - 1, size=1, dtype=np.int64), popsize)
    if antithetic:
        half = seeder.integers(0, 2**31 - 1, size=(popsize + 1) // 2, dtype=np.int64)
        return np.repeat(half, 2)[:popsize]
    return seeder.integers(0, 2**31 - 1, size=popsize, dtype=np.int64)


# -- state ----------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Everything needed to continue bit-identically; pickled as the checkpoint."""

    identity: dict[str, Any]
    solver: Solver
    seeder: np.random.Generator
    np_random_state: Any = None
    generation: int = 0
    elapsed: float = 0.0
    history: list[list[float]] = field(default_factory=list)
    eval_log: list[list[Any]] = field(default_factory=list)
    hist_best: list[list[Any]] = field(default_factory=list)
    best_eval_reward: float | None = None
    best_eval_params: list[float] | None = None
    version: int = CHECKPOINT_VERSION


def run_identity(settings: Settings, game: str, num_params: int) -> dict[str, Any]:
    """What a checkpoint must match to be resumed by these settings."""
    ident = {key: getattr(settings, key) for key in RESUME_KEYS}
    ident.update(game=game, num_params=num_params, popsize=settings.popsize)
    ident.update({key: getattr(settings, key) for key in RESUME_KEYS_WHEN_SET
                  if getattr(settings, key)})
    if settings.init:  # absent otherwise, so that runs without --init resume as before
        init = Path(settings.init)
        ident["init_sha256"] = hashlib.sha256(init.read_bytes()).hexdigest() if init.is_file() else None
    return ident


def initial_mean(path: str, num_params: int) -> np.ndarray:
    """The parameters (num_params,) of the solution file `path`, for ``--init``; exits with one
    line if the file is missing, unreadable or of another size."""
    try:
        mu = load_solution(path)
    except SolutionFileError as err:
        raise SystemExit(f"estool: --init {err}") from None
    if mu.size != num_params:
        raise SystemExit(f"estool: --init {path}: {mu.size} parameters, the problem has {num_params}")
    return mu


def new_state(settings: Settings, game: str, num_params: int) -> TrainState:
    """A fresh run: solver and seeder seeded from ``seed_start``."""
    solver = make_solver(settings.optimizer, num_params, settings.popsize, settings.sigma_init,
                         settings.sigma_decay, bool(settings.antithetic), settings.weight_decay,
                         settings.seed_start, settings.cma_diagonal)
    if settings.init:
        solver.set_mu(initial_mean(settings.init, num_params))
    seeder = np.random.default_rng(settings.seed_start)
    return TrainState(run_identity(settings, game, num_params), solver, seeder)


COMPACT_VERSION = 1


def save_compact_state(path: Path, state: TrainState) -> None:
    """The run's compact state (``.es_state.npz``, a few kB): the CMA-ES solver's
    :meth:`~estool.es.CMAES.compact_state`, the generation, the training-seed generator and the
    run's identity. Small enough to commit at milestones; with the json logs beside it, a run
    goes on from it on a machine that has no checkpoint (:func:`state_from_compact`)."""
    arrays = {f"solver_{k}": np.asarray(v) for k, v in state.solver.compact_state().items()}
    meta = {"version": COMPACT_VERSION, "generation": state.generation, "elapsed": state.elapsed,
            "identity": state.identity, "seeder": state.seeder.bit_generator.state}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps(meta, default=int)), **arrays)
    atomic_write(path, buffer.getvalue(), sync=True)


def state_from_compact(path: Path, settings: Settings, identity: dict[str, Any],
                       logs: dict[str, Path]) -> TrainState:
    """A cma run rebuilt from its compact state `path` and its json logs (`logs`: ".hist.json",
    ".log.json", ".hist_best.json" -> file): the same mean, step size and
    per-parameter scales, training seeds and logs; the covariance's off-diagonal part and
    pycma's evolution paths start afresh, so the run goes on close to, not bit-identically
    with, an uninterrupted one. Exits with one line if the file does not fit."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            compact = {k.removeprefix("solver_"): data[k] for k in data.files if k != "meta"}
        if meta.get("version") != COMPACT_VERSION:
            raise ValueError(f"unknown version {meta.get('version')!r}")
        generation, elapsed = int(meta["generation"]), float(meta["elapsed"])
        saved_identity, seeder_state = dict(meta["identity"]), dict(meta["seeder"])
        if set(compact) != {"mean", "sigma", "stds"}:
            raise ValueError(f"holds {sorted(compact)}, not mean, sigma and stds")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise SystemExit(f"estool: {path} is not a compact ES state ({err}); delete it to restart "
                         "the run from generation 0") from None
    _check_identity(path, saved_identity, identity)
    # A stream of its own for each resumed generation, so a resumed run does not redraw gen 0's.
    solver = make_solver(settings.optimizer, int(identity["num_params"]), settings.popsize,
                         settings.sigma_init, settings.sigma_decay, bool(settings.antithetic),
                         settings.weight_decay, settings.seed_start + 7919 * generation,
                         settings.cma_diagonal, compact=compact)
    seeder = np.random.default_rng()
    seeder.bit_generator.state = seeder_state
    state = TrainState(dict(identity), solver, seeder, generation=generation, elapsed=elapsed)
    state.history = _read_log(logs[".hist.json"])[:generation]
    state.eval_log = [row for row in _read_log(logs[".log.json"]) if row[0] <= generation]
    state.hist_best = [row for row in _read_log(logs[".hist_best.json"]) if row[0] <= generation]
    if state.eval_log:  # the first of the best evaluations, as the uninterrupted run kept it
        _, reward, params = max(state.eval_log, key=lambda row: (row[1], -row[0]))
        state.best_eval_params, state.best_eval_reward = params, float(reward)
    return state


def _read_log(path: Path) -> list:
    """A json log's rows ([] when the file does not exist)."""
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"estool: {path}: unreadable log ({err})") from None


def _check_identity(path: Path, saved: dict[str, Any], identity: dict[str, Any]) -> None:
    """Exit with one line naming what differs when a saved run's identity is not `identity`."""
    keys = list(identity) + [k for k in saved if k not in identity]
    diff = [f"{k}: checkpoint {saved.get(k)!r} != now {identity.get(k)!r}"
            for k in keys if saved.get(k) != identity.get(k)]
    if diff:
        raise SystemExit(f"estool: {path} was made with other settings ({'; '.join(diff)}); "
                         "use the same settings, another --log-dir, or delete it")


def save_checkpoint(path: Path, state: TrainState) -> None:
    """Pickle ``state`` (with numpy's global RNG state, used by pycma) atomically and fsynced."""
    state.np_random_state = np.random.get_state()  # noqa: NPY002 - pycma uses the global RNG
    atomic_write(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), sync=True)


def load_checkpoint(path: Path, identity: dict[str, Any]) -> TrainState:
    """Load a checkpoint and restore numpy's global RNG; exit with one line if it cannot be read
    or does not fit."""
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)  # the trainer's own checkpoint: the only pickle in the project
    except (OSError, EOFError, MemoryError, pickle.UnpicklingError, AttributeError, ImportError,
            IndexError, KeyError, TypeError, ValueError) as err:
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise SystemExit(f"estool: {path} is unreadable, truncated or corrupt ({reason}); delete it "
                         "to restart the run from generation 0") from None
    if not isinstance(state, TrainState) or state.version != CHECKPOINT_VERSION:
        raise SystemExit(f"estool: {path} has an unknown checkpoint version; delete it to restart")
    _check_identity(path, state.identity, identity)
    np.random.set_state(state.np_random_state)  # noqa: NPY002 - pycma uses the global RNG
    return state


# -- the trainer ----------------------------------------------------------------------------------
class Trainer:
    """Runs generations on rank 0 with a pool (LocalPool or MPIPool) doing the evaluations."""

    def __init__(self, settings: Settings, problem: Problem, pool: Any, game: str,
                 extra: dict[str, Any] | None = None, blas: dict[str, Any] | None = None) -> None:
        self.s = settings
        self.pool = pool
        self.game = game
        self.num_params = int(problem.num_params)
        self.extra = extra or {}
        self.run_files: dict[str, str] = getattr(problem, "run_files", dict)()
        self.blas = blas  # mpi.summarize_blas of every process, recorded with the settings
        self.log_dir = Path(settings.log_dir)
        self.base = self.log_dir / f"{game}.{settings.optimizer}.{settings.num_episode}." \
                                   f"{settings.popsize}"
        self.checkpoint = self.base.with_name(self.base.name + ".checkpoint.pkl")
        self.saved_generation: int | None = None  # the generation the checkpoint on disk holds
        self.lock = RunLock(self.log_dir)  # held from start() to the end of run()

    def path(self, suffix: str) -> Path:
        """Log file ``{base}{suffix}``."""
        return self.base.with_name(self.base.name + suffix)

    def start(self) -> TrainState:
        """Lock the log folder, resume from the checkpoint if there is one, else start fresh;
        write settings. Exits with one line when another live run holds the folder."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except LockBusyError as err:
            raise SystemExit(f"estool: {err}") from None
        remove_temporaries(self.base)  # left by a killed run
        identity = run_identity(self.s, self.game, self.num_params)
        all_settings = portable_paths({**dataclasses.asdict(self.s), **self.extra,
                                       "popsize": self.s.popsize, "num_params": self.num_params,
                                       "game": self.game})
        print("estool settings: " + json.dumps(all_settings, sort_keys=True), flush=True)
        if self.blas is not None:
            all_settings["blas"] = self.blas
            print("estool: " + mpi.describe_blas(self.blas), flush=True)
        compact = self.path(".es_state.npz")
        if self.checkpoint.exists():
            state = load_checkpoint(self.checkpoint, identity)
            self.saved_generation = state.generation
            print(f"estool: resuming {self.checkpoint} after generation {state.generation}",
                  flush=True)
        elif compact.exists():
            logs = {suffix: self.path(suffix) for suffix in (".hist.json", ".log.json",
                                                             ".hist_best.json")}
            state = state_from_compact(compact, self.s, identity, logs)
            print(f"estool: no checkpoint; going on from the compact state {compact} after "
                  f"generation {state.generation} (mean, step size and per-parameter scales; the "
                  "covariance's off-diagonal part starts afresh)", flush=True)
        else:
            state = new_state(self.s, self.game, self.num_params)
        if state.generation:
            self.check_run_files()
        write_json(self.path(".settings.json"), all_settings)
        for suffix, text in self.run_files.items():
            atomic_write(self.path(suffix), text.encode())
        self.write_logs(state, evaluated=True)
        return state

    def check_run_files(self) -> None:
        """Exit with one line when a run goes on with other run files (e.g. another action
        repeat in the recipe of the controllers it trains) than it was started with."""
        for suffix, text in self.run_files.items():
            path = self.path(suffix)
            if path.is_file() and path.read_text() != text:
                raise SystemExit(f"estool: {path} says how this run's solutions are used, and the "
                                 "settings given now say otherwise; use the run's settings, "
                                 "another --log-dir, or delete the run")

    def run(self) -> int:
        """Train until ``max_generations`` (or forever). Returns the exit code.

        A failed write (disk full, file-size limit) ends the run with one line saying which file
        and which generation the intact checkpoint holds, from where the same command resumes.
        """
        try:
            return self._train()
        except WriteError as err:
            if self.saved_generation is None:
                kept = ("no checkpoint was written yet: the same command starts the run again (from "
                        "its compact state, if it has one)")
            else:
                kept = (f"{self.checkpoint} still holds generation {self.saved_generation}: run the "
                        "same command again to resume")
            raise SystemExit(f"estool: {err}; {kept}") from None
        finally:
            self.lock.release()

    def _train(self) -> int:
        state = self.start()
        clock0, elapsed0 = time.monotonic(), state.elapsed
        while not self.finished(state):
            self.generation(state)
            state.elapsed = elapsed0 + time.monotonic() - clock0
            state.history[-1][HIST["elapsed_s"]] = round(state.elapsed, 3)
            self.print_generation(state)
            evaluated = self.maybe_evaluate(state)
            state.elapsed = elapsed0 + time.monotonic() - clock0  # the evaluation counts too
            save_checkpoint(self.checkpoint, state)
            self.saved_generation = state.generation
            self.write_logs(state, evaluated)
            if self.s.optimizer == "cma":  # last: the logs it goes on from are complete
                save_compact_state(self.path(".es_state.npz"), state)
        print(f"estool: done after generation {state.generation}", flush=True)
        return 0

    def finished(self, state: TrainState) -> bool:
        """Whether ``max_generations`` or ``max_seconds`` of training is reached."""
        return bool(self.s.max_generations and state.generation >= self.s.max_generations
                    or self.s.max_seconds and state.elapsed >= self.s.max_seconds)

    def generation(self, state: TrainState) -> None:
        """ask, evaluate with fresh seeds, tell; append a history row."""
        solutions = state.solver.ask()
        seeds = seed_batch(state.seeder, self.s.popsize, bool(self.s.antithetic),
                           bool(self.s.common_seeds))
        rewards, steps = self.pool.evaluate(solutions, seeds, self.s.num_episode, self.s.cap_time,
                                            True)
        state.solver.tell(rewards)
        state.generation += 1
        state.history.append(hist_row(
            generation=state.generation, elapsed_s=0.0, mean=float(np.mean(rewards)),
            min=float(np.min(rewards)), max=float(np.max(rewards)), std=float(np.std(rewards)),
            sigma=state.solver.rms_stdev(), mean_steps=float(np.mean(steps)),
            max_steps=float(np.max(steps))))

    def maybe_evaluate(self, state: TrainState) -> bool:
        """Every eval_steps generations: evaluate the mean on seeds 0..popsize-1, keep the best."""
        if not self.s.eval_steps or state.generation % self.s.eval_steps:
            return False
        mean = state.solver.current_param()
        params = np.tile(mean, (self.s.popsize, 1))
        seeds = np.arange(self.s.popsize, dtype=np.int64)
        rewards, _ = self.pool.evaluate(params, seeds, self.s.num_episode, self.s.cap_time, False)
        reward = float(np.mean(rewards))
        prev = state.best_eval_reward
        state.eval_log.append([state.generation, reward, mean.tolist()])
        if prev is None or reward > prev:
            state.best_eval_reward, state.best_eval_params = reward, mean.tolist()
        elif self.s.retrain:
            state.solver.set_mu(np.array(state.best_eval_params))
        improvement = None if prev is None else reward - prev
        state.hist_best.append(hist_best_row(state.generation, round(state.elapsed, 3),
                                             improvement, reward, prev, state.best_eval_reward))
        reset = " (retrain: mean reset to best)" if self.s.retrain and prev is not None \
            and reward <= prev else ""
        print(f"eval gen {state.generation}  reward {reward:.6g}  best "
              f"{state.best_eval_reward:.6g}{reset}", flush=True)
        return True

    def write_logs(self, state: TrainState, evaluated: bool) -> None:
        """Rewrite the per-generation logs, and the evaluation logs when ``evaluated``."""
        write_json(self.path(".json"), [rounded_params(state.solver.current_param())])
        write_json(self.path(".hist.json"), state.history)
        if evaluated and state.best_eval_params is not None:
            write_json(self.path(".best.json"), [state.best_eval_params, state.best_eval_reward])
            write_json(self.path(".log.json"), state.eval_log)
            write_json(self.path(".hist_best.json"), state.hist_best)

    @staticmethod
    def print_generation(state: TrainState) -> None:
        """One flushed progress line."""
        row = hist_dict(state.history[-1])
        print(f"gen {row['generation']}  time {row['elapsed_s']:.1f}s  mean {row['mean']:.6g}  "
              f"min {row['min']:.6g}  max {row['max']:.6g}  std {row['std']:.4g}  "
              f"sigma {row['sigma']:.4g}  steps {row['mean_steps']:.0f}/{row['max_steps']:.0f}",
              flush=True)


# -- entry point ----------------------------------------------------------------------------------
def check_popsize(settings: Settings) -> None:
    """Exit with one line when the optimizer cannot run with popsize = num_worker * trials."""
    problem = popsize_problem(settings.optimizer, settings.popsize, bool(settings.antithetic))
    if problem:
        raise SystemExit(f"estool: {problem} (popsize = -n {settings.num_worker} x -t "
                         f"{settings.num_worker_trial}); change -t (--num-worker-trial) or -n")


def main(argv: list[str] | None = None,
         make_problem: Callable[[argparse.Namespace], Problem] | None = None,
         game: str | None = None,
         add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
         defaults: dict[str, Any] | None = None) -> int:
    """Parse arguments, set up processes (local, relaunch or MPI) and train. Returns exit code.

    ``make_problem(args)`` is called once in every process after parsing; without it the
    ``--problem module:function`` option chooses the factory. ``game`` names the log files
    (default: ``problem.name``). ``add_arguments(parser)`` adds the caller's options and
    ``defaults`` overrides Settings defaults.
    """
    parser = build_parser(add_arguments, make_problem is None, defaults)
    parser.checks.append(lambda parsed: check_popsize(Settings.from_namespace(parsed)))
    args = parser.parse_args(argv)
    settings = Settings.from_namespace(args)
    factory = make_problem or load_factory(args.problem)
    extra = {k: v for k, v in vars(args).items() if k not in settings.__dataclass_fields__}
    if settings.no_mpi or (settings.num_worker <= 1 and not mpi.inside_mpi()):
        return _run_local(settings, factory, args, game, extra)
    if not mpi.inside_mpi():
        if argv is not None and list(argv) != sys.argv[1:]:
            raise SystemExit("estool: -n > 1 relaunches the command line under mpiexec; called "
                             "with another argv, launch it with mpiexec yourself")
        mpi.relaunch(settings.num_worker, settings.mpiexec, settings.blas_threads)
    return _run_mpi(settings, factory, args, game, extra)


def _run_local(settings: Settings, factory: Callable[[argparse.Namespace], Problem],
               args: argparse.Namespace, game: str | None, extra: dict[str, Any]) -> int:
    """Everything in this process."""
    if settings.blas_threads > 0:
        mpi.limit_blas_threads(settings.blas_threads)
    blas = mpi.summarize_blas([mpi.blas_info()])
    problem = factory(args)
    trainer = Trainer(settings, problem, mpi.LocalPool(problem), game or problem.name, extra, blas)
    return trainer.run()


def _run_mpi(settings: Settings, factory: Callable[[argparse.Namespace], Problem],
             args: argparse.Namespace, game: str | None, extra: dict[str, Any]) -> int:
    """Rank 0 trains, the other ranks serve evaluations; any master error aborts the job."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if size == 1:
        return _run_local(settings, factory, args, game, extra)
    if size - 1 != settings.num_worker:
        if rank == 0:
            print(f"estool: warning: MPI has {size} processes, so {size - 1} workers "
                  f"(not -n {settings.num_worker})", file=sys.stderr, flush=True)
        settings = dataclasses.replace(settings, num_worker=size - 1)
        if rank == 0:
            try:
                check_popsize(settings)
            except SystemExit as exit_:
                mpi.abort(comm, str(exit_.code))
    mpi.prepare_rank(comm, bool(settings.pin_workers))
    if settings.blas_threads > 0:
        mpi.limit_blas_threads(settings.blas_threads)
    infos = mpi.gather_json(comm, mpi.blas_info())
    try:
        problem = factory(args)
        if rank != 0:
            return mpi.worker_loop(comm, problem)
        pool = mpi.MPIPool(comm)
        trainer = Trainer(settings, problem, pool, game or problem.name, extra,
                          mpi.summarize_blas(infos))
        code = trainer.run()
        pool.close()
        return code
    except SystemExit as exit_:
        if rank == 0 and exit_.code not in (None, 0):
            mpi.abort(comm, str(exit_.code))
        raise
    except BaseException:  # noqa: BLE001 - report anything, then end the whole job
        text = traceback.format_exc()
        if rank != 0:
            mpi.send_failure(comm, text)
            return mpi.wait_for_stop(comm)
        mpi.abort(comm, f"master failed:\n{text}")
        return 1
