"""Evolution strategies behind one ask/tell API.

Every solver maximises. ``ask()`` returns a ``(popsize, num_params)`` float64 array of candidates,
``tell(rewards)`` takes their ``(popsize,)`` rewards (higher is better). Weight decay is applied in
exactly one place, :meth:`Solver._fitness`: the fitness a solver optimises is
``reward - weight_decay * mean(theta**2)``, which penalises large parameters (the reference's CMA-ES
added this term with the wrong sign, rewarding large parameters).

Solvers: :class:`CMAES` (pycma), :class:`OpenES` (Salimans et al. 2017), :class:`PEPG`
(Sehnke et al. 2010, with ``ses`` as its elite-averaging variant) and :class:`SimpleGA`.
Choose one by name with :func:`make_solver`.
"""

from __future__ import annotations

import numpy as np

SOLVER_NAMES = ("cma", "pepg", "ses", "openes", "ga")
# pycma's smallest default population (4 + 3 ln N). Below it pycma fails after a generation or two:
# from 300 parameters its step-size rule injects two candidates per generation, so a population of
# 2 leaves none to sample, and a population of 1 has no weights to recombine.
CMA_MIN_POPSIZE = 4


def popsize_problem(name: str, popsize: int, antithetic: bool = True) -> str | None:
    """Why solver ``name`` cannot run with ``popsize`` candidates per generation; None if it can."""
    if popsize < 1:
        return f"popsize must be at least 1, got {popsize}"
    if name == "cma" and popsize < CMA_MIN_POPSIZE:
        return f"cma needs a popsize of at least {CMA_MIN_POPSIZE}, got {popsize}"
    if name in ("pepg", "ses") and popsize % 2:
        return f"{name} samples symmetric pairs and needs an even popsize, got {popsize}"
    if name == "openes" and antithetic and popsize % 2:
        return f"antithetic openes needs an even popsize, got {popsize}"
    return None


def global_randn(*shape: int) -> np.ndarray:
    """Standard normal samples of ``shape`` from numpy's global random state (pycma's sampler).

    pycma keeps its sampler as a reference inside the solver. ``np.random.randn`` itself is a
    method bound to the global RandomState, which pickles as a private copy of that state: after a
    checkpoint is unpickled pycma would draw from the copy, while everything else pycma draws (its
    step-size control uses ``np.random`` directly) and the trainer's restore act on the global
    state, and the two streams part. A module-level function pickles by name, so a restored solver
    samples from the one global state the trainer restores, as an uninterrupted run does.
    """
    return np.random.randn(*shape)  # noqa: NPY002 - pycma's stream is numpy's global state


def centered_ranks(x: np.ndarray) -> np.ndarray:
    """Map ``x`` (n,) to ranks scaled into [-0.5, 0.5] (n,); ties keep their input order."""
    n = len(x)
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(x, kind="stable")] = np.arange(n, dtype=np.float64)
    if n == 1:
        return np.zeros(1)
    return ranks / (n - 1) - 0.5


def _require_popsize(name: str, popsize: int, antithetic: bool = True) -> None:
    """Raise ValueError with :func:`popsize_problem`'s reason, if there is one."""
    problem = popsize_problem(name, popsize, antithetic)
    if problem:
        raise ValueError(problem)


class Adam:
    """Adam ascent on a parameter vector; ``step(grad)`` returns the update to add (P,)."""

    def __init__(self, num_params: int, learning_rate: float, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m = np.zeros(num_params)
        self.v = np.zeros(num_params)
        self.t = 0

    def step(self, grad: np.ndarray) -> np.ndarray:
        """Return the ascent step for gradient ``grad`` (P,), using the current learning rate."""
        self.t += 1
        self.m = self.beta1 * self.m + (1.0 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1.0 - self.beta2) * grad * grad
        m_hat = self.m / (1.0 - self.beta1**self.t)
        v_hat = self.v / (1.0 - self.beta2**self.t)
        return self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)


