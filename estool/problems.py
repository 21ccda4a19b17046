"""Tiny problems for tests and examples, all with the batched evaluate API of the trainer.

Each factory takes the parsed ``argparse.Namespace`` (it reads ``problem_dim``, ``problem_noise``
and ``problem_sleep`` when present) and returns a :class:`estool.trainer.Problem`. Use one with
``python -m estool --problem estool.problems:sphere``.

Rewards are deterministic given the parameters and the seeds: episode ``j`` of candidate ``i`` draws
its noise from ``numpy.random.default_rng([seeds[i], j])``, so antithetic pairs that share a seed see
the same noise, and any split of the population across workers gives the same rewards.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Callable

import numpy as np

EPISODE_STEPS = 100  # the nominal length of one episode of these problems


def sphere_cost(x: np.ndarray) -> np.ndarray:
    """Sum of squares of ``x - 0.5`` per row: (k, P) -> (k,); minimum 0 at 0.5."""
    return np.sum((x - 0.5) ** 2, axis=1)


def rosenbrock_cost(x: np.ndarray) -> np.ndarray:
    """Rosenbrock function per row: (k, P) -> (k,); minimum 0 at all ones."""
    return np.sum(100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1.0 - x[:, :-1]) ** 2, axis=1)


class FunctionProblem:
    """Maximise ``-cost(params)`` plus optional seeded Gaussian noise per episode.

    Attributes: ``num_params`` (P), ``name`` (used in log file names).
    """

    def __init__(self, name: str, cost: Callable[[np.ndarray], np.ndarray], num_params: int = 10,
                 noise: float = 0.0, sleep: float = 0.0) -> None:
        self.name = name
        self.cost = cost
        self.num_params = num_params
        self.noise = noise
        self.sleep = sleep

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """Mean reward over ``num_episode`` episodes for each row of ``params`` (k, P).

        Returns (rewards (k,), steps (k,)): steps is ``min(max_len, 100)`` (100 if max_len <= 0).
        ``train_mode`` does not change these problems. ``sleep`` seconds are waited per call.
        """
        if self.sleep:
            time.sleep(self.sleep)
        params = np.asarray(params, dtype=np.float64)
        rewards = -self.cost(params)
        if self.noise:
            noise = np.array([[np.random.default_rng([int(s), j]).standard_normal()
                               for j in range(num_episode)] for s in seeds])
            rewards = rewards + self.noise * noise.mean(axis=1)
        steps = EPISODE_STEPS if max_len <= 0 else min(max_len, EPISODE_STEPS)
        return rewards, np.full(len(params), float(steps))


class FailingProblem(FunctionProblem):
    """Raises ``RuntimeError`` on every evaluation (to test error propagation from workers)."""

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """Always raises RuntimeError."""
        raise RuntimeError(f"FailingProblem: deliberate failure on {len(params)} candidates")


class DyingProblem(FunctionProblem):
    """Kills its own process with SIGKILL when evaluating (to test a worker that dies)."""

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """Never returns: the process is killed."""
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class NonFiniteProblem(FunctionProblem):
    """Like the sphere but candidate 1 of every batch gets a NaN reward."""

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """Sphere rewards with ``rewards[1] = nan`` (if there is a candidate 1)."""
        rewards, steps = super().evaluate(params, seeds, num_episode, max_len, train_mode)
        if len(rewards) > 1:
            rewards[1] = np.nan
        return rewards, steps


def _options(args: argparse.Namespace | None) -> dict:
    """Problem options from the namespace, with defaults when absent."""
    return {
        "num_params": int(getattr(args, "problem_dim", 10)),
        "noise": float(getattr(args, "problem_noise", 0.0)),
        "sleep": float(getattr(args, "problem_sleep", 0.0)),
    }


def sphere(args: argparse.Namespace | None = None) -> FunctionProblem:
    """Shifted sphere, name ``sphere``."""
    return FunctionProblem("sphere", sphere_cost, **_options(args))


def rosenbrock(args: argparse.Namespace | None = None) -> FunctionProblem:
    """Rosenbrock, name ``rosenbrock``."""
    return FunctionProblem("rosenbrock", rosenbrock_cost, **_options(args))


def failing(args: argparse.Namespace | None = None) -> FailingProblem:
    """A problem whose evaluate always raises, name ``failing``."""
    return FailingProblem("failing", sphere_cost, **_options(args))


def dying(args: argparse.Namespace | None = None) -> DyingProblem:
    """A problem whose evaluate SIGKILLs its process, name ``dying``."""
    return DyingProblem("dying", sphere_cost, **_options(args))


def nonfinite(args: argparse.Namespace | None = None) -> NonFiniteProblem:
    """A problem that returns NaN for candidate 1, name ``nonfinite``."""
    return NonFiniteProblem("nonfinite", sphere_cost, **_options(args))
