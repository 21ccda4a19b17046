"""estool.es: every solver improves sphere and Rosenbrock; CMA-ES converges; API details."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from estool.es import SOLVER_NAMES, make_solver
from estool.problems import rosenbrock_cost, sphere_cost

DIM = 10


def optimise(name: str, cost, generations: int, popsize: int = 16, sigma: float = 0.1,
             seed: int = 3):
    """Run a solver on ``cost``; return it and the cost of its mean before and after."""
    solver = make_solver(name, DIM, popsize, sigma, 0.999, True, 0.0, seed)
    start = float(cost(solver.current_param()[None])[0])
    for _ in range(generations):
        solver.tell(-cost(solver.ask()))
    return solver, start, float(cost(solver.current_param()[None])[0])


@pytest.mark.parametrize("name", SOLVER_NAMES)
@pytest.mark.parametrize("cost", [sphere_cost, rosenbrock_cost], ids=["sphere", "rosenbrock"])
def test_every_solver_improves(name: str, cost) -> None:
    solver, start, end = optimise(name, cost, 400, sigma=0.02)
    assert end < 0.5 * start, (name, start, end)
    best, best_reward, gen_best, sigma = solver.result()
    assert best.shape == (DIM,)
    assert best_reward >= gen_best
    assert best_reward == pytest.approx(-cost(best[None])[0])
    assert np.isfinite(sigma) and sigma > 0
    assert np.allclose(solver.best_param(), best)


def test_cmaes_reaches_1e8_on_sphere() -> None:
    _, start, end = optimise("cma", sphere_cost, 300, sigma=0.5)
    assert start == pytest.approx(2.5)
    assert end < 1e-8


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_set_mu_and_shapes(name: str) -> None:
    solver = make_solver(name, DIM, 8, 0.1, 0.999, True, 0.01, 0)
    assert solver.ask().shape == (8, DIM)
    mu = np.linspace(-1, 1, DIM)
    solver.set_mu(mu)
    assert np.allclose(solver.current_param(), mu)


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_weight_decay_penalises_large_params(name: str) -> None:
    """With equal rewards, the candidate with the smallest mean(theta^2) is the best."""
    solver = make_solver(name, DIM, 8, 1.0, 0.999, True, 0.5, 0)
    x = solver.ask()
    solver.tell(np.zeros(8))
    smallest = int(np.argmin(np.mean(x**2, axis=1)))
    assert np.allclose(solver.best_param(), x[smallest])
    assert solver.result()[1] == pytest.approx(-0.5 * np.mean(x[smallest] ** 2))


def test_cmaes_writes_no_files_and_is_seeded(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runs = []
    for _ in range(2):
        solver = make_solver("cma", DIM, 8, 0.1, 0.999, True, 0.01, seed=0)
        for _ in range(3):
            solver.tell(-sphere_cost(solver.ask()))
        runs.append(solver.current_param())
    assert np.array_equal(runs[0], runs[1])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", SOLVER_NAMES)
def test_pickled_solver_continues_identically(name: str) -> None:
    solver = make_solver(name, DIM, 8, 0.1, 0.999, True, 0.01, 5)
    for _ in range(3):
        solver.tell(-sphere_cost(solver.ask()))
    blob, global_rng = pickle.dumps(solver), np.random.get_state()  # noqa: NPY002
    a = [solver.ask() for _ in range(1)][0]
    clone = pickle.loads(blob)
    np.random.set_state(global_rng)  # noqa: NPY002 - pycma samples from the global RNG
    assert np.array_equal(clone.ask(), a)


def test_unknown_solver_and_odd_popsize() -> None:
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_solver("nope", DIM, 8)
    with pytest.raises(ValueError, match="even popsize"):
        make_solver("pepg", DIM, 7)