class Solver:
    """Common state and API: best-so-far tracking, weight decay, result()."""

    def __init__(self, num_params: int, popsize: int, weight_decay: float) -> None:
        if num_params < 1:
            raise ValueError(f"need num_params >= 1, got {num_params}")
        self.num_params = num_params
        self.popsize = popsize
        self.weight_decay = weight_decay
        self.solutions = np.zeros((popsize, num_params))
        self.best_reward = -np.inf
        self.curr_best_reward = -np.inf
        self.best_mu = np.zeros(num_params)

    # -- the one place weight decay is applied ------------------------------------------------
    def _fitness(self, rewards: np.ndarray) -> np.ndarray:
        """Rewards (popsize,) minus ``weight_decay * mean(theta**2)`` of each candidate."""
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if rewards.shape != (self.popsize,):
            raise ValueError(f"expected {self.popsize} rewards, got {rewards.shape[0]}")
        if self.weight_decay:
            rewards = rewards - self.weight_decay * np.mean(self.solutions**2, axis=1)
        return rewards

    def _track_best(self, fitness: np.ndarray) -> None:
        """Remember the best candidate of this generation and of all generations."""
        i = int(np.argmax(fitness))
        self.curr_best_reward = float(fitness[i])
        if self.curr_best_reward > self.best_reward:
            self.best_reward = self.curr_best_reward
            self.best_mu = self.solutions[i].copy()

    # -- API -----------------------------------------------------------------------------------
    def ask(self) -> np.ndarray:
        """Return candidates to evaluate, shape (popsize, num_params)."""
        raise NotImplementedError

    def tell(self, rewards: np.ndarray) -> None:
        """Update from the rewards (popsize,) of the last ``ask()``; higher is better."""
        fitness = self._fitness(rewards)
        self._track_best(fitness)
        self._update(fitness)

    def _update(self, fitness: np.ndarray) -> None:
        """The solver's own step from the weight-decayed fitness (popsize,) of the last ``ask()``."""
        raise NotImplementedError

    def current_param(self) -> np.ndarray:
        """The solver's current estimate (its mean): what gets evaluated and saved (P,)."""
        raise NotImplementedError

    def set_mu(self, mu: np.ndarray) -> None:
        """Move the solver's mean to ``mu`` (P,)."""
        raise NotImplementedError

    def rms_stdev(self) -> float:
        """Root mean square of the per-parameter sampling standard deviation."""
        raise NotImplementedError

    def best_param(self) -> np.ndarray:
        """Best single candidate seen so far (P,) by (weight-decayed) training fitness."""
        return self.best_mu.copy()

    def result(self) -> tuple[np.ndarray, float, float, float]:
        """(best params (P,), best fitness ever, best fitness of the last generation, rms sigma)."""
        return self.best_param(), self.best_reward, self.curr_best_reward, self.rms_stdev()


class CMAES(Solver):
    """CMA-ES from pycma, seeded, quiet, writing no files.

    pycma samples from numpy's global random state through :func:`global_randn`, so the state a
    checkpoint restores is the one the restored solver samples from.
    """

    def __init__(self, num_params: int, popsize: int = 64, sigma_init: float = 0.1,
                 weight_decay: float = 0.01, seed: int = 0, diagonal: bool = False,
                 stds: np.ndarray | None = None) -> None:
        """`diagonal`: separable CMA-ES (pycma's ``CMA_diagonal``: only the diagonal of the
        covariance is learnt, with learning rates hundreds of times the full matrix's: pycma's
        c1 2.7e-6 -> 1.1e-3 and cmu 1.4e-5 -> 5.5e-3 at 867 parameters and population 24).
        `stds` (num_params,): initial per-parameter scales relative to `sigma_init` (pycma's
        ``CMA_stds``; default: all 1)."""
        import cma

        _require_popsize("cma", popsize)
        super().__init__(num_params, popsize, weight_decay)
        self.sigma_init = sigma_init
        # What pycma does with the option seed=s and its default sampler; with another sampler it
        # leaves seeding to the caller. The +1 keeps the streams of runs made with pycma seeding
        # (which treated seed 0 as "seed from the clock").
        np.random.seed(int(seed) + 1)  # noqa: NPY002 - pycma's stream is numpy's global state
        options = {
            "popsize": popsize,
            "randn": global_randn,
            "seed": float("nan"),  # pycma: seeding left to us (above)
            "verbose": -9,
            "verb_log": 0,  # no outcmaes/ files
            "verb_disp": 0,
            "verb_filenameprefix": "",
            "signals_filename": "",  # do not look for cma_signals.in in the working directory
            "verb_time": False,
        }
        if diagonal:
            options["CMA_diagonal"] = True
        if stds is not None:
            options["CMA_stds"] = np.asarray(stds, dtype=np.float64)
        self.es = cma.CMAEvolutionStrategy(np.zeros(num_params), sigma_init, options)

    @staticmethod
    def _pycma_cost(fitness: np.ndarray) -> list[float]:
        """pycma minimises: the one place where our maximised fitness is negated."""
        return [-float(f) for f in fitness]

    def ask(self) -> np.ndarray:
        """Sample popsize candidates from pycma (uses numpy's global RNG, seeded by pycma)."""
        self.solutions = np.array(self.es.ask(), dtype=np.float64)
        return self.solutions.copy()

    def _update(self, fitness: np.ndarray) -> None:
        """Pass the fitness, negated, to pycma."""
        self.es.tell(list(self.solutions), self._pycma_cost(fitness))

    def current_param(self) -> np.ndarray:
        """pycma's mean (``result.xfavorite``)."""
        return np.array(self.es.mean, dtype=np.float64)

    def set_mu(self, mu: np.ndarray) -> None:
        """Overwrite pycma's mean in place."""
        self.es.mean[:] = np.asarray(mu, dtype=np.float64)

    def rms_stdev(self) -> float:
        """RMS of sigma * sqrt(diag(C))."""
        stds = np.asarray(self.es.result.stds, dtype=np.float64)
        return float(np.sqrt(np.mean(stds * stds)))

    def compact_state(self) -> dict[str, np.ndarray]:
        """The mean (P,), the step size sigma and the per-parameter standard deviations (P,)
        (sigma * sqrt(diag(C))): enough to go on from, without the off-diagonal covariance and
        the evolution paths."""
        return {"mean": self.current_param(), "sigma": np.float64(self.es.sigma),
                "stds": np.asarray(self.es.result.stds, dtype=np.float64)}


