"""Frame preprocessing shared by the real environments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from PIL import Image

FRAME_SIZE = 64


def to_frame64(frame: np.ndarray, crop_rows: int | None = None) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 -> (64, 64, 3) uint8: keep the top `crop_rows` rows (all when
    None), then resample with an antialiasing bilinear filter (no per-frame min-max rescaling)."""
    if crop_rows is not None:
        frame = frame[:crop_rows]
    image = Image.fromarray(np.ascontiguousarray(frame))
    return np.asarray(image.resize((FRAME_SIZE, FRAME_SIZE), Image.Resampling.BILINEAR))


class Frame64(gym.ObservationWrapper):
    """Replaces the observation with :func:`to_frame64` of the RGB screen; keeps the original
    screen of the last step in `self.last_screen` (for videos)."""

    def __init__(self, env: gym.Env, crop_rows: int | None = None, screen_key: str | None = None):
        super().__init__(env)
        self.crop_rows = crop_rows
        self.screen_key = screen_key
        self.last_screen: np.ndarray | None = None
        self.observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)

    def observation(self, observation) -> np.ndarray:
        """The env's observation -> (64, 64, 3) uint8."""
        screen = observation[self.screen_key] if self.screen_key else observation
        self.last_screen = screen
        return to_frame64(screen, self.crop_rows)
