"""Training-progress plots from the trainer's logs.

``python -m estool.plot log/GAME.cma.16.64.hist.json [--out PREFIX] [--watch SECONDS]`` writes
``PREFIX.progress.{png,svg}`` (fitness against generation) and ``PREFIX.progress_hours.{png,svg}``
(against wall-clock hours): mean, min and max of the population per generation, and the evaluations
of the mean from ``.hist_best.json`` when present. PREFIX defaults to the log name without
``.hist.json``. With ``--watch`` it redraws every SECONDS (for a tmux pane) until interrupted;
``--text`` also prints a short summary with a sparkline of the population mean.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from estool.argtypes import OneLineParser
from estool.logfiles import HIST, HIST_SUFFIX, atomic_write, hist_best_value  # noqa: E402

# Columns of the evaluations load_history returns, and the .hist_best.json value each comes from.
EVAL_COLUMNS = ("generation", "elapsed_s", "reward")
EVAL_SOURCES = ("generation", "elapsed_s", "curr")
EVAL = {name: i for i, name in enumerate(EVAL_COLUMNS)}


def log_prefix(hist_path: Path) -> Path:
    """``log/x.cma.16.64.hist.json`` -> ``log/x.cma.16.64``."""
    name = hist_path.name
    if name.endswith(HIST_SUFFIX):
        name = name[: -len(HIST_SUFFIX)]
    return hist_path.with_name(name)


def load_history(hist_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """History rows (G, len(HIST_COLUMNS)) and evaluations of the mean (E, len(EVAL_COLUMNS))."""
    history = np.array(json.loads(hist_path.read_text()), dtype=np.float64).reshape(-1, len(HIST))
    best_path = log_prefix(hist_path).with_name(log_prefix(hist_path).name + ".hist_best.json")
    evals = np.zeros((0, len(EVAL)))
    if best_path.exists():
        rows = json.loads(best_path.read_text())
        evals = np.array([[hist_best_value(r, name) for name in EVAL_SOURCES] for r in rows],
                         dtype=np.float64).reshape(-1, len(EVAL))
    return history, evals


def _save(fig: plt.Figure, path: Path) -> None:
    """Save ``fig`` atomically as ``path`` (format from its suffix)."""
    image = io.BytesIO()
    fig.savefig(image, format=path.suffix[1:], dpi=100)
    atomic_write(path, image.getvalue())


def draw(x: np.ndarray, history: np.ndarray, eval_x: np.ndarray, evals: np.ndarray,
         xlabel: str, title: str) -> plt.Figure:
    """One figure: population mean/min/max against ``x`` (G,), evaluations against ``eval_x``."""
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.fill_between(x, history[:, HIST["min"]], history[:, HIST["max"]], color="tab:blue",
                    alpha=0.2, label="population min..max")
    ax.plot(x, history[:, HIST["mean"]], color="tab:blue", lw=1.2, label="population mean")
    if len(evals):
        reward = evals[:, EVAL["reward"]]
        ax.plot(eval_x, reward, "o-", color="tab:red", ms=3, label="evaluation of the mean")
        ax.plot(eval_x, np.maximum.accumulate(reward), "--", color="tab:green",
                label="best evaluation")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot(hist_path: Path, out: Path | None = None) -> list[Path]:
    """Write the two progress plots as PNG and SVG; returns the written paths ([] if no rows)."""
    history, evals = load_history(hist_path)
    if len(history) == 0:
        return []
    prefix = out or log_prefix(hist_path)
    title = prefix.name
    written = []
    for suffix, col, scale, xlabel in ((".progress", "generation", 1.0, "generation"),
                                       (".progress_hours", "elapsed_s", 1 / 3600, "wall-clock hours")):
        fig = draw(history[:, HIST[col]] * scale, history, evals[:, EVAL[col]] * scale, evals,
                   xlabel, title)
        for ext in (".png", ".svg"):
            path = prefix.with_name(prefix.name + suffix + ext)
            _save(fig, path)
            written.append(path)
        plt.close(fig)
    return written


SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, width: int = 60) -> str:
    """`values` (G,) as a one-line bar chart of at most `width` characters (block means)."""
    if len(values) == 0:
        return ""
    blocks = np.array_split(values, min(width, len(values)))
    means = np.array([b.mean() for b in blocks])
    span = means.max() - means.min()
    levels = np.zeros(len(means), int) if span == 0 else \
        np.round((means - means.min()) / span * (len(SPARK) - 1)).astype(int)
    return "".join(SPARK[i] for i in levels)


def text_summary(hist_path: Path) -> str:
    """A few lines for a terminal: last generation, best evaluation, and the mean's sparkline."""
    history, evals = load_history(hist_path)
    if len(history) == 0:
        return f"{hist_path.name}: no generations yet"
    last = dict(zip(HIST, history[-1], strict=True))
    lines = [f"{hist_path.name}: generation {last['generation']:.0f} after "
             f"{last['elapsed_s'] / 3600:.2f} h: mean {last['mean']:.1f} "
             f"(min {last['min']:.1f}, max {last['max']:.1f})"]
    if len(evals):
        reward, generation = evals[:, EVAL["reward"]], evals[:, EVAL["generation"]]
        best = int(np.argmax(reward))
        lines.append(f"best evaluation {reward[best]:.1f} at generation {generation[best]:.0f}; "
                     f"last {reward[-1]:.1f} at generation {generation[-1]:.0f}")
    mean = history[:, HIST["mean"]]
    lines.append(f"mean  {mean.min():8.1f} |{sparkline(mean)}| {mean.max():.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: plot once, or redraw every ``--watch`` seconds."""
    parser = OneLineParser(description="Plot estool training progress")
    parser.add_argument("hist", type=Path, help="LOG.hist.json written by the trainer")
    parser.add_argument("--out", type=Path, default=None,
                        help="output prefix (default: the log name without .hist.json)")
    parser.add_argument("--watch", type=float, default=0.0,
                        help="redraw every this many seconds (0: once)")
    parser.add_argument("--text", action="store_true",
                        help="also print a text summary with a sparkline (for a terminal pane)")
    args = parser.parse_args(argv)
    while True:
        if not args.hist.exists():
            print(f"estool.plot: {args.hist} does not exist (yet)", file=sys.stderr, flush=True)
            if not args.watch:
                return 1
        else:
            written = plot(args.hist, args.out)
            stamp = time.strftime("%H:%M:%S")
            print(f"[{stamp}] wrote {', '.join(str(p) for p in written) or 'nothing (no rows)'}",
                  flush=True)
            if args.text:
                print(text_summary(args.hist), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)


if __name__ == "__main__":
    raise SystemExit(main())
