"""estool.plot: PNG and SVG from a real trainer log, once and with --watch."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from estool import trainer

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_log(log_dir: Path) -> Path:
    argv = ["--problem", "estool.problems:rosenbrock", "-n", "1", "-t", "8", "--num-episode", "1",
            "--max-generations", "12", "--eval-steps", "4", "--log-dir", str(log_dir)]
    assert trainer.main(argv) == 0
    return log_dir / "rosenbrock.cma.1.8.hist.json"


def check_images(prefix: Path) -> None:
    for name in (".progress", ".progress_hours"):
        png = prefix.with_name(prefix.name + name + ".png")
        svg = prefix.with_name(prefix.name + name + ".svg")
        assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 5000
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")


def test_plot_command_writes_png_and_svg(tmp_path) -> None:
    hist = make_log(tmp_path / "log")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "estool.plot", str(hist)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    check_images(tmp_path / "log" / "rosenbrock.cma.1.8")
    assert not [p for p in (tmp_path / "log").iterdir() if p.name.endswith(".tmp")]


def test_plot_watch_redraws(tmp_path) -> None:
    hist = make_log(tmp_path / "log")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "watched"
    proc = subprocess.Popen([sys.executable, "-m", "estool.plot", str(hist), "--out", str(out),
                             "--watch", "0.2"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # two redraws
    finally:
        proc.kill()
        proc.wait()
    assert all("wrote" in line for line in lines)
    check_images(out)


def test_text_summary_and_sparkline(tmp_path):
    import json

    import numpy as np

    from estool.logfiles import hist_row
    from estool.plot import sparkline, text_summary

    assert sparkline(np.arange(9.0)) == " ▁▂▃▄▅▆▇█"
    assert len(sparkline(np.arange(500.0), width=60)) == 60
    hist = tmp_path / "g.cma.1.2.hist.json"
    rest = {"std": 1.0, "sigma": 0.1, "mean_steps": 5, "max_steps": 9}
    hist.write_text(json.dumps([
        hist_row(generation=1, elapsed_s=3600.0, mean=1.0, min=0.0, max=2.0, **rest),
        hist_row(generation=2, elapsed_s=7200.0, mean=3.0, min=1.0, max=5.0, **rest)]))
    text = text_summary(hist)
    assert "generation 2 after 2.00 h: mean 3.0 (min 1.0, max 5.0)" in text
    assert "| 3.0" in text
