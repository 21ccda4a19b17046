"""Per-episode scores of real-game evaluations: a small JSON file, and a figure made from it.

A scores file is a JSON object::

    {"env": "doomreal", "unit": "steps survived", "seeds": [277281048, ...],
     "scores": {"shipped agent": [r0, r1, ...], "random policy": [...]},
     "references": {"paper": 1092.0}}

``seeds`` are the environment seeds of the episodes (``episode_seed(TEST_SEED_BASE + SEED, i)``
for model.py's test episodes, :mod:`worldmodels.seeds`); every list in ``scores`` has one value
per seed (the same episodes for every player); ``references`` holds published means to mark on
the figure. ``model.py norender --scores FILE`` and ``python -m worldmodels.demo --scores-dir DIR``
write them;

    python -m worldmodels.scores FILE [FILE ...] --out docs/results/figure.png

draws each player's episodes as a strip of points with its mean +/- standard deviation, and each
reference as a dashed line. :func:`standard_error` is the error printed beside episode means.

    python -m worldmodels.scores --paired BASE OTHER [OTHER ...]

prints each player's mean and its paired difference from the first player of BASE over the same
episodes, with the standard error of that difference (:func:`paired_difference`): the test for
shipping a new controller is a paired difference above two standard errors.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np

from estool.argtypes import OneLineParser
from worldmodels.fileio import atomic_open


class ScoresFileError(ValueError):
    """A scores file that is missing, not JSON, or not shaped as the module doc says."""


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of `values` (N,): sample std (ddof 1) / sqrt(N), in the unit of
    `values`; 0 when N < 2.

    Printed beside episode means because a 100-episode Doom mean moves by ~50 steps between
    episode sets, as much as the differences between controllers."""
    values = np.asarray(values, dtype=np.float64)
    return 0.0 if values.size < 2 else float(values.std(ddof=1) / np.sqrt(values.size))


def paired_difference(base: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Mean of `other` - `base` over the same episodes ((N,) each, one score per episode), and
    the standard error of that mean, in the unit of the scores."""
    diff = np.asarray(other, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    return float(diff.mean()), standard_error(diff)


def paired_table(files: dict[str, dict]) -> list[str]:
    """Lines comparing every player of `files` (name -> content as read_scores returns; the same
    seeds in each) with the first player of the first file: mean +/- standard error, and the
    paired difference with its standard error. ScoresFileError when the seeds differ."""
    (base_name, base), *_ = files.items()
    base_player, base_scores = next(iter(base["scores"].items()))
    lines = [f"{len(base['seeds'])} episodes; differences paired with {base_name} "
             f"({base_player})"]
    for name, data in files.items():
        if data["seeds"] != base["seeds"]:
            raise ScoresFileError(f"{name}: other episodes than {base_name} (seeds differ): "
                                  "not paired")
        for player, scores in data["scores"].items():
            diff, error = paired_difference(base_scores, scores)
            verdict = "  above 2 SE" if diff > 2 * error > 0 else ""
            lines.append(f"  {name} ({player}): {np.mean(scores):7.1f} +/- "
                         f"{standard_error(scores):5.1f}   difference {diff:+7.1f} +/- "
                         f"{error:5.1f}{verdict}")
    return lines


def write_scores(path: str | Path, env: str, unit: str, seeds: list[int],
                 scores: dict[str, np.ndarray],
                 references: dict[str, float] | None = None) -> None:
    """Write a scores file atomically; `scores` maps a player to its rewards (len(seeds),)."""
    for name, values in scores.items():
        if len(values) != len(seeds):
            raise ValueError(f"{name}: {len(values)} scores for {len(seeds)} episodes")
    data = {"env": env, "unit": unit, "seeds": [int(s) for s in seeds],
            "scores": {k: [float(v) for v in vals] for k, vals in scores.items()},
            "references": {k: float(v) for k, v in (references or {}).items()}}
    with atomic_open(path, "w") as f:
        json.dump(data, f)


def read_scores(path: str | Path) -> dict:
    """A scores file's content, checked: every player has one finite score per episode."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ScoresFileError(f"{path}: not a readable scores file: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or \
            not isinstance(data.get("seeds"), list):
        raise ScoresFileError(f"{path}: expected a JSON object with 'seeds' and 'scores'")
    for name, values in data["scores"].items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(data["seeds"]),) or not np.all(np.isfinite(values)):
            raise ScoresFileError(f"{path}: {name!r} needs {len(data['seeds'])} finite scores")
    return data


def plot_scores(files: list[dict], out: Path, title: str | None = None) -> None:
    """Strip plot of every player of the scores files `files` (as read_scores returns) to `out`
    (PNG or SVG by suffix): the episodes as jittered points, mean +/- std as a bar, references
    as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    players = [(name, np.asarray(vals)) for data in files for name, vals in data["scores"].items()]
    references = {k: v for data in files for k, v in data.get("references", {}).items()}
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(1.9 * len(players) + 2.5, 4.2))
    for i, (_, values) in enumerate(players):
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(values)), values, s=9, alpha=0.45)
        ax.errorbar(i + 0.3, values.mean(), yerr=values.std(), fmt="o", color="black", capsize=4)
        ax.annotate(f"{values.mean():.1f} +/- {values.std():.1f}", (i + 0.36, values.mean()),
                    fontsize=8, va="center")
    for k, (name, value) in enumerate(sorted(references.items())):
        ax.axhline(value, ls="--", lw=1, color=f"C{len(players) + k}", label=f"{name}: {value:g}")
    ax.set_xticks(range(len(players)), [name for name, _ in players])
    ax.set_xlim(-0.6, len(players) - 0.1)
    ax.set_ylabel(files[0].get("unit", "score"))
    episodes = len(files[0]["seeds"])
    title = title or f"{files[0].get('env', '')}: {episodes} episodes, the same for every player"
    ax.set_title(textwrap.fill(title, 55), fontsize=10)
    if references:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: plot scores files."""
    parser = OneLineParser(description="plot per-episode scores files (strip plot), or compare "
                           "them episode by episode (--paired)")
    parser.add_argument("files", nargs="+", help="scores files (model.py --scores, demo --scores-dir)")
    parser.add_argument("--out", help="figure file (.png or .svg)")
    parser.add_argument("--title", default=None)
    parser.add_argument("--paired", action="store_true",
                        help="print every player's mean and its paired difference from the first "
                        "file's first player, over the same episodes")
    args = parser.parse_args(argv)
    if not args.out and not args.paired:
        parser.error("give --out FIGURE, --paired, or both")
    try:
        files = {f: read_scores(f) for f in args.files}
        if args.paired:
            print("\n".join(paired_table(files)))
    except ScoresFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        plot_scores(list(files.values()), Path(args.out), args.title)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
