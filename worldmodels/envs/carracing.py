"""CarRacing-v3 (gymnasium, Box2D, pygame: no X server) with 64x64 frames.

The bottom 12 rows of the 96x96 frame are the indicator bar; like the reference we keep the top 84
rows. The reference's "inversion" ((1 - x) * 255 on already byte-scaled frames) wraps to x - 1 and is
effectively a no-op, so it is not reproduced. The environment's own reward and episode end are kept
(v3 ends a lap once 95% of tiles are visited; 1000-step limit as truncation).
"""

from __future__ import annotations

import gymnasium as gym

from worldmodels.envs.frames import Frame64

CROP_ROWS = 84
MAX_STEPS = 1000


def make_env(render_mode: str | None = None, **kwargs) -> gym.Env:
    """CarRacing-v3 with continuous actions [steer, gas, brake] and (64, 64, 3) uint8 frames."""
    env = gym.make("CarRacing-v3", render_mode=render_mode, max_episode_steps=MAX_STEPS, **kwargs)
    return Frame64(env, crop_rows=CROP_ROWS)
