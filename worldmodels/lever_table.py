"""A table of training runs played on the same validation episodes, from their files.

Each run directory holds what ``carracing/measure_levers.bash`` writes there: ``validation.json``
(the scores file of ``model.py --scores``), ``validation.txt`` (the printed driving report of
``model.py --report``) and, for a run that trained, estool's ``*.hist.json``. The table gives per
run its training (generations and seconds), its validation mean, its difference from each base
run paired episode by episode (with the standard error, marked where it is above two), the
driving report's summary and the points lost to unvisited tiles, in the episodes that lost the
road and in the others (:func:`worldmodels.driving.points_lost`)::

    python -m worldmodels.lever_table --base log/measured/levers/negative20 \\
        --base log/measured/levers/shipped log/measured/levers/*/
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from estool.argtypes import OneLineParser
from estool.logfiles import HIST, HIST_SUFFIX
from worldmodels.driving import (
    DrivingSummary,
    PointsLost,
    points_lost,
    read_report_lines,
    summarize,
)
from worldmodels.experiments import CARRACING
from worldmodels.scores import ScoresFileError, paired_difference, read_scores


class RunDirError(ValueError):
    """A run directory without readable validation files."""


@dataclass(frozen=True)
class Run:
    """One run directory, read: its name, training, validation scores (N,), report summary and
    where its points below 1000 went."""

    name: str
    generations: int | None  # None: not trained (the base controller played as it is)
    training_s: float | None
    seeds: list[int]
    scores: np.ndarray
    summary: DrivingSummary
    lost: PointsLost


def read_run(directory: str | Path) -> Run:
    """Read a run directory (see the module doc). RunDirError names what is missing or broken."""
    directory = Path(directory)
    try:
        data = read_scores(directory / "validation.json")
        rewards, reports = read_report_lines((directory / "validation.txt").read_text())
    except (OSError, ValueError) as err:  # ScoresFileError is a ValueError
        raise RunDirError(f"{directory}: {err}") from None
    scores = np.asarray(next(iter(data["scores"].values())), np.float64)
    if len(reports) != len(scores) or not np.allclose(rewards, scores, atol=0.01):
        raise RunDirError(f"{directory}: validation.txt and validation.json hold other episodes")
    generations = training_s = None
    hist_files = sorted(directory.glob(f"*{HIST_SUFFIX}"))
    if hist_files:
        try:
            rows = json.loads(hist_files[-1].read_text())
        except (OSError, ValueError) as err:
            raise RunDirError(f"{hist_files[-1]}: not a readable history: {err}") from None
        if rows:
            generations = int(rows[-1][HIST["generation"]])
            training_s = float(rows[-1][HIST["elapsed_s"]])
    return Run(directory.name, generations, training_s, data["seeds"], scores,
               summarize(reports, CARRACING.max_frames), points_lost(scores, reports))


def table_lines(runs: list[Run], bases: list[Run]) -> list[str]:
    """The markdown table: one row per run of `runs`, with a paired difference from each of
    `bases` (every run played on the bases' episodes, else RunDirError)."""
    for run in runs + bases:
        if run.seeds != bases[0].seeds:
            raise RunDirError(f"{run.name}: other validation episodes than {bases[0].name}")
    episodes = len(bases[0].seeds)
    header = (["run", "generations (training time)", f"validation mean ({episodes} tracks)"]
              + [f"paired with {base.name} (standard error)" for base in bases]
              + [f"laps finished / {episodes}", f"lost the road / {episodes}", "gas", "speed",
                 "points of unvisited tiles: lost road / others"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        trained = ("-" if run.generations is None
                   else f"{run.generations} ({run.training_s:.0f} s)")
        cells = [run.name, trained, f"{run.scores.mean():.1f}"]
        for base in bases:
            diff, error = paired_difference(base.scores, run.scores)
            mark = ", above 2 SE" if diff > 2 * error > 0 else ""
            cells.append("0" if run is base else f"{diff:+.1f} ({error:.1f}{mark})")
        s = run.summary
        cells += [str(s.laps_finished), str(s.lost_road), f"{s.mean_gas:.2f}",
                  f"{s.mean_speed:.1f}", f"{run.lost.tiles_lost_road:.1f} / {run.lost.tiles_other:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the table of the run directories."""
    parser = OneLineParser(description="a markdown table of runs played on the same validation "
                           "episodes: training, mean, paired differences, driving summary")
    parser.add_argument("runs", nargs="+", help="run directories (validation.json, validation.txt, "
                        "and the run's .hist.json if it trained)")
    parser.add_argument("--base", action="append", default=[], metavar="DIR",
                        help="a run to pair every run with (repeatable; default: the first run)")
    args = parser.parse_args(argv)
    try:
        read = {d: read_run(d) for d in dict.fromkeys(args.runs + args.base)}  # each folder once
        runs = [read[d] for d in args.runs]
        bases = [read[d] for d in args.base] or runs[:1]
        print("\n".join(table_lines(runs, bases)))
    except (RunDirError, ScoresFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
