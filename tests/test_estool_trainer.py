"""estool trainer: logs, determinism, MPI equivalence, SIGKILL resume, worker failures.

These run the real command (``python -m estool``) as subprocesses, with real mpiexec and real
SIGKILL, on tiny problems.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from estool.logfiles import (
    HIST_BEST_LABELS,
    HIST_BEST_LEAD,
    HIST_COLUMNS,
    hist_best_value,
    hist_dict,
)

pytestmark = pytest.mark.mpi

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
BASE = "sphere.cma.2.8"  # game.optimizer.num_episode.popsize of the runs below
COMMON = ["--problem", "estool.problems:sphere", "--problem-noise", "0.1", "--num-episode", "2",
          "--eval-steps", "5"]


def env() -> dict[str, str]:
    """Subprocess environment that imports this checkout's estool."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def estool_cmd(log_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "estool", *COMMON, "--log-dir", str(log_dir), *args]


def run(cmd: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)


def fitness_rows(log_dir: Path, base: str = BASE) -> list[dict[str, float]]:
    """History rows by column name, without the wall-clock column."""
    rows = json.loads((log_dir / f"{base}.hist.json").read_text())
    return [{k: v for k, v in hist_dict(row).items() if k != "elapsed_s"} for row in rows]


def results(log_dir: Path, base: str = BASE) -> dict:
    """Everything that must be identical between equivalent runs (no wall-clock fields)."""
    hist_best = json.loads((log_dir / f"{base}.hist_best.json").read_text())
    return {
        "hist": fitness_rows(log_dir, base),
        "json": json.loads((log_dir / f"{base}.json").read_text()),
        "best": json.loads((log_dir / f"{base}.best.json").read_text()),
        "log": json.loads((log_dir / f"{base}.log.json").read_text()),
        "hist_best": [[hist_best_value(row, "generation"), *row[len(HIST_BEST_LEAD):]]
                      for row in hist_best],  # without the wall-clock value
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """An uninterrupted single-process run of 20 generations."""
    tmp = tmp_path_factory.mktemp("reference")
    proc = run(estool_cmd(tmp / "log", "-n", "1", "-t", "8", "--max-generations", "20"), tmp)
    assert proc.returncode == 0, proc.stderr
    return results(tmp / "log")


def test_log_files_and_formats(reference, tmp_path) -> None:
    hist = reference["hist"]
    assert [row["generation"] for row in hist] == list(range(1, 21))
    assert all(len(row) == len(HIST_COLUMNS) - 1 for row in hist)  # every column but elapsed_s
    assert hist[-1]["mean"] > hist[0]["mean"]  # mean fitness improved
    (mean_params,) = reference["json"]
    assert len(mean_params) == 10 and all(round(v, 4) == v for v in mean_params)
    params, reward = reference["best"]
    assert len(params) == 10 and reward == max(row[1] for row in reference["log"])
    assert [row[0] for row in reference["log"]] == [5, 10, 15, 20]
    row = reference["hist_best"][1]
    assert row[0] == 10 and tuple(row[1::2]) == HIST_BEST_LABELS


def test_same_seed_gives_identical_history(reference, tmp_path) -> None:
    proc = run(estool_cmd(tmp_path / "log", "-n", "1", "-t", "8", "--max-generations", "20"),
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert results(tmp_path / "log") == reference
    assert proc.stdout.count("\ngen ") + proc.stdout.startswith("gen ") == 20
    settings = json.loads((tmp_path / "log" / f"{BASE}.settings.json").read_text())
    assert settings["popsize"] == 8 and settings["problem_noise"] == 0.1
    other = run(estool_cmd(tmp_path / "other", "-n", "1", "-t", "8", "--max-generations", "20",
                           "-s", "1"), tmp_path)
    assert other.returncode == 0, other.stderr
    assert fitness_rows(tmp_path / "other") != reference["hist"]


def test_mpi_runs_match_single_process(reference, tmp_path) -> None:
    """Direct ``mpiexec -n 3`` (2 workers) and the ``-n 2`` self-relaunch both match."""
    direct = [str(MPIEXEC), "-n", "3", *estool_cmd(tmp_path / "direct", "-n", "2", "-t", "4",
                                                  "--max-generations", "20")]
    proc = run(direct, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert results(tmp_path / "direct") == reference
    relaunch = run(estool_cmd(tmp_path / "relaunch", "-n", "2", "-t", "4",
                              "--max-generations", "20"), tmp_path)
    assert relaunch.returncode == 0, relaunch.stderr
    assert "relaunching under MPI" in relaunch.stdout
    assert results(tmp_path / "relaunch") == reference


HASWELL = {"OPENBLAS_CORETYPE": "Haswell"}


@pytest.fixture(scope="module")
def haswell_reference(tmp_path_factory) -> dict:
    """The reference run with OpenBLAS forced to its Haswell kernel: the kernel changes the last
    bits of pycma's linear algebra, so runs under a forced kernel are compared with this one."""
    tmp = tmp_path_factory.mktemp("haswell")
    proc = subprocess.run(estool_cmd(tmp / "log", "-n", "1", "-t", "8", "--max-generations", "20"),
                          cwd=tmp, env={**env(), **HASWELL}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return results(tmp / "log")


@pytest.mark.parametrize("workers,threads", [("1", "1"), ("2", "2")], ids=["single", "mpi"])
def test_blas_threads_and_kernel_are_set_and_recorded(haswell_reference, tmp_path, workers,
                                                      threads) -> None:
    """--blas-threads reaches every process, and the kernel OpenBLAS runs is recorded: with the
    threads and the population split, it decides a chaotic problem's floats
    (docs/reproducibility.md)."""
    cmd = estool_cmd(tmp_path / "log", "-n", workers, "-t", str(8 // int(workers)),
                     "--max-generations", "20", "--blas-threads", threads)
    proc = subprocess.run(cmd, cwd=tmp_path, env={**env(), **HASWELL},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert results(tmp_path / "log") == haswell_reference
    processes = int(workers) + (workers != "1")
    blas = json.loads((tmp_path / "log" / f"{BASE}.settings.json").read_text())["blas"]
    assert blas["blas"].startswith("openblas ")
    assert (blas["kernel"], blas["threads"], blas["processes"], blas["numpy"]) == \
        ("Haswell", int(threads), processes, np.__version__)
    assert f"kernel Haswell, {threads} thread(s) in each of {processes} process(es)" in proc.stdout


def wait_for_generation(log_dir: Path, gen: int, proc: subprocess.Popen,
                        timeout: float = 30) -> None:
    hist = log_dir / f"{BASE}.hist.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hist.exists() and len(json.loads(hist.read_text())) >= gen:
            return
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError(f"generation {gen} not reached")


@pytest.mark.parametrize("workers", ["1", "2"], ids=["single", "mpi"])
def test_sigkill_then_resume_matches_uninterrupted(reference, tmp_path, workers) -> None:
    log_dir = tmp_path / "log"
    trial = str(8 // int(workers))
    cmd = estool_cmd(log_dir, "-n", workers, "-t", trial, "--max-generations", "20",
                     "--problem-sleep", "0.05")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_generation(log_dir, 7, proc)
    proc.send_signal(signal.SIGKILL)  # the trainer itself, or mpiexec after the relaunch
    proc.wait(timeout=10)
    killed_at = len(json.loads((log_dir / f"{BASE}.hist.json").read_text()))
    assert killed_at < 20
    resumed = run(cmd, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert results(log_dir) == reference
    rows = json.loads((log_dir / f"{BASE}.hist.json").read_text())
    elapsed = [hist_dict(row)["elapsed_s"] for row in rows]
    assert elapsed == sorted(elapsed)  # elapsed time accumulates over the resume


def test_checkpoint_with_other_settings_is_refused(tmp_path) -> None:
    cmd = estool_cmd(tmp_path / "log", "-n", "1", "-t", "8", "--max-generations", "2")
    assert run(cmd, tmp_path).returncode == 0
    proc = run([*cmd, "--sigma-init", "0.2"], tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "other settings" in proc.stderr and "sigma_init" in proc.stderr


@pytest.mark.parametrize("problem,message", [
    ("failing", "RuntimeError: FailingProblem: deliberate failure"),
    ("nonfinite", "non-finite reward nan for candidate"),
    ("dying", ""),
])
def test_worker_failure_ends_the_job_quickly(tmp_path, problem, message) -> None:
    cmd = [sys.executable, "-m", "estool", "--problem", f"estool.problems:{problem}", "-n", "2",
           "-t", "2", "--num-episode", "1", "--max-generations", "5", "--log-dir", "log"]
    start = time.monotonic()
    proc = run(cmd, tmp_path, timeout=30)  # raises if the job hangs past the 30 s requirement
    assert time.monotonic() - start < 30
    assert proc.returncode != 0
    if message:
        assert "worker" in proc.stderr and "failed:" in proc.stderr
        assert message in proc.stderr


def test_nonfinite_reward_in_single_process(tmp_path) -> None:
    cmd = [sys.executable, "-m", "estool", "--problem", "estool.problems:nonfinite", "-n", "1",
           "-t", "4", "--max-generations", "2", "--log-dir", "log"]
    proc = run(cmd, tmp_path)
    assert proc.returncode != 0
    assert "non-finite reward nan for candidate 1" in proc.stderr


def test_resume_at_the_controller_size_matches_an_uninterrupted_run(tmp_path) -> None:
    """1088 parameters (the doomrnn controller) on a cheap quadratic: stopped after generation 15
    and resumed to 30, every history row and log equals the uninterrupted run's. At this size
    pycma's step-size rule draws from numpy's global random state besides its sampler, so a
    sampler left on a private copy of that state after unpickling parts from the run (14 of the
    30 rows differed). The smallest population CMA-ES accepts keeps the test short."""
    size = ["--problem", "estool.problems:sphere", "--problem-dim", "1088", "--num-episode", "1",
            "--eval-steps", "10", "-n", "1", "-t", "4", "--log-dir", "log"]
    base = "sphere.cma.1.4"
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    for folder, stops in ((whole, ["30"]), (broken, ["15", "30"])):
        folder.mkdir()
        for stop in stops:
            proc = run([sys.executable, "-m", "estool", *size, "--max-generations", stop], folder,
                       timeout=300)
            assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stdout and "after generation 15" in proc.stdout
    assert len(fitness_rows(whole / "log", base)) == 30
    assert results(broken / "log", base) == results(whole / "log", base)


def limit_file_size(limit: int):
    """preexec_fn: the child may write no file larger than `limit` bytes (as on a full disk)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_failed_checkpoint_write_is_one_line_and_the_run_resumes(reference, tmp_path) -> None:
    log_dir = tmp_path / "log"
    assert run(estool_cmd(log_dir, "-n", "1", "-t", "8", "--max-generations", "2"),
               tmp_path).returncode == 0
    checkpoint = log_dir / f"{BASE}.checkpoint.pkl"
    before = checkpoint.read_bytes()
    limit = len(before) // 2  # the checkpoint cannot be written, every other log still can
    assert all(p.stat().st_size < limit for p in log_dir.iterdir() if p != checkpoint)
    cmd = estool_cmd(log_dir, "-n", "1", "-t", "8", "--max-generations", "20")
    failed = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True,
                            timeout=60, preexec_fn=limit_file_size(limit))
    assert failed.returncode != 0
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
    assert f"could not write {checkpoint} (File too large)" in failed.stderr
    assert "still holds generation 2: run the same command again to resume" in failed.stderr
    assert checkpoint.read_bytes() == before
    assert not [p.name for p in log_dir.iterdir() if p.name.endswith(".tmp")]
    resumed = run(cmd, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "after generation 2" in resumed.stdout
    assert results(log_dir) == reference


def test_a_truncated_checkpoint_is_refused_in_one_line(tmp_path) -> None:
    cmd = estool_cmd(tmp_path / "log", "-n", "1", "-t", "8", "--max-generations", "2")
    assert run(cmd, tmp_path).returncode == 0
    checkpoint = tmp_path / "log" / f"{BASE}.checkpoint.pkl"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    proc = run(cmd, tmp_path)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1
    assert f"estool: {checkpoint} is unreadable, truncated or corrupt" in proc.stderr
    assert "delete it to restart" in proc.stderr


@pytest.mark.parametrize(("flags", "code", "message"), [
    (["-n", "0"], 2, "argument -n/--num-worker: must be at least 1, got 0"),
    (["-t", "-2"], 2, "argument -t/--num-worker-trial: must be at least 1, got -2"),
    (["--num-episode", "0"], 2, "argument --num-episode: must be at least 1, got 0"),
    (["--max-generations", "-1"], 2, "argument --max-generations: must be at least 0, got -1"),
    (["-n", "two"], 2, "argument -n/--num-worker: expected a whole number >= 1, got 'two'"),
    (["-n", "1", "-t", "2"], 1, "cma needs a popsize of at least 4, got 2 (popsize = -n 1 x -t 2)"),
    (["-o", "pepg", "-n", "1", "-t", "5"], 1, "pepg samples symmetric pairs and needs an even popsize"),
])
def test_bad_counts_are_refused_in_one_line_before_training(tmp_path, flags, code, message) -> None:
    """Argument errors exit 2 (argparse), a population the optimizer cannot run exits 1; either
    way one line, and no log folder is made."""
    proc = run(estool_cmd(tmp_path / "log", *flags), tmp_path)
    assert proc.returncode == code
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert not (tmp_path / "log").exists()

