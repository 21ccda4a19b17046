"""V, M and C acting together in real environments, for a batch of rollouts stepped in lockstep.

Each step: V encodes the frames, z is sampled (mu + sigma * eps, as the reference; or z = mu with
`z_mode="mean"`), C acts on [z, h] (or [z, c, h]), and M advances its state on [z, a (, restart)]
with the raw action a.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from worldmodels.controller import Controller, controller_input
from worldmodels.envs import env_action
from worldmodels.envs.repeat import frames_taken
from worldmodels.experiments import Z_MODES, Experiment
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE, sample_z


class Agent:
    """A batch of N rollouts: row r is driven by controller candidate `candidate[r]`. `z_mode`
    (one of Z_MODES) says whether C and M see a sampled z or V's mean."""

    def __init__(self, exp: Experiment, vae: VAE, rnn: MDNRNN, controller: Controller,
                 rng: np.random.Generator, z_mode: str = "sample"):
        if z_mode not in Z_MODES:
            raise ValueError(f"z_mode {z_mode!r}: expected one of {Z_MODES}")
        self.exp, self.vae, self.rnn, self.controller, self.rng = exp, vae, rnn, controller, rng
        self.z_mode = z_mode
        self.reset(np.zeros(0, np.int64))

    def reset(self, candidate: np.ndarray) -> None:
        """Start len(candidate) rollouts with zero M state; `candidate` (N,) picks each row's C."""
        self.candidate = np.asarray(candidate, np.int64)
        self.h, self.c = self.rnn.initial_state(len(self.candidate))
        self.restart = np.ones((len(self.candidate), 1), np.float32)

    def act(self, frames: np.ndarray, rows: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Raw actions (n, action_size) for frames (n, 64, 64, 3) uint8 of the rollouts `rows` (n,);
        advances those rows' M state. `noise` (n, action_size), when given, is added to C's
        actions (then clipped to [-1, 1]) before M sees them: exploration for data collection."""
        mu, logvar = self.vae.encode(frames)
        z = sample_z(mu, logvar, self.rng) if self.z_mode == "sample" else mu
        h, c = self.h[rows], self.c[rows]
        x = controller_input(self.controller.spec, z, h, c)
        action = self.controller.act_rows(x, self.candidate[rows]).astype(np.float32)
        if noise is not None:
            action = np.clip(action + noise, -1.0, 1.0).astype(np.float32)
        parts = [z, action] + ([self.restart[rows]] if self.exp.use_restart else [])
        self.h[rows], self.c[rows] = self.rnn.step(np.concatenate(parts, axis=1), h, c)
        self.restart[rows] = 0.0
        return action


def run_episodes(exp: Experiment, agent: Agent, envs: Sequence[gym.Env], seeds: Sequence[int],
                 candidate: np.ndarray, max_steps: int | None = None,
                 stop_after_negative: int = 0, stop_off_road: int = 0,
                 observer: Callable[[int, gym.Env, np.ndarray, float, int], None] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Play one episode in each env (N envs, seeds (N,), candidate (N,)) with all stepping together.

    Finished episodes leave the batch. `stop_after_negative` > 0 also ends an episode after that
    many consecutive steps of negative reward (a shortcut for training: a car that has stopped
    gaining tiles is hopeless; scores use the full rules). Steps are environment steps (an agent
    step of an env with action repeat counts the steps it took), so `max_steps` and
    `stop_after_negative` mean the same at any repeat (checked after each decision: with repeat
    k an episode may run up to k - 1 steps past a `max_steps` below the game's own cap, which
    the game itself enforces exactly). `stop_off_road` > 0 (CarRacing) ends an
    episode once all four wheels have been off the road for that many steps in a row, another
    training shortcut. `observer(row, env, env action, reward,
    environment steps taken)`, when given, is called after every agent step of every row (the
    driving report). Returns (total reward (N,) float64, steps (N,) int64).
    """
    n = len(envs)
    max_steps = max_steps or exp.max_frames
    frames = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds, strict=True)])
    agent.reset(candidate)
    rewards, steps = np.zeros(n), np.zeros(n, np.int64)
    negative = np.zeros(n, np.int64)  # consecutive steps of negative reward
    off_road = np.zeros(n, np.int64)  # consecutive steps with every wheel off the road
    active = np.arange(n)
    while len(active):
        actions = env_action(exp, agent.act(frames[active], active))
        still = []
        for row, action in zip(active, actions, strict=True):
            frame, reward, terminated, truncated, info = envs[row].step(action)
            taken = frames_taken(info)
            if observer is not None:
                observer(int(row), envs[row], action, float(reward), taken)
            frames[row] = frame
            rewards[row] += reward
            steps[row] += taken
            negative[row] = negative[row] + taken if reward < 0 else 0
            hopeless = 0 < stop_after_negative <= negative[row]
            if stop_off_road:
                off_road[row] = off_road[row] + taken if all_wheels_off_road(envs[row]) else 0
                hopeless = hopeless or stop_off_road <= off_road[row]
            if not (terminated or truncated or hopeless or steps[row] >= max_steps):
                still.append(row)
        active = np.asarray(still, np.int64)
    return rewards, steps


def all_wheels_off_road(env: gym.Env) -> bool:
    """Whether every wheel of a CarRacing car is off the road tiles (on grass or beyond)."""
    return all(not wheel.tiles for wheel in env.unwrapped.car.wheels)
