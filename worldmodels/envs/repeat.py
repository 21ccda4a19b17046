"""Action repeat: the agent decides every k environment steps and sees only the last frame.

The frames in between are stepped with the same action and, where the game allows it (CarRacing's
``render_state`` switch), not drawn at all: nobody looks at them, and drawing is ~97% of a
CarRacing step while its physics alone runs ~30x faster. The frames the agent does see are the
ones the game draws at those steps, so they equal gymnasium's; the episode cap still counts
environment steps (the TimeLimit inside the wrapper stack sees each of them).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from worldmodels.envs.frames import Frame64


class ActionRepeat(gym.Wrapper):
    """Each ``step(action)`` plays `action` for up to `repeat` environment steps and returns the
    last step's observation, the summed reward, and ``info["frames"]``: the environment steps
    taken (fewer than `repeat` when the episode ended in between).

    Wraps a :class:`~worldmodels.envs.frames.Frame64` env: the steps in between go to the env
    below it, so their screens are neither drawn (when the game has a ``render_state`` switch) nor
    resampled.
    """

    def __init__(self, env: gym.Env, repeat: int):
        if repeat < 1:
            raise ValueError(f"action repeat must be >= 1, got {repeat}")
        if not isinstance(env, Frame64):
            raise TypeError("ActionRepeat wraps the Frame64 env that make_env builds")
        super().__init__(env)
        self.repeat = repeat
        self._game = env.unwrapped
        self._can_skip = hasattr(self._game, "render_state")

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Play `action` for `repeat` steps; (obs (64, 64, 3) uint8, summed reward, terminated,
        truncated, info with "frames")."""
        total = 0.0
        for frames in range(1, self.repeat):
            obs, reward, terminated, truncated, info = self._step_unseen(action)
            total += float(reward)
            if terminated or truncated:
                if self._can_skip:  # the episode's last frame, drawn after all
                    obs = self.env.observation(self._game.state_pixels())
                return obs, total, terminated, truncated, {**info, "frames": frames}
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, total + float(reward), terminated, truncated, {**info, "frames": self.repeat}

    def _step_unseen(self, action: np.ndarray) -> tuple:
        """One environment step whose frame nobody looks at (its observation is None where the
        game skipped drawing it)."""
        if not self._can_skip:
            return self.env.step(action)
        self._game.render_state = False
        try:
            return self.env.env.step(action)
        finally:
            self._game.render_state = True


def frames_taken(info: dict) -> int:
    """Environment steps that one agent step took: ``info["frames"]`` of :class:`ActionRepeat`,
    else 1."""
    return int(info.get("frames", 1))


def with_action_repeat(env: gym.Env, repeat: int) -> gym.Env:
    """`env` itself for `repeat` 1, else wrapped in :class:`ActionRepeat`."""
    return env if repeat == 1 else ActionRepeat(env, repeat)

