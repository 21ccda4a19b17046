"""Training-progress plots from the trainer's logs.

``python -m estool.plot log/GAME.cma.16.64.hist.json [--out PREFIX] [--watch SECONDS]`` writes
``PREFIX.progress.{png,svg}`` (fitness against generation) and ``PREFIX.progress_hours.{png,svg}``
(against wall-clock hours): mean, min and max of the population per generation, and the evaluations
of the mean from ``.hist_best.json`` when present. PREFIX defaults to the log name without
``.hist.json``. With ``--watch`` it redraws every SECONDS (for a tmux pane) until interrupted;
``--text`` also prints a short summary with a sparkline of the population mean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

HIST_SUFFIX = ".hist.json"


def log_prefix(hist_path: Path) -> Path:
    """``log/x.cma.16.64.hist.json`` -> ``log/x.cma.16.64``."""
    name = hist_path.name
    if name.endswith(HIST_SUFFIX):
        name = name[: -len(HIST_SUFFIX)]
    return hist_path.with_name(name)


def load_history(hist_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(history rows (G, 9), evaluations (E, 3) as [gen, elapsed_s, reward]) from the logs."""
    history = np.array(json.loads(hist_path.read_text()), dtype=np.float64).reshape(-1, 9)
    best_path = log_prefix(hist_path).with_name(log_prefix(hist_path).name + ".hist_best.json")
    evals = np.zeros((0, 3))
    if best_path.exists():
        rows = json.loads(best_path.read_text())
        evals = np.array([[r[0], r[1], r[5]] for r in rows], dtype=np.float64).reshape(-1, 3)
    return history, evals


def _save(fig: plt.Figure, path: Path) -> None:
    """Save ``fig`` atomically as ``path`` (format from its suffix)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format=path.suffix[1:], dpi=100)
    os.replace(tmp, path)


def draw(x: np.ndarray, history: np.ndarray, eval_x: np.ndarray, evals: np.ndarray,
         xlabel: str, title: str) -> plt.Figure:
    """One figure: population mean/min/max against ``x`` (G,), evaluations against ``eval_x``."""
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.fill_between(x, history[:, 3], history[:, 4], color="tab:blue", alpha=0.2,
                    label="population min..max")
    ax.plot(x, history[:, 2], color="tab:blue", lw=1.2, label="population mean")
    if len(evals):
        ax.plot(eval_x, evals[:, 2], "o-", color="tab:red", ms=3, label="evaluation of the mean")
        ax.plot(eval_x, np.maximum.accumulate(evals[:, 2]), "--", color="tab:green",
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
    for suffix, col, xlabel in ((".progress", 0, "generation"),
                                (".progress_hours", 1, "wall-clock hours")):
        scale = 1.0 if col == 0 else 1.0 / 3600.0
        fig = draw(history[:, col] * scale, history, evals[:, col] * scale, evals, xlabel, title)
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
    g, t, mean, lo, hi = history[-1, :5]
    lines = [f"{hist_path.name}: generation {g:.0f} after {t / 3600:.2f} h: mean {mean:.1f} "
             f"(min {lo:.1f}, max {hi:.1f})"]
    if len(evals):
        best = int(np.argmax(evals[:, 2]))
        lines.append(f"best evaluation {evals[best, 2]:.1f} at generation {evals[best, 0]:.0f}; "
                     f"last {evals[-1, 2]:.1f} at generation {evals[-1, 0]:.0f}")
    lines.append(f"mean  {history[:, 2].min():8.1f} |{sparkline(history[:, 2])}| "
                 f"{history[:, 2].max():.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: plot once, or redraw every ``--watch`` seconds."""
    parser = argparse.ArgumentParser(description="Plot estool training progress")
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
