"""doomrnn end to end with the `smoke` preset, through the real scripts, plus kill-and-resume."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import ROOT, copy_scripts, run_script

from estool.logfiles import hist_dict
from worldmodels.experiments import DOOMRNN
from worldmodels.weights import load_weights, read_config, save_weights

pytestmark = pytest.mark.pipeline


def run(folder: Path, script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run doomrnn/<script> copied into `folder`, from another directory (as a user might)."""
    return run_script(folder, script, *args, cwd=folder.parent, check=check)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """extract -> vae_train -> series -> rnn_train -> train (2 MPI workers) in a fresh folder."""
    folder = copy_scripts("doomrnn", tmp_path_factory.mktemp("pipe"))
    outputs = {"extract": run(folder, "extract.py", "--preset", "smoke", "--episodes", "3")}
    (folder / "record" / "s9_000000.npz").write_bytes(b"truncated episode")
    for stage in ("vae_train", "series", "rnn_train"):
        outputs[stage] = run(folder, f"{stage}.py", "--preset", "smoke")
    outputs["train"] = run(folder, "train.py", "--preset", "smoke", "-n", "2")
    return folder, outputs


def test_every_stage_writes_its_files(pipeline):
    folder, outputs = pipeline
    assert len(list((folder / "record").glob("s0_*.npz"))) == 3
    for name in ("vae.npz", "rnn.npz", "initial_z.npz", "vae_reconstructions.png"):
        assert (folder / "tf_models" / name).is_file(), name
    load_weights(folder / "tf_models" / "vae.npz", "vae", DOOMRNN)
    load_weights(folder / "tf_models" / "rnn.npz", "rnn", DOOMRNN)
    assert len(list((folder / "series").glob("*.npz"))) == 3
    assert any((folder / "tb" / "vae").rglob("events.out.tfevents*"))
    assert any((folder / "tb" / "rnn").rglob("events.out.tfevents*"))


def test_a_corrupt_episode_is_skipped_and_counted(pipeline):
    _, outputs = pipeline
    assert "1 bad files skipped" in outputs["vae_train"].stdout
    assert "1 bad files skipped" in outputs["series"].stdout
    assert "s9_000000.npz" in outputs["vae_train"].stderr


def test_training_ran_under_mpi_and_wrote_reference_logs(pipeline):
    folder, outputs = pipeline
    out = outputs["train"].stdout
    assert "relaunching under MPI" in out and "-n 3" in out  # master + 2 workers
    base = folder / "log" / "doomrnn.cma.1.4"
    hist = json.loads(Path(f"{base}.hist.json").read_text())
    assert [hist_dict(row)["generation"] for row in hist] == [1, 2]  # hist_dict checks the width
    params, reward = json.loads(Path(f"{base}.best.json").read_text())
    assert len(params) == 1088 and reward >= 1


def test_model_plays_real_game_and_dream(pipeline):
    folder, _ = pipeline
    best = "log/doomrnn.cma.1.4.best.json"
    real = run(folder, "model.py", "doomreal", "norender", str(folder / best), "--episodes", "2",
               "--action-runs")
    assert real.stdout.count("episode ") == 2 and "doomreal: 2 episodes, mean" in real.stdout
    assert real.stdout.count(", action runs: median ") == 2
    dream = run(folder, "model.py", "doomrnn", "norender", str(folder / best), "--episodes", "2")
    assert dream.stdout.count("episode ") == 2 and "doomrnn: 2 episodes, mean" in dream.stdout
    initial_z = str(folder / "tf_models" / "initial_z.npz")
    chosen = run(folder, "model.py", "doomrnn", "norender", str(folder / best), "--episodes", "2",
                 "--initial-z", initial_z)
    assert chosen.stdout.splitlines()[-1].split(" in ")[0] == \
        dream.stdout.splitlines()[-1].split(" in ")[0]  # same file, same dream
    mixed = run(folder, "model.py", "doomrnn", "norender", str(folder / best), "--episodes", "2",
                "--temperature", "1.0", "--temperature-max", "1.3")
    assert "doomrnn: 2 episodes, mean" in mixed.stdout
    inverted = run(folder, "model.py", "doomrnn", "norender", str(folder / best),
                   "--temperature-max", "0.5", check=False)
    assert inverted.returncode == 2 and "--temperature-max must be >=" in inverted.stderr
    absent = run(folder, "model.py", "doomrnn", "norender", str(folder / best), "--initial-z", "nope.npz",
                 check=False)
    assert absent.returncode != 0 and "nope.npz: missing initial_z for doomrnn" in absent.stderr
    video = folder / "real.gif"
    run(folder, "model.py", "doomreal", "render", str(folder / best), "--record", str(video),
        "--max-frames", "20")
    assert video.stat().st_size > 1000