class _MeanSearch(Solver):
    """Shared by OpenES and PEPG: Gaussian search around a mean ``mu`` (P,) that Adam moves, with a
    learning rate multiplied by ``learning_rate_decay`` each generation down to
    ``learning_rate_limit``."""

    def __init__(self, num_params: int, popsize: int, weight_decay: float, learning_rate: float,
                 learning_rate_decay: float, learning_rate_limit: float, seed: int) -> None:
        super().__init__(num_params, popsize, weight_decay)
        self.learning_rate_decay, self.learning_rate_limit = learning_rate_decay, learning_rate_limit
        self.mu = np.zeros(num_params)
        self.optimizer = Adam(num_params, learning_rate)
        self.rng = np.random.default_rng(seed)

    def _decay_learning_rate(self) -> None:
        """One generation's decay of Adam's learning rate, not below the limit."""
        self.optimizer.learning_rate = max(self.optimizer.learning_rate * self.learning_rate_decay,
                                           self.learning_rate_limit)

    def current_param(self) -> np.ndarray:
        """The mean mu (P,)."""
        return self.mu.copy()

    def set_mu(self, mu: np.ndarray) -> None:
        """Set the mean mu (P,)."""
        self.mu = np.array(mu, dtype=np.float64)


class OpenES(_MeanSearch):
    """OpenAI-ES: isotropic Gaussian noise, centred-rank fitness, Adam on the mean.

    With ``antithetic`` candidates ``2i`` and ``2i+1`` are ``mu + eps_i`` and ``mu - eps_i``.
    """

    def __init__(self, num_params: int, popsize: int = 64, sigma_init: float = 0.1,
                 sigma_decay: float = 0.999, sigma_limit: float = 0.01,
                 learning_rate: float = 0.01, learning_rate_decay: float = 0.9999,
                 learning_rate_limit: float = 0.001, antithetic: bool = True,
                 weight_decay: float = 0.01, rank_fitness: bool = True, seed: int = 0) -> None:
        _require_popsize("openes", popsize, antithetic)
        super().__init__(num_params, popsize, weight_decay, learning_rate, learning_rate_decay,
                         learning_rate_limit, seed)
        self.sigma = sigma_init
        self.sigma_decay, self.sigma_limit = sigma_decay, sigma_limit
        self.antithetic = antithetic
        self.rank_fitness = rank_fitness
        self.epsilon = np.zeros((popsize, num_params))

    def ask(self) -> np.ndarray:
        """Sample ``mu + sigma * eps`` (mirrored in pairs if antithetic)."""
        if self.antithetic:
            half = self.rng.standard_normal((self.popsize // 2, self.num_params))
            self.epsilon = np.empty((self.popsize, self.num_params))
            self.epsilon[0::2], self.epsilon[1::2] = half, -half
        else:
            self.epsilon = self.rng.standard_normal((self.popsize, self.num_params))
        self.solutions = self.mu + self.sigma * self.epsilon
        return self.solutions.copy()

    def _update(self, fitness: np.ndarray) -> None:
        """Natural-gradient estimate from the noise, one Adam step, then decay sigma and lr."""
        if self.rank_fitness:
            weights = centered_ranks(fitness)
        else:
            weights = (fitness - fitness.mean()) / (fitness.std() + 1e-12)
        grad = self.epsilon.T @ weights / (self.popsize * self.sigma)
        self.mu = self.mu + self.optimizer.step(grad)
        self.sigma = max(self.sigma * self.sigma_decay, self.sigma_limit)
        self._decay_learning_rate()

    def rms_stdev(self) -> float:
        """The isotropic sigma."""
        return float(self.sigma)


class PEPG(_MeanSearch):
    """Parameter-exploring policy gradients with a per-parameter sigma and symmetric sampling.

    Candidates ``2i`` and ``2i+1`` are ``mu + eps_i`` and ``mu - eps_i``. With ``elite_ratio > 0``
    (the ``ses`` variant) the mean moves to the average of the elite candidates' noise instead of
    taking a gradient step.
    """

    def __init__(self, num_params: int, popsize: int = 64, sigma_init: float = 0.1,
                 sigma_decay: float = 0.999, sigma_alpha: float = 0.2, sigma_limit: float = 0.01,
                 sigma_max_change: float = 0.2, learning_rate: float = 0.01,
                 learning_rate_decay: float = 0.9999, learning_rate_limit: float = 0.001,
                 elite_ratio: float = 0.0, weight_decay: float = 0.01,
                 rank_fitness: bool = True, seed: int = 0) -> None:
        _require_popsize("pepg", popsize)
        super().__init__(num_params, popsize, weight_decay, learning_rate, learning_rate_decay,
                         learning_rate_limit, seed)
        self.sigma = np.full(num_params, sigma_init, dtype=np.float64)
        self.sigma_init, self.sigma_decay = sigma_init, sigma_decay
        self.sigma_alpha, self.sigma_limit = sigma_alpha, sigma_limit
        self.sigma_max_change = sigma_max_change
        self.elite_size = int(round(popsize // 2 * elite_ratio))
        self.rank_fitness = rank_fitness
        self.epsilon = np.zeros((popsize // 2, num_params))

    def ask(self) -> np.ndarray:
        """Sample symmetric pairs ``mu +/- sigma * n``."""
        self.epsilon = self.rng.standard_normal((self.popsize // 2, self.num_params)) * self.sigma
        self.solutions = np.empty((self.popsize, self.num_params))
        self.solutions[0::2] = self.mu + self.epsilon
        self.solutions[1::2] = self.mu - self.epsilon
        return self.solutions.copy()

    def _update(self, fitness: np.ndarray) -> None:
        """Update mu (gradient or elite mean) and the per-parameter sigma."""
        if self.rank_fitness:
            fitness = centered_ranks(fitness)
        r_plus, r_minus = fitness[0::2], fitness[1::2]
        if self.elite_size > 0:
            best = np.argsort(-np.maximum(r_plus, r_minus), kind="stable")[: self.elite_size]
            sign = np.where(r_plus[best] >= r_minus[best], 1.0, -1.0)
            self.mu = self.mu + np.mean(sign[:, None] * self.epsilon[best], axis=0)
        else:
            grad = (r_plus - r_minus) @ self.epsilon / (2.0 * len(r_plus))
            self.mu = self.mu + self.optimizer.step(grad)
        self._update_sigma(r_plus, r_minus, fitness)
        self._decay_learning_rate()

    def _update_sigma(self, r_plus: np.ndarray, r_minus: np.ndarray, fitness: np.ndarray) -> None:
        """Move sigma along the sampled log-likelihood gradient, bounded per step, then decay."""
        stdev = fitness.std()
        if self.sigma_alpha > 0 and stdev > 0:
            baseline = fitness.mean()
            s = (self.epsilon**2 - self.sigma**2) / self.sigma
            r_s = (r_plus + r_minus) / 2.0 - baseline
            delta = r_s @ s / (len(r_s) * stdev)
            change = np.clip(self.sigma_alpha * delta, -self.sigma_max_change * self.sigma,
                             self.sigma_max_change * self.sigma)
            self.sigma = self.sigma + change
        self.sigma = np.maximum(self.sigma * self.sigma_decay, self.sigma_limit)

    def rms_stdev(self) -> float:
        """RMS of the per-parameter sigma."""
        return float(np.sqrt(np.mean(self.sigma**2)))


class SimpleGA(Solver):
    """Truncation-selection genetic algorithm: uniform crossover of elites plus Gaussian mutation.

    The "mean" of a GA is its best elite, which is what ``current_param()`` returns.
    """

    def __init__(self, num_params: int, popsize: int = 64, sigma_init: float = 0.1,
                 sigma_decay: float = 0.999, sigma_limit: float = 0.01, elite_ratio: float = 0.1,
                 forget_best: bool = False, weight_decay: float = 0.01, seed: int = 0) -> None:
        _require_popsize("ga", popsize)
        super().__init__(num_params, popsize, weight_decay)
        self.sigma = sigma_init
        self.sigma_decay, self.sigma_limit = sigma_decay, sigma_limit
        self.elite_size = max(1, int(round(popsize * elite_ratio)))
        self.forget_best = forget_best
        self.rng = np.random.default_rng(seed)
        self.elite_params = np.zeros((self.elite_size, num_params))
        self.elite_fitness = np.full(self.elite_size, -np.inf)
        self.first = True

    def ask(self) -> np.ndarray:
        """Children of random elite pairs (uniform crossover) plus sigma * N(0, 1) mutation."""
        noise = self.sigma * self.rng.standard_normal((self.popsize, self.num_params))
        if self.first:
            self.solutions = self.elite_params[0] + noise
            return self.solutions.copy()
        a = self.elite_params[self.rng.integers(0, self.elite_size, self.popsize)]
        b = self.elite_params[self.rng.integers(0, self.elite_size, self.popsize)]
        take_a = self.rng.random((self.popsize, self.num_params)) < 0.5
        self.solutions = np.where(take_a, a, b) + noise
        return self.solutions.copy()

    def _update(self, fitness: np.ndarray) -> None:
        """Keep the elite_size best of (old elites unless forget_best) + this generation."""
        if self.forget_best or self.first:
            pool_f, pool_p = fitness, self.solutions
        else:
            pool_f = np.concatenate([self.elite_fitness, fitness])
            pool_p = np.concatenate([self.elite_params, self.solutions])
        order = np.argsort(-pool_f, kind="stable")[: self.elite_size]
        self.elite_fitness, self.elite_params = pool_f[order], pool_p[order].copy()
        self.first = False
        self.sigma = max(self.sigma * self.sigma_decay, self.sigma_limit)

    def current_param(self) -> np.ndarray:
        """The best elite (P,)."""
        return self.elite_params[0].copy()

    def set_mu(self, mu: np.ndarray) -> None:
        """Replace the best elite by ``mu`` (P,)."""
        self.elite_params[0] = np.asarray(mu, dtype=np.float64)

    def rms_stdev(self) -> float:
        """The mutation sigma."""
        return float(self.sigma)


def make_solver(name: str, num_params: int, popsize: int, sigma_init: float = 0.1,
                sigma_decay: float = 0.999, antithetic: bool = True, weight_decay: float = 0.01,
                seed: int = 0, cma_diagonal: bool = False,
                compact: dict[str, np.ndarray] | None = None) -> Solver:
    """Build a solver by its command-line name: ``cma``, ``pepg``, ``ses``, ``openes`` or ``ga``.

    ``sigma_decay`` is ignored by CMA-ES (pycma adapts its own step size); ``cma_diagonal`` makes
    it separable. ``compact`` (cma only): go on from :meth:`CMAES.compact_state` (its mean, step
    size and per-parameter standard deviations).
    """
    if compact is not None and name != "cma":
        raise ValueError(f"only cma goes on from a compact state, not {name!r}")
    if name == "cma":
        if compact is None:
            return CMAES(num_params, popsize, sigma_init, weight_decay, seed, cma_diagonal)
        sigma = float(compact["sigma"])
        solver = CMAES(num_params, popsize, sigma, weight_decay, seed, cma_diagonal,
                       stds=np.asarray(compact["stds"], dtype=np.float64) / sigma)
        solver.set_mu(np.asarray(compact["mean"], dtype=np.float64))
        return solver
    if name == "openes":
        return OpenES(num_params, popsize, sigma_init, sigma_decay, antithetic=bool(antithetic),
                      weight_decay=weight_decay, seed=seed)
    if name == "pepg":
        return PEPG(num_params, popsize, sigma_init, sigma_decay, weight_decay=weight_decay,
                    seed=seed)
    if name == "ses":
        return PEPG(num_params, popsize, sigma_init, sigma_decay, elite_ratio=0.2,
                    weight_decay=weight_decay, rank_fitness=False, seed=seed)
    if name == "ga":
        return SimpleGA(num_params, popsize, sigma_init, sigma_decay, weight_decay=weight_decay,
                        seed=seed)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(SOLVER_NAMES)}")
