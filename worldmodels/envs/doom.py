"""VizdoomTakeCover-v1 (vizdoom's gymnasium env, headless) with 64x64 frames and a 2100-step cap.

v1 renders no HUD, so the whole 240x320 screen is resampled (the reference cropped ppaquette's HUD).
Actions are Discrete(3): 0 no-op, 1 MOVE_RIGHT, 2 MOVE_LEFT. Reward is 1 per step survived.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from vizdoom import gymnasium_wrapper  # noqa: F401  (registers the Vizdoom* envs)

from worldmodels.envs.frames import Frame64

MAX_STEPS = 2100


class IntAction(gym.ActionWrapper):
    """Passes discrete actions on as Python ints: vizdoom 1.3's step() takes a 0-d numpy array
    for a button vector and presses every button with its value (left + right: no move)."""

    def action(self, action) -> int:
        """Any integer-like action (int, numpy scalar, 0-d array) -> int."""
        return int(np.asarray(action))


def make_env(render_mode: str | None = None, **kwargs) -> gym.Env:
    """VizdoomTakeCover-v1 capped at 2100 steps (truncated), observations (64, 64, 3) uint8."""
    # The engine creates ./_vizdoom/ at start; two games starting at once in one folder race on
    # that mkdir and one crashes ("Failed to create ./_vizdoom/ directory: File exists").
    Path("_vizdoom").mkdir(exist_ok=True)
    env = gym.make("VizdoomTakeCover-v1", render_mode=render_mode, max_episode_steps=MAX_STEPS,
                   **kwargs)
    return Frame64(IntAction(env), screen_key="screen")


TAKECOVER_NOOP, TAKECOVER_RIGHT, TAKECOVER_LEFT = 0, 1, 2  # VizdoomTakeCover-v1 Discrete(3)


def takecover_action(a: np.ndarray) -> np.ndarray:
    """Raw controller output (..., 1) -> VizdoomTakeCover-v1 discrete action (...,) int64.

    a < -1/3 is MOVE_LEFT (2), a > 1/3 is MOVE_RIGHT (1), otherwise no-op (0).
    """
    a = a[..., 0]
    out = np.full(a.shape, TAKECOVER_NOOP, dtype=np.int64)
    out[a > 1.0 / 3.0] = TAKECOVER_RIGHT
    out[a < -1.0 / 3.0] = TAKECOVER_LEFT
    return out
