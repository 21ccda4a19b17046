"""extract.bash and gpu_jobs.bash: real workers, real failures."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parent.parent


def checkout(tmp: Path) -> Path:
    """A copy of the bash launchers and doomrnn's entry scripts."""
    root = tmp / "wm"
    (root / "doomrnn").mkdir(parents=True)
    for name in ("extract.bash", "gpu_jobs.bash", "launcher_checks.bash"):
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


# --- launchers check their input before anything runs and never execute argument text -----------

def injection(marker: Path) -> str:
    """A value that bash arithmetic would execute: the subscript runs `touch marker`."""
    return f"PATH[$(touch {marker})]"


def one_line_refusal(out: subprocess.CompletedProcess, message: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


@pytest.mark.parametrize(("args", "env", "message"), [
    (["{inject}", "1"], {}, "WORKERS must be a whole number from 1 to 999999999, got 'PATH[$("),
    (["2", "{inject}"], {}, "EPISODES_PER_WORKER must be a whole number from 1"),
    (["0"], {}, "WORKERS must be a whole number from 1 to 999999999, got '0'"),
    (["2", "-1"], {}, "EPISODES_PER_WORKER must be a whole number from 1 to 999999999, got '-1'"),
    (["2", "1"], {"EXTRACT_SEED_OFFSET": "{inject}"}, "EXTRACT_SEED_OFFSET must be a whole number"),
    (["2"], {"EXTRACT_TOTAL_WORKERS": "0"}, "EXTRACT_TOTAL_WORKERS must be a whole number from 1"),
    (["2", "1", "--", "--preset", "bogus"], {}, "unknown preset 'bogus' for doomrnn; known: paper"),
    (["2", "--", "--preset=bogus"], {}, "unknown preset 'bogus' for doomrnn"),
])
def test_extract_refuses_bad_numbers_and_presets_before_starting_a_worker(tmp_path, args, env,
                                                                          message):
    root = checkout(tmp_path)
    marker = tmp_path / "executed"
    args = [a.replace("{inject}", injection(marker)) for a in args]
    env = {k: v.replace("{inject}", injection(marker)) for k, v in env.items()}
    out = subprocess.run(["bash", str(root / "extract.bash"), "doomrnn", *args],
                         capture_output=True, text=True, cwd=root.parent, timeout=60,
                         env={**os.environ, "PYTHON": sys.executable, **env})
    one_line_refusal(out, f"extract.bash: {message}")
    assert not marker.exists()
    assert not (root / "doomrnn" / "logs").exists()  # made only once workers are about to start


def slurm_checkout(tmp: Path) -> tuple[Path, Path]:
    """checkout() plus slurm/, and a fake sbatch on a folder for PATH that records its calls."""
    root = checkout(tmp)
    shutil.copytree(ROOT / "slurm", root / "slurm")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"
    fake.write_text(f'#!/bin/bash\necho "$*" >> {tmp / "sbatch_calls"}\necho 4242\n')
    fake.chmod(0o755)
    return root, bin_dir


def submit(root: Path, bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PYTHON": sys.executable, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PRESET": "smoke", "GPU_GRES": ""}
    return subprocess.run(["bash", str(root / "slurm" / "submit"), "doomrnn", *args],
                          capture_output=True, text=True, cwd=root, timeout=60,
                          env={**os.environ, **base, **env})


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--preset", "bogus"], {}, "unknown preset 'bogus' for doomrnn; known: paper, small, smoke"),
    ([], {"PRESET": "tiny"}, "unknown preset 'tiny' for doomrnn"),
    ([], {"EXTRACT_TASKS": "{inject}"}, "EXTRACT_TASKS must be a whole number from 1"),
    ([], {"EXTRACT_CPUS": "0"}, "EXTRACT_CPUS must be a whole number from 1 to 999999999, got '0'"),
    ([], {"GPU_CPUS": "-4"}, "GPU_CPUS must be a whole number from 1"),
    ([], {"TRAIN_TASKS": "1"}, "TRAIN_TASKS must be a whole number from 2 to 999999999, got '1'"),
    (["--preset"], {}, "--preset needs a value"),
])
def test_submit_refuses_bad_input_before_calling_sbatch(tmp_path, args, env, message):
    root, bin_dir = slurm_checkout(tmp_path)
    marker = tmp_path / "executed"
    env = {k: v.replace("{inject}", injection(marker)) for k, v in env.items()}
    one_line_refusal(submit(root, bin_dir, *args, **env), f"submit: {message}")
    assert not (tmp_path / "sbatch_calls").exists() and not marker.exists()


def test_submit_with_good_input_calls_sbatch_three_times(tmp_path):
    """The same fake sbatch is reached when the input is good (so the refusals above are real)."""
    root, bin_dir = slurm_checkout(tmp_path)
    out = submit(root, bin_dir, EXTRACT_TASKS="2", EXTRACT_CPUS="1", TRAIN_TASKS="3")
    assert out.returncode == 0, out.stderr
    calls = (tmp_path / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 3 and "--array=0-1" in calls[0] and "--ntasks=3" in calls[2]


@pytest.mark.parametrize(("experiment", "env", "message"), [
    ("doomrnn", {"PRESET": "smoke').population); open('{marker}', 'w'); print(g('doomrnn')"
                           ".preset('smoke"}, "unknown preset"),
    ("doomrnn').population); open('{marker}', 'w'); print(g('doomrnn", {"PRESET": "smoke"},
     "unknown experiment"),
    ("doomrnn", {"SLURM_NTASKS": "{inject}"},
     "the number of tasks (--ntasks) must be a whole number from 2"),
])
def test_train_sbatch_never_runs_its_arguments_as_code(tmp_path, experiment, env, message):
    """Values that were pasted into a `python -c` string (and would have created the marker) or
    into bash arithmetic reach Python only as arguments: refused in one line, nothing run."""
    root, _ = slurm_checkout(tmp_path)
    marker = tmp_path / "executed"

    def fill(text: str) -> str:
        return text.replace("{marker}", str(marker)).replace("{inject}", injection(marker))

    out = subprocess.run(["bash", str(root / "slurm" / "train.sbatch"), fill(experiment)],
                         capture_output=True, text=True, cwd=root, timeout=60,
                         env={**os.environ, "WM_ROOT": str(root), "PYTHON": sys.executable,
                              **{k: fill(v) for k, v in env.items()}})
    one_line_refusal(out, f"train.sbatch: {message}")
    assert not marker.exists()


def test_extract_sbatch_checks_its_slurm_numbers(tmp_path):
    root, _ = slurm_checkout(tmp_path)
    marker = tmp_path / "executed"
    out = subprocess.run(["bash", str(root / "slurm" / "extract.sbatch"), "doomrnn"],
                         capture_output=True, text=True, cwd=root, timeout=60,
                         env={**os.environ, "WM_ROOT": str(root), "PYTHON": sys.executable,
                              "SLURM_CPUS_PER_TASK": injection(marker)})
    one_line_refusal(out, "extract.sbatch: SLURM_CPUS_PER_TASK must be a whole number from 1")
    assert not marker.exists() and not (root / "doomrnn" / "logs").exists()
