"""The dream: M (and V's decoder for pictures) standing in for the real environment.

:class:`DreamBatch` steps many rollouts at once as one batch of matrix products; rollouts that have
ended leave the batch. :class:`DreamEnv` is the same core seen as a ``gymnasium.Env`` with one
rollout. Each rollout draws its random numbers from its own generator, seeded by the rollout's seed
and consumed in fixed-size chunks, so a rollout's trajectory does not depend on which other
rollouts share its batch: the batched dream and the Env give the same rewards for the same seeds.
:class:`DreamSettings` holds what the dream flags set (temperature, its range, death mode and
cut-off); :func:`add_dream_arguments` and :func:`dream_settings` are those flags.

One step (the reference's DoomCoverRNNEnv): the controller acts on [z, h] or [z, c, h]; M reads
[z, a (, restart)]; the next z is sampled at temperature tau (one tau for all rollouts, or with
`temperature_max` each rollout's own, drawn uniformly in [tau, temperature_max]); with death
"threshold" (the reference's) the rollout dies when the done logit is above `death_logit` (0 in
the reference: a deterministic cut-off), with death "sample" it dies with the calibrated done
probability (see :func:`done_probability`); reward is M's predicted reward when M has a reward
head, else 1 per step survived; the episode is cut at `max_frames` steps. It starts from a z
sampled around one of the stored initial (mu, logvar) pairs, with zero LSTM state and restart = 1.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from worldmodels.controller import Controller, ControllerSpec, controller_input
from worldmodels.experiments import Experiment
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE

NOISE_CHUNK = 64  # steps of random numbers drawn per rollout at a time
DEATH_MODES = ("threshold", "sample")


@dataclass(frozen=True)
class DreamSettings:
    """How the dream samples and kills, as set by the dream flags of train.py, model.py and the
    dream-playing scripts.

    temperature: tau, the mixture's sampling temperature (> 0, unitless).
    temperature_max: None for one tau for every rollout, else each rollout's tau is drawn
        uniformly in [temperature, temperature_max].
    death: one of DEATH_MODES: "threshold" (the reference's) dies when the done logit is above
        `death_logit`; "sample" dies with M's calibrated done probability.
    death_logit: the threshold death's cut-off on the done logit (a finite logit; 0 in the
        reference).

    Invalid values raise ValueError with a one-line message naming the flag.
    """

    temperature: float
    temperature_max: float | None = None
    death: str = "threshold"
    death_logit: float = 0.0

    def __post_init__(self):
        if self.death not in DEATH_MODES:
            raise ValueError(f"unknown death mode {self.death!r}; known: {', '.join(DEATH_MODES)}")
        if not math.isfinite(self.death_logit):
            raise ValueError(f"--death-logit must be finite, got {self.death_logit}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"--temperature must be a positive number, got {self.temperature}")
        if self.temperature_max is not None and not (math.isfinite(self.temperature_max)
                                                     and self.temperature_max >= self.temperature):
            raise ValueError(f"--temperature-max must be >= the temperature {self.temperature}, "
                             f"got {self.temperature_max}")
        # Python floats: a numpy float64 tau would promote M's float32 sampling to float64.
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "death_logit", float(self.death_logit))
        if self.temperature_max is not None:
            object.__setattr__(self, "temperature_max", float(self.temperature_max))


def add_dream_arguments(parser: argparse.ArgumentParser,
                        default_temperature: float | None = None) -> None:
    """Add the dream flags --temperature, --temperature-max, --death and --death-logit to `parser`.

    `default_temperature` is --temperature's default; None means the experiment's (resolved by
    :func:`dream_settings`).
    """
    shown = "the experiment's" if default_temperature is None else default_temperature
    parser.add_argument("--temperature", type=float, default=default_temperature,
                        help=f"dream temperature tau (default: {shown})")
    parser.add_argument("--temperature-max", type=float, default=None,
                        help="draw each dream episode's tau uniformly in [--temperature, this] "
                        "(default: every episode at --temperature)")
    parser.add_argument("--death", choices=DEATH_MODES, default="threshold",
                        help="dream death: done logit > 0 (threshold, the reference's) or drawn "
                        "with M's calibrated done probability (sample)")
    parser.add_argument("--death-logit", type=float, default=0.0,
                        help="threshold death: die when the done logit is above this (0: the "
                        "reference's; lower makes the dream harsher: docs/results/doomrnn.md)")


def dream_settings(args: argparse.Namespace, experiment_temperature: float) -> DreamSettings:
    """The DreamSettings of arguments parsed with :func:`add_dream_arguments`; a --temperature
    left at None takes `experiment_temperature`. Raises ValueError for invalid values."""
    temperature = experiment_temperature if args.temperature is None else args.temperature
    return DreamSettings(temperature, args.temperature_max, args.death, args.death_logit)


def done_probability(done_logit: np.ndarray, done_weight: float) -> np.ndarray:
    """Calibrated probability (N,) that a step ends the episode, from M's done logits (N,).

    M's done loss weights the rare done frames by `done_weight` (the reference's restart_factor),
    which multiplies the predicted odds by that weight; dividing the odds by it again gives a
    probability whose sum over an episode is about one death (measured teacher-forced on
    recorded episodes with an M of doomrnn's iterative training: 0.99 per episode for the
    controller's, 0.91 for random play's).
    """
    return 1.0 / (1.0 + np.exp(np.log(done_weight) - done_logit))


class DreamBatch:
    """N dream rollouts stepped together, sampled and killed as `settings` says. Arrays hold only
    the rollouts still running; `rows` maps them to their original index 0..N-1."""

    def __init__(self, exp: Experiment, rnn: MDNRNN, initial_mu: np.ndarray,
                 initial_logvar: np.ndarray, settings: DreamSettings):
        self.exp, self.rnn, self.settings = exp, rnn, settings
        self.initial_mu = np.asarray(initial_mu, np.float32)
        self.initial_sigma = np.exp(0.5 * np.asarray(initial_logvar, np.float32))

    def reset(self, seeds: Sequence) -> None:
        """Start one rollout per seed (an int or a list of ints, for numpy's SeedSequence)."""
        self.gens = [np.random.default_rng(s) for s in seeds]
        n, z = len(self.gens), self.exp.z_size
        pick = np.array([g.integers(len(self.initial_mu)) for g in self.gens])
        eps = np.stack([g.standard_normal(z, dtype=np.float32) for g in self.gens]) if n else \
            np.zeros((0, z), np.float32)
        self.z = self.initial_mu[pick] + self.initial_sigma[pick] * eps
        self.tau = self._draw_temperatures()
        self.h, self.c = self.rnn.initial_state(n)
        self.restart = np.ones((n, 1), np.float32)
        self.rows = np.arange(n)
        self.t = 0
        self.uniform = np.zeros((n, NOISE_CHUNK, z), np.float32)
        self.eps = np.zeros((n, NOISE_CHUNK, z), np.float32)
        self.death_uniform = np.zeros((n, NOISE_CHUNK), np.float32)

    def _draw_temperatures(self) -> float | np.ndarray:
        """One tau for all rollouts, or with `temperature_max` one per rollout (n,), uniform in
        [temperature, temperature_max] and drawn from the rollout's own generator (only then, so
        fixed-tau rollouts keep their random numbers)."""
        if self.settings.temperature_max is None:
            return self.settings.temperature
        lo, hi = self.settings.temperature, self.settings.temperature_max
        return np.array([lo + (hi - lo) * g.random() for g in self.gens], np.float64)

    def features(self, spec: ControllerSpec) -> np.ndarray:
        """The controller's input for the running rollouts, (n, spec.input_size)."""
        return controller_input(spec, self.z, self.h, self.c)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance the running rollouts with raw actions (n, A). Returns (reward (n,), dead (n,)).

        Does not remove dead rollouts: call :meth:`keep` for that.
        """
        if self.t % NOISE_CHUNK == 0:
            self._draw_noise()
        parts = [self.z, action.astype(np.float32)]
        parts += [self.restart] if self.exp.use_restart else []
        self.h, self.c = self.rnn.step(np.concatenate(parts, axis=1), self.h, self.c)
        self.restart = np.zeros_like(self.restart)
        i = self.t % NOISE_CHUNK
        self.z, done_logit, reward = self.rnn.sample_next(self.h, self.tau,
                                                          self.uniform[:, i], self.eps[:, i])
        self.t += 1
        if done_logit is None:
            dead = np.zeros(len(self.z), bool)
        elif self.settings.death == "sample":
            dead = self.death_uniform[:, i] < done_probability(done_logit, self.exp.done_weight)
        else:
            dead = done_logit > self.settings.death_logit
        return (reward if reward is not None else np.ones(len(self.z))), dead

    def _draw_noise(self) -> None:
        shape = (NOISE_CHUNK, self.exp.z_size)
        for j, g in enumerate(self.gens):
            self.uniform[j] = g.random(shape, dtype=np.float32)
            self.eps[j] = g.standard_normal(shape, dtype=np.float32)
            if self.settings.death == "sample":  # drawn only here, so threshold rollouts stay as they were
                self.death_uniform[j] = g.random(NOISE_CHUNK, dtype=np.float32)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the running rollouts where `mask` (n,) is True."""
        self.gens = [g for g, m in zip(self.gens, mask, strict=True) if m]
        for name in ("z", "h", "c", "restart", "rows", "uniform", "eps", "death_uniform"):
            setattr(self, name, getattr(self, name)[mask])
        if self.settings.temperature_max is not None:
            self.tau = self.tau[mask]

    def rollout(self, controller: Controller, candidate: np.ndarray, seeds: Sequence,
                max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Play one dream episode per seed, rollout r driven by controller `candidate[r]`.

        Returns (total reward (N,), steps (N,)); rollouts leave the batch as they die.
        """
        max_frames = max_frames or self.exp.max_frames
        self.reset(seeds)
        candidate = np.asarray(candidate, np.int64)
        rewards, steps = np.zeros(len(candidate)), np.zeros(len(candidate), np.int64)
        while len(self.rows) and self.t < max_frames:
            action = controller.act_rows(self.features(controller.spec), candidate[self.rows])
            reward, dead = self.step(action)
            rewards[self.rows] += reward
            steps[self.rows] += 1
            if dead.any():
                self.keep(~dead)
        return rewards, steps


class DreamEnv(gym.Env):
    """One dream rollout as a gymnasium Env.

    Observation: the controller's input vector ([z, h] or [z, c, h]), float32. Action: M's raw
    action in [-1, 1]^A. ``render()`` returns V's decoding of the current z, (64, 64, 3) uint8
    (render_mode "rgb_array"), or shows it in a window ("human"). ``reset(seed=s)`` plays the
    same rollout as seed s in :meth:`DreamBatch.rollout`.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 35}

    def __init__(self, core: DreamBatch, spec: ControllerSpec, vae: VAE | None = None,
                 render_mode: str | None = None):
        self.core, self.exp, self.controller_spec, self.vae = core, core.exp, spec, vae
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (spec.input_size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.exp.action_size,), np.float32)
        self.window = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a rollout; without a seed, one is drawn from the Env's own generator."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        self.core.reset([seed])
        return self._obs(), {}

    def step(self, action):
        """Advance one step with a raw action (A,) in [-1, 1]."""
        action = np.clip(np.asarray(action, np.float32).reshape(1, -1), -1.0, 1.0)
        reward, dead = self.core.step(action)
        truncated = self.core.t >= self.exp.max_frames and not dead[0]
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(reward[0]), bool(dead[0]), bool(truncated), {}

    def _obs(self) -> np.ndarray:
        return self.core.features(self.controller_spec)[0].astype(np.float32)

    def render(self):
        """V's picture of the current z: (64, 64, 3) uint8, or drawn in a window for "human"."""
        if self.vae is None:
            raise ValueError("DreamEnv needs a VAE to render")
        frame = (self.vae.decode(self.core.z[:1])[0] * 255.0).round().astype(np.uint8)
        if self.render_mode != "human":
            return frame
        import pygame

        if self.window is None:
            pygame.init()
            self.window = pygame.display.set_mode((384, 384))
        surface = pygame.surfarray.make_surface(frame.transpose(1, 0, 2))
        self.window.blit(pygame.transform.scale(surface, (384, 384)), (0, 0))
        pygame.display.flip()
        return None

    def close(self):
        """Close the window, if any."""
        if self.window is not None:
            import pygame

            pygame.display.quit()
            self.window = None
