"""plot_training_progress: PNG and SVG of a training run, as the reference's two plots.

    python plot_training_progress.py [LOG.hist.json] [--watch SECONDS] [--text]

Without a file, plots the newest log/*.hist.json of the experiment folder. The flags are
estool.plot's.
"""

from __future__ import annotations

from pathlib import Path

from estool import plot
from worldmodels.stages.common import StageError


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of plot_training_progress.py."""
    argv = list(argv or [])
    if not any(a.endswith(".hist.json") for a in argv):
        logs = sorted(Path("log").glob("*.hist.json"), key=lambda p: p.stat().st_mtime)
        if not logs:
            raise StageError(f"no log/*.hist.json in {Path.cwd()} (made by: train.py)")
        argv.insert(0, str(logs[-1]))
    code = plot.main(argv)
    if code:
        raise SystemExit(code)
