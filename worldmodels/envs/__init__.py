"""Real environments as gymnasium envs producing 64x64x3 uint8 frames, one module per game.

:func:`make_env` and :func:`env_action` are the only places that map an experiment to its game.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np

from worldmodels.experiments import Experiment

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders offscreen: no X server needed
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def make_env(exp: Experiment, render_mode: str | None = None, action_repeat: int = 1,
             **kwargs) -> gym.Env:
    """The real environment of `exp` with observations (64, 64, 3) uint8; with `action_repeat` k
    > 1, each step plays its action for k environment steps (:class:`ActionRepeat`)."""
    from worldmodels.envs import carracing, doom
    from worldmodels.envs.repeat import with_action_repeat

    makers = {"carracing": carracing.make_env, "doomrnn": doom.make_env}
    env = makers[exp.name](render_mode=render_mode, **{**exp.env_kwargs, **kwargs})
    return with_action_repeat(env, action_repeat)


def env_action(exp: Experiment, raw: np.ndarray) -> np.ndarray:
    """Map raw controller outputs (..., action_size) in (-1, 1) to the real env's actions."""
    from worldmodels.envs.carracing import carracing_action
    from worldmodels.envs.doom import takecover_action

    mappers = {"carracing": carracing_action, "doomrnn": takecover_action}
    return mappers[exp.name](raw)
