"""Bad files, bad numbers and failed writes, met by the real doomrnn scripts in real processes.

Every refusal is one line on stderr with a non-zero exit and no traceback; bad episode and series
files met mid-way are skipped and counted; nothing already written is lost. Episodes are small
synthetic ones written with the project's writer (no game needed), models come from the smoke
preset.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from file_damage import damage_payload, smooth_episode, truncate, write_smooth_episodes
from pipeline_helpers import copy_scripts, run_script

from worldmodels.data import write_episode, write_series
from worldmodels.experiments import DOOMRNN
from worldmodels.weights import read_config

pytestmark = pytest.mark.pipeline


def run(folder: Path, script: str, *args: str, limit: int | None = None) -> subprocess.CompletedProcess:
    """doomrnn/<script> in `folder`, from `folder`; with `limit`, no file it writes may exceed that
    many bytes (as on a full disk)."""
    if limit is None:
        return run_script(folder, script, *args, check=False)

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, str(folder / script), *args], capture_output=True,
                          text=True, cwd=folder, timeout=300, preexec_fn=set_limit)


# TensorFlow's native (absl) log lines at import, e.g. "I0000 00:00:1796.1  42 port.cc:153] oneDNN
# custom operations are on": printed by TensorFlow before the project's code runs, not by it.
TF_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                           r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] )")


def own_stderr(out: subprocess.CompletedProcess) -> str:
    """The process's stderr without TensorFlow's native import log lines."""
    return "".join(line for line in out.stderr.splitlines(keepends=True)
                   if not TF_NATIVE_LOG.match(line))


def assert_one_line_error(out: subprocess.CompletedProcess, *parts: str) -> None:
    """Non-zero exit, exactly one line on stderr, no traceback, and every part in that line."""
    stderr = own_stderr(out)
    assert out.returncode != 0, out.stdout
    assert stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr
    for part in parts:
        assert part in stderr, out.stderr


DAMAGED = ("s8_*", "s9_*")  # the fixture's damaged episode and series files


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """vae_train -> series -> rnn_train (smoke preset) on three good episodes plus one whose
    compressed frames are damaged (named to sort last, so V's training meets it mid-way), and M on
    the series plus one damaged series file."""
    folder = copy_scripts("doomrnn", tmp_path_factory.mktemp("robust"))
    record = folder / "record"
    record.mkdir()
    write_smooth_episodes(record, 3)
    write_episode(record / "s9_000000.npz", **smooth_episode(seed=9))
    damage_payload(record / "s9_000000.npz", "obs.npy")
    outs = {"vae_train": run(folder, "vae_train.py", "--preset", "smoke"),
            "series": run(folder, "series.py", "--preset", "smoke")}
    bad_series = folder / "series" / "s8_000000.npz"
    episode = smooth_episode(seed=8)
    ramp = np.linspace(0, 1, 60 * 64).reshape(60, 64)
    write_series(bad_series, ramp, ramp, episode["action"], episode["reward"], episode["done"])
    damage_payload(bad_series, "mu.npy")
    outs["rnn_train"] = run(folder, "rnn_train.py", "--preset", "smoke")
    return folder, outs


# --- corrupt data --------------------------------------------------------------------------------

@pytest.mark.parametrize(("stage", "bad"), [("vae_train", "record/s9_000000.npz"),
                                            ("series", "record/s9_000000.npz"),
                                            ("rnn_train", "series/s8_000000.npz")])
def test_a_damaged_file_met_mid_way_is_skipped_and_counted(trained, stage, bad):
    folder, outs = trained
    out = outs[stage]
    assert out.returncode == 0, out.stderr
    assert "1 bad files skipped" in out.stdout
    assert f"skipping invalid file: {bad}: unreadable, truncated or corrupt (zlib.error: " \
           "Error -3 while decompressing data" in out.stderr
    assert "Traceback" not in out.stderr
    if stage == "vae_train":  # met inside the tf.data pipeline, during the epoch
        assert re.search(r"^epoch 1/1: .*\(1 bad files skipped\)$", out.stdout, re.MULTILINE)
    assert (folder / "tf_models" / ("vae.npz" if stage == "vae_train" else "rnn.npz")).is_file()
    assert len(list((folder / "series").glob("s0_*.npz"))) == 3


def test_folders_of_only_invalid_files_end_in_one_line(trained, tmp_path):
    folder = copy_scripts("doomrnn", tmp_path)
    for name in ("record", "series"):
        (folder / name).mkdir()
        write_smooth_episodes(folder / name, 2)
        damage_payload(folder / name / "s0_000000.npz", "obs.npy")
        truncate(folder / name / "s0_000001.npz")
    vae = str(trained[0] / "tf_models" / "vae.npz")
    for script, args, what in (("vae_train.py", (), "episode"),
                               ("series.py", ("--vae", vae), "episode"),
                               ("rnn_train.py", (), "series")):
        out = run(folder, script, "--preset", "smoke", *args)
        assert_one_line_error(out, f"none of its 2 .npz files is a valid {what}")
    assert not (folder / "tf_models").exists()


def _real_checkpoint(path: Path, kind: str) -> None:
    """A training checkpoint as vae_train / rnn_train write it, of a freshly built model."""
    import keras

    from worldmodels.keras_models import MDNRNN, ConvVAE, rnn_optimizer, save_training_checkpoint

    if kind == "vae":
        model, optimizer, meta = ConvVAE(DOOMRNN.z_size), keras.optimizers.Adam(1e-4), {"epoch": 1}
    else:
        model, optimizer, meta = MDNRNN(DOOMRNN), rnn_optimizer(DOOMRNN), {"step": 1, "epoch": 1}
    optimizer.build(model.trainable_variables)
    save_training_checkpoint(path, model, optimizer, meta)


@pytest.mark.parametrize(("stage", "name", "message"), [
    ("vae_train", "vae.npz", "weight file unreadable, truncated or corrupt"),
    ("rnn_train", "rnn.npz", "weight file unreadable, truncated or corrupt"),
    ("vae_train", "vae_train.ckpt.npz", "training checkpoint unreadable, truncated or corrupt"),
    ("rnn_train", "rnn_train.ckpt.npz", "training checkpoint unreadable, truncated or corrupt"),
])
def test_a_truncated_output_or_checkpoint_is_refused_at_start(trained, tmp_path, stage, name,
                                                              message):
    """The truncated file is named, with what to do; it is left where it is."""
    folder = tmp_path / "doomrnn"
    shutil.copytree(trained[0], folder, ignore=shutil.ignore_patterns("tb", "logs", *DAMAGED))
    path = folder / "tf_models" / name
    if name.endswith(".ckpt.npz"):
        _real_checkpoint(path, stage.split("_")[0])
    truncate(path)
    damaged = path.read_bytes()
    out = run(folder, f"{stage}.py", "--preset", "smoke", "--epochs" if stage == "vae_train"
              else "--steps", "3")
    assert_one_line_error(out, f"error: tf_models/{name}: {message}", "remove it")
    assert path.read_bytes() == damaged


# --- non-finite and malformed models ------------------------------------------------------------

def _rewrite(path: Path, out: Path, change) -> Path:
    """A copy of the weight or initial_z file `path` at `out`, with `change(arrays)` applied."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(out, **arrays)
    return out


def _nan_at(key: str):
    def change(arrays: dict) -> None:
        arrays[key] = arrays[key].copy()
        arrays[key].flat[3] = np.nan
    return change


@pytest.mark.parametrize(("flag", "name", "change", "message"), [
    ("--rnn", "rnn.npz", _nan_at("lstm/kernel"), "array lstm/kernel holds NaN or inf"),
    ("--initial-z", "initial_z.npz", _nan_at("logvar"), "mu or logvar holds NaN or inf"),
    ("--rnn", "rnn.npz", lambda a: a.update(__config__=np.array("{oops")), "__config__ is not JSON"),
    ("--rnn", "rnn.npz", lambda a: a.update(__config__=np.array("[1]")),
     "__config__ is a JSON array, not an object"),
])
def test_nonfinite_or_malformed_models_are_refused_in_one_line(trained, tmp_path, flag, name,
                                                                change, message):
    """train.py (dream training) and model.py (dream play) refuse the file instead of dreaming with
    it (a NaN M never kills, so every candidate would score the maximum)."""
    folder = trained[0]
    bad = str(_rewrite(folder / "tf_models" / name, tmp_path / name, change))
    controller = tmp_path / "c.json"
    controller.write_text(json.dumps([[0.0] * 1088]))
    train = run(folder, "train.py", "--preset", "smoke", "-n", "1", "-t", "4", "--log-dir",
                str(tmp_path / "log"), flag, bad)
    assert_one_line_error(train, bad, message)
    play = run(folder, "model.py", "doomrnn", "norender", str(controller), "--episodes", "1",
               flag, bad)
    assert_one_line_error(play, bad, message)
    assert not (tmp_path / "log" / "doomrnn.cma.1.4.hist.json").exists()


def test_a_vae_with_nan_is_refused_by_series(trained, tmp_path):
    folder = trained[0]
    bad = str(_rewrite(folder / "tf_models" / "vae.npz", tmp_path / "vae.npz",
                       _nan_at("enc_conv1/kernel")))
    out = run(folder, "series.py", "--preset", "smoke", "--vae", bad, "--series",
              str(tmp_path / "series"))
    assert_one_line_error(out, bad, "array enc_conv1/kernel holds NaN or inf")
    assert not (tmp_path / "series").exists()


# --- counts --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("script", "args", "message"), [
    ("extract.py", ["--episodes", "0"], "argument --episodes: must be at least 1, got 0"),
    ("extract.py", ["--episodes", "-3"], "argument --episodes: must be at least 1, got -3"),
    ("vae_train.py", ["--epochs", "-1"], "argument --epochs: must be at least 1, got -1"),
    ("rnn_train.py", ["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    ("series.py", ["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    ("model.py", ["norender", "c.json", "--episodes", "0"], "argument --episodes: must be at least 1"),
    ("model.py", ["norender", "c.json", "--batch", "-1"], "argument --batch: must be at least 1"),
    ("model.py", ["norender", "c.json", "--workers", "0"], "argument --workers: must be at least 1"),
    ("train.py", ["-n", "0"], "argument -n/--num-worker: must be at least 1, got 0"),
    ("train.py", ["-t", "-1"], "argument -t/--num-worker-trial: must be at least 1, got -1"),
    ("train.py", ["--num-episode", "0"], "argument --num-episode: must be at least 1, got 0"),
    ("train.py", ["--envs", "0"], "argument --envs: must be at least 1, got 0"),
])
def test_zero_or_negative_counts_are_refused_by_every_stage(tmp_path, script, args, message):
    """Refused at parse time, in one line naming the flag, before anything is read or written."""
    folder = copy_scripts("doomrnn", tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    out = run(folder, script, "--preset", "smoke", *args) if script != "model.py" else \
        run(folder, script, *args)
    assert out.returncode == 2
    assert_one_line_error(out, f"{script}: error: {message}")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_population_too_small_for_cma_is_named_before_any_model_is_loaded(tmp_path):
    """-n 1 -t 2 gives a population of 2, which pycma cannot run: one line that says so and what
    to change, before any model is loaded. (The preset's population is split over the -n given,
    so -n 1 alone trains the smoke preset's 4.)"""
    folder = copy_scripts("doomrnn", tmp_path)
    out = run(folder, "train.py", "--preset", "smoke", "-n", "1", "-t", "2")
    assert_one_line_error(out, "cma needs a popsize of at least 4, got 2 (popsize = -n 1 x -t 2)",
                          "change -t")


# --- failed writes -------------------------------------------------------------------------------

def test_a_failed_checkpoint_write_is_one_line_and_the_same_command_resumes(trained, tmp_path):
    """rnn_train under a file-size limit below its checkpoint (about 20 MB): one line naming the
    checkpoint and saying the command resumes; no temporary file is left and the inputs and the
    earlier M are untouched; without the limit the same command finishes."""
    folder = trained[0]
    old_m = (folder / "tf_models" / "rnn.npz").read_bytes()
    series = tmp_path / "series"
    shutil.copytree(folder / "series", series, ignore=shutil.ignore_patterns(*DAMAGED))
    out_dir = tmp_path / "m"
    args = ("--preset", "smoke", "--steps", "2", "--series", str(series), "--out",
            str(out_dir / "rnn.npz"), "--tensorboard", str(tmp_path / "tb"))
    failed = run(folder, "rnn_train.py", *args, limit=12 << 20)
    checkpoint = out_dir / "rnn_train.ckpt.npz"
    assert_one_line_error(failed, f"error: could not write {checkpoint} (File too large)",
                          "run the same command again to resume")
    assert sorted(p.name for p in out_dir.iterdir()) == ["rnn_train.settings.json"]
    assert (folder / "tf_models" / "rnn.npz").read_bytes() == old_m
    again = run(folder, "rnn_train.py", *args)
    assert again.returncode == 0, again.stderr
    assert read_config(out_dir / "rnn.npz")["steps"] == 2
