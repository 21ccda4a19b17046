"""One run per folder: a second run on a live run's folder is refused in one line, a dead run's lock
is taken over. Real processes, real flock, real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()
BASE = "sphere.cma.1.4"  # game.optimizer.num_episode.popsize of the runs below

# Takes the lock given by argv (folder, file name), says so, and holds it until killed.
HOLDER = """
import sys, time
from estool.runlock import RunLock
RunLock(sys.argv[1], sys.argv[2]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def env() -> dict[str, str]:
    """Subprocess environment that imports this checkout's packages."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def start_holder(folder: Path, name: str = ".lock") -> subprocess.Popen:
    """A process holding ``folder/name``, returned once it has the lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), name], env=env(),
                            text=True, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


def acquire(folder: Path) -> subprocess.CompletedProcess:
    """Take the lock on `folder` in a new process that then exits normally."""
    code = "import sys; from estool.runlock import RunLock; RunLock(sys.argv[1]).acquire()"
    return run([sys.executable, "-c", code, str(folder)], timeout=30)


def holder_line(folder: Path, name: str = ".lock") -> str:
    """``HOST pid PID (started TIME)`` of the holder recorded in ``folder/name``."""
    holder = json.loads((folder / name).read_text())
    return f"{holder['host']} pid {holder['pid']} (started {holder['started']})"


def test_a_live_holder_refuses_a_second_and_a_dead_ones_lock_is_taken_over(tmp_path) -> None:
    folder = tmp_path / "log"
    first = start_holder(folder)
    try:
        holder = holder_line(folder)
        assert holder.startswith(f"{HOST} pid {first.pid} (started ")
        second = acquire(folder)
        assert second.returncode != 0
        assert second.stderr.strip().splitlines()[-1].endswith(
            f"{folder} is in use by the run of {holder}; wait for it to end, or use another folder")
    finally:
        kill(first)
    third = acquire(folder)
    assert third.returncode == 0, third.stderr
    assert third.stdout.splitlines() == [f"estool: taking over {folder}/.lock from the run of "
                                         f"{holder}, which is no longer running"]
    assert (folder / ".lock").read_text() == ""  # released at exit: the next run takes it silently
    fourth = acquire(folder)
    assert (fourth.returncode, fourth.stdout) == (0, ""), fourth.stderr


# -- the trainer ----------------------------------------------------------------------------------
def estool_cmd(log_dir: Path, generations: int) -> list[str]:
    return [sys.executable, "-m", "estool", "--problem", "estool.problems:sphere",
            "--problem-sleep", "0.2", "-n", "1", "-t", "4", "--num-episode", "1",
            "--max-generations", str(generations), "--log-dir", str(log_dir)]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the run ended early"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_training_run_on_the_same_log_dir_is_refused(tmp_path) -> None:
    log_dir = tmp_path / "log"
    first = subprocess.Popen(estool_cmd(log_dir, 1000), cwd=tmp_path, env=env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(log_dir / f"{BASE}.checkpoint.pkl", first)  # so that a later run resumes
        holder = holder_line(log_dir)
        started = time.monotonic()
        second = run(estool_cmd(log_dir, 1000), tmp_path, timeout=30)
        assert time.monotonic() - started < 20
        assert second.returncode != 0
        assert second.stderr.strip().splitlines() == [
            f"estool: {log_dir} is in use by the run of {holder}; wait for it to end, or use "
            "another folder"]
        assert f"pid {first.pid} " in second.stderr
        assert first.poll() is None  # the first run goes on
    finally:
        kill(first)
    done = len(json.loads((log_dir / f"{BASE}.hist.json").read_text()))
    third = run(estool_cmd(log_dir, done + 2), tmp_path)
    assert third.returncode == 0, third.stderr
    assert (f"estool: taking over {log_dir}/.lock from the run of {holder}, which is no longer "
            "running") in third.stdout.splitlines()
    assert "estool: resuming" in third.stdout
    assert (log_dir / ".lock").read_text() == ""


# -- extract: one lock per seed -------------------------------------------------------------------
def test_extract_refuses_a_second_run_of_the_same_seed_only(tmp_path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    (record / "s4_000000.npz").touch()  # seed 4 is done already: its run ends at once
    extract = [sys.executable, str(ROOT / "doomrnn" / "extract.py"), "--preset", "smoke",
               "--record", str(record), "--episodes", "1"]
    holder_proc = start_holder(record, ".lock.s3")
    try:
        holder = holder_line(record, ".lock.s3")
        same = run([*extract, "--seed", "3"], tmp_path)
        assert same.returncode == 2
        assert same.stderr.strip().splitlines() == [
            f"error: {record} (seed 3) is in use by the run of {holder}; wait for it to end, or "
            "give this run another --seed"]
        other = run([*extract, "--seed", "4"], tmp_path)
        assert other.returncode == 0, other.stderr
        assert "already 1 episodes from seed 4" in other.stdout
    finally:
        kill(holder_proc)
    assert not list(record.glob("s3_*")) and not (record / "settings.s3.json").exists()