def test_missing_or_foreign_models_give_one_line(pipeline, tmp_path):
    folder, _ = pipeline
    moved = folder / "tf_models" / "rnn.npz"
    moved.rename(tmp_path / "rnn.npz")
    try:
        out = run(folder, "train.py", "--preset", "smoke", "--log-dir", str(tmp_path / "log"),
                  check=False)
    finally:
        (tmp_path / "rnn.npz").rename(moved)
    assert out.returncode != 0
    assert "tf_models/rnn.npz: missing rnn weight file for doomrnn (made by: rnn_train.py)" \
        in out.stderr
    car = run(folder, "model.py", "doomreal", "norender", str(folder / "tf_models" / "vae.npz"),
              check=False)
    assert car.returncode == 2 and car.stderr.count("\n") == 1


def _kill_when(proc: subprocess.Popen, path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize(("stage", "flags", "checkpoint", "key", "total"), [
    ("vae_train", ["--epochs", "3"], "vae_train.ckpt.npz", "epochs", 3),
    ("rnn_train", ["--steps", "12"], "rnn_train.ckpt.npz", "steps", 12),
])
def test_killed_training_resumes_and_matches_an_unbroken_run(pipeline, tmp_path, stage, flags,
                                                              checkpoint, key, total):
    folder, _ = pipeline
    outs = {}
    for name in ("killed", "unbroken"):
        out = tmp_path / name / "m.npz"
        args = [sys.executable, str(folder / f"{stage}.py"), "--preset", "smoke", *flags,
                "--out", str(out), "--tensorboard", str(tmp_path / name / "tb")]
        if name == "killed":
            _kill_when(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL), out.with_name(checkpoint))
            assert not out.exists()
        result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
        assert ("resuming" in result.stdout) == (name == "killed")
        assert read_config(out)[key] == total
        assert not out.with_name(checkpoint).exists()
        kind = stage.split("_")[0]
        outs[name] = load_weights(out, kind, DOOMRNN)
    for name, array in outs["unbroken"].items():
        np.testing.assert_allclose(outs["killed"][name], array, atol=1e-5, err_msg=name)


def test_train_tmux_runs_the_trainer_beside_a_live_summary(pipeline):
    folder, _ = pipeline
    for name in ("train_tmux.bash", "launcher_checks.bash"):
        shutil.copy(ROOT / name, folder.parent / name)
    session = f"wmtest{time.monotonic_ns()}"
    env = {**__import__("os").environ, "PYTHON": sys.executable, "TMUX_ATTACH": "0",
           "TMUX_SESSION_NAME": session, "WATCH_SECONDS": "1"}
    subprocess.run(["bash", str(folder.parent / "train_tmux.bash"), "doomrnn", "--preset", "smoke",
                    "--log-dir", "log_tmux", "--max-generations", "3"], env=env, check=True,
                   timeout=60)
    try:
        deadline = time.monotonic() + 120
        log = folder / "logs" / "train.log"
        while not (log.exists() and "done after generation 3" in log.read_text()):
            assert time.monotonic() < deadline, "trainer did not finish in its tmux pane"
            time.sleep(0.5)
        time.sleep(3)  # a redraw of the summary pane
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", f"{session}:train.1"],
                              capture_output=True, text=True, check=True).stdout
        assert "doomrnn.cma.1.4.hist.json: generation 3" in pane.replace("\n", "")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def test_plot_training_progress_draws_the_newest_log(pipeline):
    folder, _ = pipeline
    out = run(folder, "plot_training_progress.py", "--text")
    assert "doomrnn.cma.1.4.progress.png" in out.stdout and "generation 2" in out.stdout
    for suffix in (".progress.png", ".progress.svg", ".progress_hours.png"):
        assert (folder / "log" / f"doomrnn.cma.1.4{suffix}").stat().st_size > 1000


