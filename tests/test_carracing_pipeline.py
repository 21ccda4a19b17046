"""carracing end to end with the `smoke` preset through the real scripts: real-env and dream
training (2 MPI workers), evaluation on real tracks, a dream video."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import copy_scripts, run_script

from estool.logfiles import hist_dict
from worldmodels.experiments import CARRACING
from worldmodels.scores import read_scores
from worldmodels.seeds import episode_seed
from worldmodels.weights import load_weights, read_config

pytestmark = pytest.mark.pipeline

run = run_script


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    folder = copy_scripts("carracing", tmp_path_factory.mktemp("car"))
    outs = {"extract": run(folder, "extract.py", "--preset", "smoke", "--episodes", "3")}
    outs["vae_train"] = run(folder, "vae_train.py", "--preset", "smoke")
    outs["series"] = run(folder, "series.py", "--preset", "smoke")
    outs["rnn_train"] = run(folder, "rnn_train.py", "--preset", "smoke", "--predict-reward")
    outs["train"] = run(folder, "train.py", "--preset", "smoke", "-n", "2")
    outs["dream"] = run(folder, "train.py", "--preset", "smoke", "-n", "2", "--dream",
                        "--log-dir", "log_dream")
    return folder, outs


def test_stages_write_models_where_train_and_model_read_them(pipeline):
    folder, _ = pipeline
    episodes = sorted((folder / "record").glob("*.npz"))
    assert len(episodes) == 3
    load_weights(folder / "vae" / "vae.npz", "vae", CARRACING)
    assert read_config(folder / "rnn" / "rnn.npz")["predict_reward"] is True
    load_weights(folder / "rnn" / "rnn.npz", "rnn", CARRACING.with_overrides(predict_reward=True))
    assert (folder / "initial_z" / "initial_z.npz").is_file()


def test_controller_evolved_in_real_env_and_in_dream(pipeline):
    folder, outs = pipeline
    for log_dir, name in (("log", "train"), ("log_dream", "dream")):
        assert "-n 3" in outs[name].stdout  # relaunched: master + 2 workers
        hist = json.loads((folder / log_dir / "carracing.cma.1.4.hist.json").read_text())
        assert [hist_dict(row)["generation"] for row in hist] == [1, 2]
        params, _ = json.loads((folder / log_dir / "carracing.cma.1.4.best.json").read_text())
        assert len(params) == 867
    first = hist_dict(json.loads((folder / "log" / "carracing.cma.1.4.hist.json").read_text())[0])
    assert first["mean_steps"] == 60  # the smoke cap on episode length


def test_model_scores_real_tracks_and_dream_model_writes_a_video(pipeline):
    folder, _ = pipeline
    best = "log_dream/carracing.cma.1.4.best.json"
    out = run(folder, "model.py", "norender", best, "--episodes", "2", "--max-frames", "50")
    assert out.stdout.count("episode ") == 2 and "carracing: 2 episodes, mean" in out.stdout
    run(folder, "dream_model.py", best, "--record", "dream.gif", "--max-frames", "30")
    with Image.open(folder / "dream.gif") as gif:
        assert gif.n_frames == 30


def test_model_shares_real_tracks_between_worker_processes(pipeline):
    folder, _ = pipeline
    best = "log_dream/carracing.cma.1.4.best.json"
    args = ("model.py", "norender", best, "--episodes", "5", "--batch", "2", "--max-frames", "40")
    first = run(folder, *args, "--workers", "2", "--scores", "scores.json")
    again = run(folder, *args, "--workers", "2")
    lines = sorted(line for line in first.stdout.splitlines() if line.startswith("episode "))
    assert [line.split(":")[0] for line in lines] == [f"episode {i}" for i in range(5)]
    scores = read_scores(folder / "scores.json")
    printed = [float(line.split("reward ")[1].split(",")[0]) for line in lines]
    steps = [int(line.split("steps ")[1]) for line in lines]
    assert all(0 < t <= 40 for t in steps)  # --max-frames 40 caps every episode
    ((player, values),) = scores["scores"].items()
    assert player == best and np.allclose(values, printed, atol=0.005)  # as seen from the folder
    assert scores["seeds"][4] == episode_seed(1_000_000, 4)
    assert scores["references"] == {"paper": 906.0}
    assert sorted(again.stdout.splitlines()[:-1]) == sorted(first.stdout.splitlines()[:-1])
    assert "carracing: 5 episodes, mean" in first.stdout
    bad = run(folder, *args, "--workers", "0", check=False)
    assert bad.returncode == 2 and "argument --workers: must be at least 1, got 0" in bad.stderr


def test_model_records_a_small_gif_of_every_other_frame(pipeline):
    folder, _ = pipeline
    run(folder, "model.py", "render", "log_dream/carracing.cma.1.4.best.json", "--record",
        "drive.gif", "--max-frames", "10", "--video-every", "2", "--video-height", "64")
    with Image.open(folder / "drive.gif") as gif:
        assert gif.n_frames == 5 and gif.size[1] == 64


def test_drive_and_dream_play_refuse_without_a_display(pipeline):
    folder, _ = pipeline
    out = subprocess.run([sys.executable, str(folder / "env.py")], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "needs a display" in out.stderr


def test_a_random_policy_records_every_kth_frame_with_action_repeat(tmp_path):
    """extract.py --action-repeat K for a random policy: K-step sequences for M, with the cap
    still in environment steps."""
    folder = copy_scripts("carracing", tmp_path)
    run(folder, "extract.py", "--preset", "smoke", "--episodes", "1", "--max-frames", "30",
        "--action-repeat", "3", "--record", "record_k3")
    (episode,) = sorted((folder / "record_k3").glob("*.npz"))
    with np.load(episode) as data:
        assert data["obs"].shape == (10, 64, 64, 3) and data["action"].shape == (10, 3)
