"""CarRacing-v3 (gymnasium, Box2D, pygame: no X server) with a fast renderer and 64x64 frames.

:class:`CarRacing` is gymnasium's own ``CarRacing-v3`` (the same class, so the same track from the
same seed, Box2D physics, rewards, lap rule and episode ends) whose state frames come from a
vectorised renderer. gymnasium's renderer rotates, translates and culls all ~750 polygons of the
field (the field, 400 grass patches, ~300 road tiles and kerbs) one vertex at a time in Python to
draw the 25-60 that are on screen; here their world coordinates are cached per track and
transformed and culled in one numpy expression per frame, and only the polygons that can touch the
cropped frame are handed to the same pygame drawing calls with the same floating-point
coordinates. The result is byte-identical to gymnasium's frame where it matters
(``tests/test_carracing_env.py``):

- Rows 0-83 of the 96x96 state (everything above the indicator bar) equal gymnasium's, so the
  64x64 frame that V sees (top 84 rows, resampled by :func:`to_frame64`) is identical too.
- Rows 84-95 (the indicator bar and score text, which the agent crops away) are left black: they
  cost a third of gymnasium's frame time (a font rendered every frame) and are never used.

Exactness rests on three facts, each checked by the tests: the rotation is pygame's own (its
cos/sin are read off a rotated unit vector, and x*cos - y*sin in float64 is what pygame computes);
a polygon whose bounding box stays more than two pixels from the used region changes no used pixel
(filled spans are clipped, anti-aliased edges touch only adjacent pixels); and pygame's box-filter
``smoothscale`` maps the top 700 source rows to the top 84 output rows on its own. When the
playfield covers the whole screen (every frame after the first second, unless the car is near the
edge of the world), the field polygon is drawn as one fill of the screen, which is what filling a
polygon containing every pixel yields.

The human window (``render_mode="human"``) and ``rgb_array`` video frames are drawn by gymnasium's
own code. v3 ends a lap once 95% of tiles are visited; the 1000-step limit is reported as
truncation, as with ``gymnasium.make("CarRacing-v3")``.

The reference crops the bottom 12 rows (the indicator bar) and keeps the top 84; its "inversion"
((1 - x) * 255 on already byte-scaled frames) wraps to x - 1 and is effectively a no-op, so it is
not reproduced.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pygame
from gymnasium.envs.box2d import car_racing as gym_car_racing
from pygame import gfxdraw

from worldmodels.envs.frames import Frame64

CROP_ROWS = 84
MAX_STEPS = 1000
ENV_ID = "worldmodels/CarRacing-v3"

_W, _H = gym_car_racing.WINDOW_W, gym_car_racing.WINDOW_H
_STATE_W, _STATE_H = gym_car_racing.STATE_W, gym_car_racing.STATE_H
# The window rows (after gymnasium's vertical flip) that feed the kept state rows: 84 of 96 output
# rows of the 800-row window -> the top 700 rows. Before the flip these are rows 100..799.
_USED_ROWS = _H * CROP_ROWS // _STATE_H
_FIRST_ROW = _H - _USED_ROWS
# A polygon whose bounding box stays this many pixels away from the used region changes none of
# its pixels: anti-aliased edges touch only the pixels next to the line.
_MARGIN = 2.0
_CULL = gym_car_racing.MAX_SHAPE_DIM  # gymnasium's own culling distance (any vertex within it)
# The window's corners pushed out by the margin: when the field contains them all, it covers the
# window and its edges touch no pixel.
_OUTER = np.array([(-_MARGIN, -_MARGIN), (_W + _MARGIN, -_MARGIN), (_W + _MARGIN, _H + _MARGIN),
                   (-_MARGIN, _H + _MARGIN)])
_NEXT = np.array([1, 2, 3, 0])


def _field_quad() -> np.ndarray:
    """The playfield polygon (1, 4, 2) in world units, vertex order as gymnasium draws it."""
    b = gym_car_racing.PLAYFIELD
    return np.array([[(b, b), (b, -b), (-b, -b), (-b, b)]], np.float64)


def _grass_quads() -> np.ndarray:
    """The 400 grass patches (400, 4, 2) in world units, computed with gymnasium's expressions so
    that every coordinate is the same float."""
    g = gym_car_racing.GRASS_DIM
    return np.array([
        [(g * x + g, g * y + 0), (g * x + 0, g * y + 0), (g * x + 0, g * y + g), (g * x + g, g * y + g)]
        for x in range(-20, 20, 2) for y in range(-20, 20, 2)
    ], np.float64)


_STATIC_QUADS = np.concatenate([_field_quad(), _grass_quads()])  # field, then grass


class _Scratch:
    """The surfaces one frame is drawn on, shared by every env of a process (a frame is drawn and
    read back within one call, and one shared window stays in cache when many envs take turns)."""

    def __init__(self):
        self.canvas = pygame.Surface((_W, _H))
        self.flipped = pygame.Surface((_W, _USED_ROWS))
        self.scaled = pygame.Surface((_STATE_W, CROP_ROWS))

    def state(self) -> np.ndarray:
        """The (96, 96, 3) uint8 state of the canvas: its used rows flipped upside down (as
        gymnasium flips the window) and box-filtered to 84 rows as gymnasium's smoothscale of the
        whole window does, then 12 black rows."""
        source, flipped = pygame.surfarray.pixels2d(self.canvas), pygame.surfarray.pixels2d(self.flipped)
        np.copyto(flipped, source[:, _H - 1:_FIRST_ROW - 1:-1])  # (x, y) arrays: y reversed
        del source, flipped  # unlock the surfaces
        pygame.transform.smoothscale(self.flipped, (_STATE_W, CROP_ROWS), self.scaled)
        state = np.zeros((_STATE_H, _STATE_W, 3), np.uint8)
        state[:CROP_ROWS] = pygame.surfarray.pixels3d(self.scaled).transpose(1, 0, 2)
        return state


@functools.cache
def _scratch() -> _Scratch:
    """This process's scratch surfaces, made on first use."""
    return _Scratch()


