"""extract.bash and gpu_jobs.bash: real workers, real failures."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(tmp: Path) -> Path:
    """A copy of the bash launchers and doomrnn's entry scripts."""
    root = tmp / "wm"
    (root / "doomrnn").mkdir(parents=True)
    for name in ("extract.bash", "gpu_jobs.bash"):
        shutil.copy(ROOT / name, root / name)
    for script in (ROOT / "doomrnn").glob("*.py"):
        shutil.copy(script, root / "doomrnn" / script.name)
    return root


def bash(root: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], capture_output=True, text=True, cwd=root.parent,
                          env={**os.environ, "PYTHON": python}, timeout=300)


def test_extract_runs_workers_with_distinct_seeds_and_tops_up(tmp_path):
    root = checkout(tmp_path)
    first = bash(root, str(root / "extract.bash"), "doomrnn", "2", "1")
    assert first.returncode == 0, first.stderr
    assert "worker seed 0: 1 episodes  ok" in first.stdout
    assert "worker seed 1: 1 episodes  ok" in first.stdout
    again = bash(root, str(root / "extract.bash"), "doomrnn", "2", "2")
    assert again.returncode == 0 and "worker seed 1: 2 episodes  ok" in again.stdout
    names = sorted(p.name for p in (root / "doomrnn" / "record").glob("*.npz"))
    assert [n.split("_")[0] for n in names] == ["s0", "s0", "s1", "s1"]


def test_extract_names_a_failed_worker_and_exits_nonzero(tmp_path):
    root = checkout(tmp_path)
    flaky = tmp_path / "python"  # a real python, except for the worker with seed 1
    flaky.write_text(f'#!/bin/bash\nfor a in "$@"; do [ "$prev" = --seed ] && [ "$a" = 1 ] && '
                     f'{{ echo "worker 1 broke" >&2; exit 3; }}; prev=$a; done\n'
                     f'exec {sys.executable} "$@"\n')
    flaky.chmod(0o755)
    out = bash(root, str(root / "extract.bash"), "doomrnn", "2", "1", python=str(flaky))
    assert out.returncode == 1
    assert "worker seed 0: 1 episodes  ok" in out.stdout
    assert "worker seed 1: 0 episodes  FAILED" in out.stdout
    assert "1 worker(s) failed: seeds 1" in out.stderr
    assert "worker 1 broke" in (root / "doomrnn" / "logs" / "extract.1.log").read_text()


def test_unknown_experiment_is_refused(tmp_path):
    root = checkout(tmp_path)
    for script in ("extract.bash", "gpu_jobs.bash"):
        out = bash(root, str(root / script), "pong")
        assert out.returncode == 2 and "unknown experiment 'pong'" in out.stderr


def test_gpu_jobs_stops_at_the_first_failing_stage(tmp_path):
    root = checkout(tmp_path)  # no record/: vae_train has nothing to train on
    out = bash(root, str(root / "gpu_jobs.bash"), "doomrnn", "--preset", "smoke")
    assert out.returncode == 1
    assert "vae_train FAILED" in out.stderr and "no episode files" in out.stderr
    logs = root / "doomrnn" / "logs"
    assert (logs / "vae_train.log").is_file()
    assert not (logs / "series.log").exists() and not (logs / "rnn_train.log").exists()


def test_gpu_jobs_runs_all_stages_and_resumes(tmp_path):
    root = checkout(tmp_path)
    assert bash(root, str(root / "extract.bash"), "doomrnn", "2", "1").returncode == 0
    out = bash(root, str(root / "gpu_jobs.bash"), "doomrnn", "--preset", "smoke")
    assert out.returncode == 0, out.stderr
    for name in ("vae.npz", "rnn.npz", "initial_z.npz"):
        assert (root / "doomrnn" / "tf_models" / name).is_file()
    again = bash(root, str(root / "gpu_jobs.bash"), "doomrnn", "--preset", "smoke")
    assert again.returncode == 0 and again.stdout.count("nothing to do") == 2  # V and M


def test_reproduce_shipped_c_refuses_without_its_python_in_one_line(tmp_path):
    """The recomputation needs Python 3.12 (numpy 2.5.2) and AVX-512: without them it says which,
    in one line, before installing or training anything."""
    venv = tmp_path / "venv"
    proc = subprocess.run(["bash", str(ROOT / "doomrnn" / "reproduce_shipped_c.bash"),
                           str(tmp_path / "log")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON312": str(tmp_path / "no-python3.12"),
                               "REPRO_VENV": str(venv)})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("reproduce_shipped_c: ")
    has_avx512 = "avx512f" in Path("/proc/cpuinfo").read_text().split()
    assert ("Python 3.12" if has_avx512 else "AVX-512") in proc.stderr
    assert not venv.exists() and not (tmp_path / "log").exists()
