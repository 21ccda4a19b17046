"""Showing episodes: a window where there is a display, otherwise a video file (mp4 or gif)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

PANEL_HEIGHT = 256


def panel(image: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    """Scale an RGB image (H, W, 3) uint8 to `height` rows, keeping its aspect ratio."""
    width = 2 * round(image.shape[1] * height / image.shape[0] / 2)  # video codecs need even sizes
    resample = Image.NEAREST if image.shape[0] <= 64 else Image.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def side_by_side(*images: np.ndarray, height: int = PANEL_HEIGHT) -> np.ndarray:
    """Images scaled to `height` rows and joined left to right, (height, W, 3) uint8."""
    return np.concatenate([panel(i, height) for i in images], axis=1)


def has_display() -> bool:
    """True when a window can be opened (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Viewer:
    """Collects frames into `record` (mp4 or gif, by suffix) or shows them in a pygame window.

    A recording keeps every `every`-th frame and plays at fps / every, so it still runs in real
    time; `height` is the panel height that callers pass to :func:`side_by_side`."""

    def __init__(self, record: str | None, fps: int = 30, height: int = PANEL_HEIGHT,
                 every: int = 1):
        self.record, self.fps, self.height, self.every = record, fps, height, every
        self.shown = 0
        self.writer = self.window = None
        if record:
            import imageio.v2 as imageio

            Path(record).parent.mkdir(parents=True, exist_ok=True)
            rate = fps / every
            kwargs = {"duration": 1000 / rate, "loop": 0} if record.endswith(".gif") else \
                {"fps": rate, "macro_block_size": 1}
            self.writer = imageio.get_writer(record, **kwargs)

    def show(self, frame: np.ndarray) -> None:
        """Add one RGB frame (H, W, 3) uint8."""
        if self.writer is not None:
            if self.shown % self.every == 0:
                self.writer.append_data(frame)
            self.shown += 1
            return
        import pygame

        if self.window is None:
            pygame.init()
            self.window = pygame.display.set_mode(frame.shape[1::-1])
            self.clock = pygame.time.Clock()
        pygame.event.pump()
        self.window.blit(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)), (0, 0))
        pygame.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        """Finish the file or close the window."""
        if self.writer is not None:
            self.writer.close()
            print(f"wrote {self.record}", flush=True)
        if self.window is not None:
            import pygame

            pygame.display.quit()
