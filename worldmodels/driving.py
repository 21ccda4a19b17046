"""The driving report: why a CarRacing agent scores what it scores.

A CarRacing score is 1000 x (share of tiles visited) - 0.1 x (environment steps), and an episode
ends with the lap (in gymnasium 1.4.0 only once every tile is visited: its 95% rule never takes
effect), at the 1000-step cap, or off the playfield. So a score
below 900 comes from one of three things, which this report separates per episode: the car is too
slow (the cap comes while it still gains tiles: the last new tile near the end), it skips tiles
(the lap is not finished although the car went on), or it leaves the road (long runs of negative
reward, steps with every wheel on the grass).

:class:`DrivingRecorder` watches :func:`worldmodels.agent.run_episodes` step by step (its
``observer``); :func:`episode_report` sums one episode up, :func:`report_line` and
:func:`summary_lines` print it and the summary over episodes (with :func:`points_lost`: where
the points below 1000 went), :func:`plot_drives` draws speed and tiles over time for a few
episodes. :func:`read_report_lines` reads the episode lines back from a saved report, so that
tables over runs (:mod:`worldmodels.lever_table`) come from its files.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np

from worldmodels.agent import all_wheels_off_road

# Columns of one recorded agent step (DrivingRecorder.rows).
_STEP, _SPEED, _STEER, _GAS, _BRAKE, _TILES, _REWARD, _OFF_ROAD, _LAP = range(9)
COLUMNS = 9
LOST_ROAD_STEPS = 100  # a run of negative reward this long: the car lost the road (or stopped)


@dataclass(frozen=True)
class DrivingReport:
    """One episode, summed up. Steps are environment steps; speeds are the hull's speed in the
    game's units (the number gymnasium's speed bar shows); gas, brake and steer are the actions
    the game received, averaged over steps."""

    steps: int  # environment steps played (1000: cut by the cap)
    tiles: int  # road tiles visited
    total_tiles: int  # road tiles of the track
    lap_finished: bool  # the episode ended by the lap rule
    last_new_tile_step: int  # environment step at which the last new tile was visited
    mean_speed: float
    mean_gas: float
    mean_brake: float
    mean_abs_steer: float
    longest_negative_run: int  # most consecutive environment steps of negative reward
    off_road_steps: int  # environment steps with all four wheels off the road

    @property
    def tile_share(self) -> float:
        """Visited tiles / all tiles, in [0, 1]."""
        return self.tiles / max(self.total_tiles, 1)

    @property
    def lost_road(self) -> bool:
        """A run of LOST_ROAD_STEPS or more steps of negative reward: the car lost the road (or
        stopped)."""
        return self.longest_negative_run >= LOST_ROAD_STEPS


class DrivingRecorder:
    """An observer for :func:`worldmodels.agent.run_episodes` on CarRacing envs: after every agent
    step of row r it records the car's state, the action and the reward (:meth:`rows`), and the
    number of tiles of its track (`total_tiles[r]`)."""

    def __init__(self, rows: int):
        self._steps: list[list[tuple[float, ...]]] = [[] for _ in range(rows)]
        self._elapsed = np.zeros(rows, np.int64)
        self.total_tiles = np.zeros(rows, np.int64)

    def __call__(self, row: int, env: gym.Env, action: np.ndarray, reward: float,
                 frames: int) -> None:
        """Record row `row`'s step: env action [steer, gas, brake] (3,), summed reward, and the
        environment steps it took."""
        game = env.unwrapped
        vx, vy = game.car.hull.linearVelocity
        off_road = all_wheels_off_road(env)
        lap = game.new_lap or game.tile_visited_count == len(game.track)
        self._elapsed[row] += frames
        self._steps[row].append((float(self._elapsed[row]), math.hypot(vx, vy), float(action[0]),
                                 float(action[1]), float(action[2]), float(game.tile_visited_count),
                                 float(reward), float(off_road), float(lap)))
        self.total_tiles[row] = len(game.track)

    def rows(self) -> list[np.ndarray]:
        """The recorded steps of every row: (agent steps, 9) arrays (environment step, speed,
        steer, gas, brake, tiles visited so far, reward, all wheels off the road, lap done)."""
        return [np.asarray(steps, np.float64).reshape(-1, COLUMNS) for steps in self._steps]


def episode_report(steps: np.ndarray, total_tiles: int) -> DrivingReport:
    """Sum up one episode's recorded steps (T, 9) (one row per agent step, as
    :meth:`DrivingRecorder.rows`) on a track of `total_tiles` tiles."""
    if len(steps) == 0:
        raise ValueError("an episode with no recorded steps")
    env_step = steps[:, _STEP].astype(np.int64)
    frames = np.diff(np.concatenate([[0], env_step]))  # environment steps per agent step
    tiles = steps[:, _TILES]
    gained = np.flatnonzero(np.diff(np.concatenate([[0.0], tiles])) > 0)
    negative_run, longest = 0, 0
    for reward, taken in zip(steps[:, _REWARD], frames, strict=True):
        negative_run = negative_run + int(taken) if reward < 0 else 0
        longest = max(longest, negative_run)
    visited = int(tiles[-1])

    def mean(column: int) -> float:
        return float(np.average(column, weights=frames))

    return DrivingReport(
        steps=int(env_step[-1]), tiles=visited, total_tiles=int(total_tiles),
        lap_finished=bool(steps[-1, _LAP]),
        last_new_tile_step=int(env_step[gained[-1]]) if len(gained) else 0,
        mean_speed=mean(steps[:, _SPEED]), mean_gas=mean(steps[:, _GAS]),
        mean_brake=mean(steps[:, _BRAKE]), mean_abs_steer=mean(np.abs(steps[:, _STEER])),
        longest_negative_run=longest, off_road_steps=int(frames[steps[:, _OFF_ROAD] > 0].sum()))


def report_line(number: int, reward: float, report: DrivingReport) -> str:
    """One episode's line of the report."""
    lap = "lap done" if report.lap_finished else "lap not done"
    return (f"episode {number}: reward {reward:.2f}, steps {report.steps}, tiles {report.tiles}/"
            f"{report.total_tiles} ({lap}), last new tile at step {report.last_new_tile_step}, "
            f"speed {report.mean_speed:.1f}, gas {report.mean_gas:.2f}, brake "
            f"{report.mean_brake:.2f}, |steer| {report.mean_abs_steer:.2f}, longest negative run "
            f"{report.longest_negative_run}, off road {report.off_road_steps}")