class CarRacing(gym_car_racing.CarRacing):
    """gymnasium's CarRacing-v3 with a vectorised ``state_pixels`` renderer (see the module doc).

    Observations are (96, 96, 3) uint8 like gymnasium's; rows 0-83 are gymnasium's pixels exactly,
    rows 84-95 (indicator bar) are black.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._track_of_quads: list | None = None  # the road_poly list the cached quads belong to
        self._quads = _STATIC_QUADS
        self._pixel_colors: dict[tuple[float, ...], pygame.Color] = {}
        # False while stepping frames nobody looks at (action repeat): step() then draws no state
        # and returns None as its observation. Drawing has no effect on the game's state.
        self.render_state = True

    def _render(self, mode: str):
        if mode != "state_pixels":
            return super()._render(mode)
        if "t" not in self.__dict__ or not self.render_state:
            return None  # reset() not called yet, or a frame nobody looks at
        return self.state_pixels()

    def state_pixels(self) -> np.ndarray:
        """The (96, 96, 3) uint8 state of the game as it is now (rows 84-95 black)."""
        scratch = _scratch()
        self._draw_state(scratch.canvas)
        return scratch.state()

    def _track_quads(self) -> np.ndarray:
        """World coordinates (1 + 400 + tiles, 4, 2) of everything drawn, rebuilt once per track."""
        if self._track_of_quads is not self.road_poly or len(self._quads) != 401 + len(self.road_poly):
            road = np.array([[(p[0], p[1]) for p in poly] for poly, _ in self.road_poly], np.float64)
            self._quads = np.concatenate([_STATIC_QUADS, road.reshape(-1, 4, 2)])
            self._track_of_quads = self.road_poly
        return self._quads

    def _draw_state(self, surf: pygame.Surface) -> None:
        """Draws the world on the 1000x800 window surface as gymnasium does (before its flip),
        skipping polygons that cannot touch the used rows."""
        angle = -self.car.hull.angle
        zoom = 0.1 * gym_car_racing.SCALE * max(1 - self.t, 0) + gym_car_racing.ZOOM * \
            gym_car_racing.SCALE * min(self.t, 1)
        scroll_x = -(self.car.hull.position[0]) * zoom
        scroll_y = -(self.car.hull.position[1]) * zoom
        trans = pygame.math.Vector2((scroll_x, scroll_y)).rotate_rad(angle)
        trans = (_W / 2 + trans[0], _H / 4 + trans[1])
        # pygame's rotation is (x cos - y sin, x sin + y cos) with its own cos and sin (and exact
        # values at multiples of 90 degrees): rotating (1, 0) yields exactly that pair.
        cos, sin = pygame.math.Vector2(1.0, 0.0).rotate_rad(angle)

        quads = self._track_quads()
        x, y = quads[..., 0], quads[..., 1]
        px = (cos * x - sin * y) * zoom + trans[0]
        py = (sin * x + cos * y) * zoom + trans[1]
        touches_used = ((px.max(1) >= -_MARGIN) & (px.min(1) <= _W + _MARGIN)
                        & (py.max(1) >= _FIRST_ROW - _MARGIN) & (py.min(1) <= _H + _MARGIN))
        touches_used[0] = False  # the field is drawn below
        candidates = np.flatnonzero(touches_used)
        cx, cy = px[candidates], py[candidates]
        drawn_by_gym = ((cx >= -_CULL) & (cx <= _W + _CULL) & (cy >= -_CULL) & (cy <= _H + _CULL)).any(1)
        visible = candidates[drawn_by_gym]
        points = np.stack([px, py], axis=-1)

        if self._field_covers_window(px[0], py[0]):
            surf.fill(self._pixel_color(self.bg_color))
        else:
            surf.fill((0, 0, 0))
            field = points[0].tolist()  # drawn unculled, as gymnasium does
            gfxdraw.aapolygon(surf, field, self.bg_color)
            gfxdraw.filled_polygon(surf, field, self.bg_color)
        n_static = len(_STATIC_QUADS)
        for i in visible.tolist():
            if i < n_static:
                color = self.grass_color
            else:
                color = [int(c) for c in self.road_poly[i - n_static][1]]  # visited tiles recolour
            poly = points[i].tolist()
            gfxdraw.aapolygon(surf, poly, color)
            gfxdraw.filled_polygon(surf, poly, color)
        self.car.draw(surf, zoom, trans, angle, False)

    @staticmethod
    def _field_covers_window(px: np.ndarray, py: np.ndarray) -> bool:
        """Whether the field quad (window coordinates px, py (4,)) contains the whole window with a
        margin, so that drawing it fills every pixel and its edges touch none."""
        ex, ey = px[_NEXT] - px, py[_NEXT] - py  # edges of the convex quad
        cross = ex[:, None] * (_OUTER[None, :, 1] - py[:, None]) - ey[:, None] * (
            _OUTER[None, :, 0] - px[:, None])
        return bool((cross > 0).all() or (cross < 0).all())

    def _pixel_color(self, color) -> pygame.Color:
        """The pixel colour that gfxdraw paints for `color` (it truncates float channels), so that
        a plain fill of the window equals gfxdraw filling a polygon that covers it."""
        key = tuple(float(c) for c in color)
        if key not in self._pixel_colors:
            probe = pygame.Surface((4, 4))
            gfxdraw.filled_polygon(probe, [(-2.0, -2.0), (6.0, -2.0), (6.0, 6.0), (-2.0, 6.0)], color)
            self._pixel_colors[key] = probe.get_at((1, 1))
        return self._pixel_colors[key]


def carracing_action(a: np.ndarray) -> np.ndarray:
    """Raw controller output (..., 3) in (-1, 1) -> CarRacing action [steer, gas, brake].

    steer = a0 in (-1, 1); gas = (a1 + 1) / 2 in (0, 1); brake = clip(a2, 0, 1).
    """
    return np.stack([a[..., 0], (a[..., 1] + 1.0) / 2.0, np.clip(a[..., 2], 0.0, 1.0)], axis=-1)


gym.register(id=ENV_ID, entry_point=CarRacing, max_episode_steps=MAX_STEPS, reward_threshold=900)


RENDERERS = {"fast": ENV_ID, "gymnasium": "CarRacing-v3"}


def make_env(render_mode: str | None = None, renderer: str = "fast", **kwargs) -> gym.Env:
    """CarRacing-v3 with continuous actions [steer, gas, brake] and (64, 64, 3) uint8 frames (top 84
    rows of the state, resampled). `renderer` "fast" (:class:`CarRacing`) or "gymnasium" (its own
    class, for comparison: the same frames, ~3x slower)."""
    if renderer not in RENDERERS:
        raise ValueError(f"unknown CarRacing renderer {renderer!r}; known: {', '.join(RENDERERS)}")
    # The passive checker would warn once about the None observation of a frame that action repeat
    # skips drawing; the env is gymnasium's own class, checked by the tests instead.
    kwargs.setdefault("disable_env_checker", renderer == "fast")
    env = gym.make(RENDERERS[renderer], render_mode=render_mode, max_episode_steps=MAX_STEPS, **kwargs)
    return Frame64(env, crop_rows=CROP_ROWS)
