"""The pipeline submitted to a real Slurm cluster (started by the test) with slurm/submit."""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import missing_reason, start_cluster

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing_reason()
    if reason:
        pytest.fail(f"cannot start Slurm: {reason}")
    try:
        running = start_cluster(tmp_path_factory.mktemp("slurm"))
    except RuntimeError as err:
        pytest.fail(f"cannot start Slurm: {err}")
    yield running
    running.stop()


def checkout(tmp: Path) -> Path:
    """A copy of the launch scripts and doomrnn's entry scripts (the jobs write data there)."""
    root = tmp / "wm"
    (root / "doomrnn").mkdir(parents=True)
    for name in ("extract.bash", "gpu_jobs.bash", "launcher_checks.bash"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "slurm", root / "slurm")
    for script in (ROOT / "doomrnn").glob("*.py"):
        shutil.copy(script, root / "doomrnn" / script.name)
    return root


def submit(cluster, root: Path, **settings: str) -> dict[str, str]:
    env = {**cluster.env, "PYTHON": sys.executable, "PRESET": "smoke", "EXTRACT_TASKS": "2",
           "EXTRACT_CPUS": "1", "GPU_GRES": "", "GPU_CPUS": "1", "TRAIN_TASKS": "3", **settings}
    out = subprocess.run(["bash", str(root / "slurm" / "submit"), "doomrnn"], capture_output=True,
                         text=True, env=env, cwd=root, timeout=60)
    assert out.returncode == 0, out.stderr
    return dict(re.findall(r"(\w+)=(\d+)", out.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def pipeline(cluster, tmp_path_factory):
    root = checkout(tmp_path_factory.mktemp("chain"))
    jobs = submit(cluster, root)
    states = cluster.wait(list(jobs.values()), timeout=420)
    return root, jobs, states


def test_submit_chains_the_three_jobs_and_all_complete(pipeline):
    root, jobs, states = pipeline
    assert set(jobs) == {"extract", "gpu", "train"}
    assert len([k for k in states if k.startswith(f"{jobs['extract']}_")]) == 2  # array tasks
    assert {s for s, _ in states.values()} == {"COMPLETED"}, states
    folder = root / "doomrnn"
    assert len(list((folder / "record").glob("s0_*.npz"))) >= 1
    assert len(list((folder / "record").glob("s1_*.npz"))) >= 1  # second array task, own seed
    for name in ("vae.npz", "rnn.npz", "initial_z.npz"):
        assert (folder / "tf_models" / name).is_file()
    assert (folder / "log" / "doomrnn.cma.1.4.best.json").is_file()


def test_training_job_ran_with_several_mpi_ranks(pipeline):
    root, jobs, _ = pipeline
    out = (root / "doomrnn" / "logs" / f"slurm-train-{jobs['train']}.out").read_text()
    assert "3 MPI ranks (1 master + 2 workers)" in out
    assert '"num_worker": 2' in out and "estool: done after generation 2" in out


def test_a_failed_stage_cancels_its_dependents(cluster, tmp_path):
    root = checkout(tmp_path)
    jobs = submit(cluster, root, EXTRACT_TASKS="1", EXTRACT_FLAGS="--policy bogus")
    states = cluster.wait(list(jobs.values()), timeout=120)
    extract = [s for k, (s, _) in states.items() if k.startswith(jobs["extract"])]
    assert extract == ["FAILED"]
    for job in ("gpu", "train"):
        state, reason = states[jobs[job]]
        assert state == "CANCELLED" and reason == "DependencyNeverSatisfied", states


def test_a_requeued_training_job_resumes_from_its_checkpoint(cluster, pipeline):
    root, _, _ = pipeline
    log = root / "doomrnn" / "logs" / "requeue.out"
    out = cluster.run(
        "sbatch", "--parsable", "--ntasks=3", "--open-mode=append", f"--output={log}",
        f"--export=ALL,WM_ROOT={root},PYTHON={sys.executable},PRESET=smoke,"
        "TRAIN_FLAGS=--max-generations 40 --log-dir log_requeue",
        str(root / "slurm" / "train.sbatch"), "doomrnn")
    job = out.stdout.strip()
    deadline = time.monotonic() + 120
    while not (log.exists() and re.search(r"^gen 8 ", log.read_text(), re.M)):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no output"
        time.sleep(0.5)
    cluster.run("scontrol", "requeue", job)
    time.sleep(2)
    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now", check=False)
    states = cluster.wait([job], timeout=300)
    assert states[job][0] == "COMPLETED"
    text = log.read_text()
    assert "restart count 1" in text
    resumed = re.search(r"resuming \S+ after generation (\d+)", text)
    # "gen 8" is printed before its checkpoint is written: at most that one generation is lost.
    assert resumed and int(resumed.group(1)) >= 7
    assert "estool: done after generation 40" in text