_LINE = re.compile(
    r"episode (?P<number>\d+): reward (?P<reward>\S+), steps (?P<steps>\d+), tiles (?P<tiles>\d+)/"
    r"(?P<total_tiles>\d+) \((?P<lap>lap done|lap not done)\), last new tile at step "
    r"(?P<last_new_tile_step>\d+), speed (?P<mean_speed>\S+), gas (?P<mean_gas>\S+), brake "
    r"(?P<mean_brake>\S+), \|steer\| (?P<mean_abs_steer>\S+), longest negative run "
    r"(?P<longest_negative_run>\d+), off road (?P<off_road_steps>\d+)")
_FIELD_TYPES = {field.name: int if field.type == "int" else float
                for field in fields(DrivingReport) if field.name != "lap_finished"}


def read_report_lines(text: str) -> tuple[np.ndarray, list[DrivingReport]]:
    """The episodes of a saved driving report (the text `model.py --report` prints; other lines
    are ignored): their rewards (N,) and reports, in episode order, with the printed precision.
    ValueError when the text holds no episode line or an episode twice."""
    found: dict[int, tuple[float, DrivingReport]] = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line.strip())
        if not match:
            continue
        groups = match.groupdict()
        number = int(groups.pop("number"))
        if number in found:
            raise ValueError(f"episode {number} is in the report twice")
        reward = float(groups.pop("reward"))
        lap = groups.pop("lap") == "lap done"
        values = {name: _FIELD_TYPES[name](value) for name, value in groups.items()}
        found[number] = (reward, DrivingReport(lap_finished=lap, **values))
    if not found:
        raise ValueError("no episode line of a driving report")
    numbers = sorted(found)
    return (np.array([found[n][0] for n in numbers]), [found[n][1] for n in numbers])


@dataclass(frozen=True)
class DrivingSummary:
    """Episodes summed up: where their points were lost. Counts are episodes; means are over
    episodes (float NaN where no episode counts)."""

    episodes: int
    laps_finished: int
    mean_lap_steps: float  # environment steps of the finished laps
    capped: int  # cut by the step cap before the lap was done
    capped_still_gaining: int  # of those, a new tile in the last 50 steps: too slow
    lost_road: int  # a run of LOST_ROAD_STEPS or more steps of negative reward
    tile_share: float  # visited / total tiles, in [0, 1]
    mean_speed: float
    mean_gas: float
    mean_brake: float
    mean_abs_steer: float
    off_road_steps: float  # per episode


def summarize(reports: list[DrivingReport], cap: int) -> DrivingSummary:
    """Sum up the episodes' reports (`cap` = the episodes' step cap)."""
    capped = [r for r in reports if r.steps >= cap and not r.lap_finished]
    finished = [r for r in reports if r.lap_finished]

    def avg(values) -> float:
        values = list(values)
        return float(np.mean(values)) if values else float("nan")

    return DrivingSummary(
        episodes=len(reports), laps_finished=len(finished),
        mean_lap_steps=avg(r.steps for r in finished), capped=len(capped),
        capped_still_gaining=sum(r.last_new_tile_step >= cap - 50 for r in capped),
        lost_road=sum(r.lost_road for r in reports),
        tile_share=avg(r.tile_share for r in reports),
        mean_speed=avg(r.mean_speed for r in reports), mean_gas=avg(r.mean_gas for r in reports),
        mean_brake=avg(r.mean_brake for r in reports),
        mean_abs_steer=avg(r.mean_abs_steer for r in reports),
        off_road_steps=avg(r.off_road_steps for r in reports))