def test_an_iterative_round_records_the_controller_and_retrains_v_and_m_from_the_old_ones(pipeline, tmp_path):
    folder = tmp_path / "doomrnn"
    shutil.copytree(pipeline[0], folder, ignore=shutil.ignore_patterns("tb", "logs", "log_*"))
    best = str(folder / "log" / "doomrnn.cma.1.4.best.json")
    vae = str(folder / "tf_models" / "vae.npz")
    run(folder, "extract.py", "--preset", "smoke", "--policy", "controller", "--controller", best,
        "--seed", "100", "--episodes", "2", "--noise", "0.3", "--vae", vae)
    recorded = sorted((folder / "record").glob("s100_*.npz"))
    assert len(recorded) == 2
    actions = np.concatenate([np.load(p)["action"] for p in recorded])
    assert np.all(np.abs(actions) <= 1.0) and np.unique(actions).size > 10  # noisy, continuous
    # V goes on from --init: a copy of V with its first kernel shifted by 0.05, which one smoke
    # epoch at 1e-4 moves far less than that
    start_v = load_weights(vae, "vae", DOOMRNN)
    start_v["enc_conv1/kernel"] = start_v["enc_conv1/kernel"] + 0.05
    init_vae, new_vae = folder / "tf_models" / "vae.shifted.npz", folder / "tf_models" / "vae.iter1.npz"
    save_weights(init_vae, "vae", DOOMRNN, start_v)
    vae_args = ("--preset", "smoke", "--init", str(init_vae), "--out", str(new_vae))
    assert f"starting from {init_vae}" in run(folder, "vae_train.py", *vae_args).stdout
    kernel = load_weights(new_vae, "vae", DOOMRNN)["enc_conv1/kernel"]
    assert not np.array_equal(kernel, start_v["enc_conv1/kernel"])
    assert np.abs(kernel - start_v["enc_conv1/kernel"]).max() < 0.01
    assert "nothing to do" in run(folder, "vae_train.py", *vae_args).stdout
    scored_v = run(folder, "vae_train.py", "--preset", "smoke", "--evaluate", str(new_vae)).stdout
    assert re.search(r"reconstruction error per frame \(sum of squares, as r_loss\) mean \d+\.\d+, "
                     r"median \d+\.\d+ over [1-9]\d* frames of [1-9]\d* episodes", scored_v)
    no_v_file = run(folder, "vae_train.py", "--evaluate", "nope.npz", check=False)
    assert no_v_file.returncode == 2 and "nope.npz: no such V weight file" in no_v_file.stderr
    no_v = run(folder, "vae_train.py", "--preset", "smoke", "--init", "nope.npz", check=False)
    assert no_v.returncode == 2 and "nope.npz: no such V weight file" in no_v.stderr
    assert "encoded 2 episodes" in run(folder, "series.py", "--preset", "smoke").stdout
    old = folder / "tf_models" / "rnn.npz"
    new = folder / "tf_models" / "rnn.iter1.npz"
    args = ("--preset", "smoke", "--init", str(old), "--out", str(new))
    assert f"starting from {old}" in run(folder, "rnn_train.py", *args).stdout
    before, after = load_weights(old, "rnn", DOOMRNN), load_weights(new, "rnn", DOOMRNN)
    assert not np.allclose(before["lstm/kernel"], after["lstm/kernel"])
    assert "nothing to do" in run(folder, "rnn_train.py", *args).stdout
    scored = run(folder, "rnn_train.py", "--preset", "smoke", "--evaluate", str(new)).stdout
    assert re.search(r"z NLL per dimension \d+\.\d+; done logit > 0 at [\d.]+% of \d+ deaths", scored)
    no_m = run(folder, "rnn_train.py", "--preset", "smoke", "--evaluate", "nope.npz", check=False)
    assert no_m.returncode == 2 and "nope.npz: no such M weight file" in no_m.stderr
    real = run(folder, "model.py", "doomreal", "norender", best, "--episodes", "1", "--rnn", str(new))
    assert "doomreal: 1 episodes, mean" in real.stdout
    foreign = run(folder, "model.py", "doomreal", "norender", best, "--rnn", str(folder / "tf_models"
                                                                              / "vae.npz"), check=False)
    assert foreign.returncode == 2 and foreign.stderr.count("\n") == 1
    missing = run(folder, "rnn_train.py", "--preset", "smoke", "--init", "nope.npz", check=False)
    assert missing.returncode == 2 and "nope.npz: no such M weight file" in missing.stderr
    wrong_v = run(folder, "extract.py", "--preset", "smoke", "--policy", "controller", "--controller",
                  best, "--vae", str(old), "--seed", "101", "--episodes", "1", check=False)
    assert wrong_v.returncode == 2 and wrong_v.stderr.count("\n") == 1
    assert not list((folder / "record").glob("s101_*.npz"))
    no_file = run(folder, "extract.py", "--preset", "smoke", "--policy", "controller", check=False)
    assert no_file.returncode == 2 and "needs --controller FILE" in no_file.stderr