@dataclass(frozen=True)
class PointsLost:
    """Where an episode's points below the 1000 of a perfect lap went, averaged over episodes:
    the sum of the four is 1000 minus the mean reward."""

    steps: float  # the time cost, 0.1 per environment step
    tiles_lost_road: float  # tiles not visited, in episodes that lost the road
    tiles_other: float  # tiles not visited, in the other episodes (too slow, or tiles skipped)
    other: float  # the rest: leaving the playfield (-100), rounding of the tile reward


def points_lost(rewards: np.ndarray, reports: list[DrivingReport]) -> PointsLost:
    """Split 1000 - reward of each episode (rewards (N,), one report each) into the time cost
    (0.1 per step), unvisited tiles (1000 x the share not visited) in the episodes that lost the
    road and in the others, and the rest; means over episodes. An episode's tile share times
    1000 is what its tiles earned."""
    rewards = np.asarray(rewards, np.float64)
    steps = np.array([0.1 * r.steps for r in reports])
    unvisited = np.array([1000.0 * (1.0 - r.tile_share) for r in reports])
    lost = np.array([r.lost_road for r in reports], dtype=bool)
    n = max(len(reports), 1)

    def mean(values: np.ndarray) -> float:  # rounded so that float error does not print as -0.0
        return float(np.round(values.sum() / n, 6)) + 0.0

    return PointsLost(steps=mean(steps), tiles_lost_road=mean(unvisited[lost]),
                      tiles_other=mean(unvisited[~lost]),
                      other=mean(1000.0 - rewards - steps - unvisited))


def summary_lines(rewards: np.ndarray, reports: list[DrivingReport], cap: int) -> list[str]:
    """The report's summary over all episodes (rewards (N,), one report each; `cap` = the
    episode's step cap): where the points were lost."""
    s = summarize(reports, cap)
    lost = points_lost(rewards, reports)
    n = s.episodes
    return [
        f"driving report over {n} episodes: mean reward {np.mean(rewards):.1f}",
        f"  laps finished: {s.laps_finished}/{n}"
        + (f" (mean {s.mean_lap_steps:.0f} steps)" if s.laps_finished else ""),
        f"  cut by the {cap}-step cap: {s.capped}/{n}; of those, still gaining tiles in the "
        f"last 50 steps (too slow): {s.capped_still_gaining}",
        f"  no new tile for {LOST_ROAD_STEPS}+ steps in a row (lost the road, or stopped): "
        f"{s.lost_road}/{n}",
        f"  tiles visited: {100 * s.tile_share:.1f}% on average",
        f"  mean speed {s.mean_speed:.1f}, gas {s.mean_gas:.2f}, brake {s.mean_brake:.2f}, "
        f"|steer| {s.mean_abs_steer:.2f}, off road {s.off_road_steps:.0f} steps per episode",
        f"  points below 1000 per episode: {lost.steps:.1f} for the steps (0.1 each), "
        f"{lost.tiles_lost_road:.1f} for tiles not visited in the {s.lost_road} that lost the "
        f"road, {lost.tiles_other:.1f} in the others, {lost.other:.1f} other",
    ]


def plot_drives(path: str | os.PathLike, rows: list[tuple[int, float, np.ndarray, int]],
                title: str = "") -> None:
    """Speed and share of tiles over environment steps for a few episodes, as a PNG (or SVG) at
    `path`. `rows`: (episode number, reward, recorded steps (T, 9), total tiles) per episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from worldmodels.fileio import atomic_open

    fig, (speed_ax, tile_ax) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for number, reward, steps, total in rows:
        label = f"episode {number} ({reward:.0f})"
        speed_ax.plot(steps[:, _STEP], steps[:, _SPEED], lw=0.8, label=label)
        tile_ax.plot(steps[:, _STEP], 100 * steps[:, _TILES] / total, lw=0.8, label=label)
    speed_ax.set_ylabel("hull speed")
    tile_ax.set_ylabel("tiles visited (%)")
    tile_ax.set_xlabel("environment step")
    tile_ax.set_ylim(0, 101)
    speed_ax.legend(fontsize=7, loc="lower right")
    if title:
        speed_ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=os.path.splitext(str(path))[1].lstrip(".") or "png", dpi=110)
    plt.close(fig)
    with atomic_open(path) as f:
        f.write(buffer.getvalue())
