"""Weight, episode and series files: round trips, atomic writes, and clear refusals of bad files."""

import json
import resource
import subprocess
import sys

import numpy as np
import pytest
from file_damage import damage_payload, smooth_episode, truncate, write_smooth_episodes

from worldmodels.data import (
    DataFileError,
    FrameStream,
    SkipCounter,
    iter_episodes,
    list_npz,
    read_episode,
    read_initial_z,
    read_series,
    require_one_valid,
    write_episode,
    write_initial_z,
    write_series,
)
from worldmodels.experiments import CARRACING, DOOMRNN, get_experiment
from worldmodels.fileio import atomic_savez
from worldmodels.mdnrnn import rnn_weight_shapes
from worldmodels.vae import vae_weight_shapes
from worldmodels.weights import ModelFileError, load_weights, read_config, save_weights


def _random_weights(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def _episode(t=12, a=3, seed=0):
    rng = np.random.default_rng(seed)
    return dict(obs=rng.integers(0, 256, (t, 64, 64, 3), dtype=np.uint8),
                action=rng.uniform(-1, 1, (t, a)).astype(np.float32),
                reward=rng.standard_normal(t).astype(np.float32),
                done=np.arange(t) == t - 1)


# --- weights ---------------------------------------------------------------------------------

def test_weights_round_trip_with_config(tmp_path):
    weights = _random_weights(rnn_weight_shapes(DOOMRNN))
    path = tmp_path / "rnn.npz"
    save_weights(path, "rnn", DOOMRNN, weights, extra={"step": 7})
    loaded = load_weights(path, "rnn", DOOMRNN)
    for name, array in weights.items():
        np.testing.assert_array_equal(loaded[name], array)
    assert read_config(path)["step"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["rnn.npz"]  # no temporary file left


def test_weights_of_the_other_experiment_are_refused(tmp_path):
    path = tmp_path / "vae.npz"
    save_weights(path, "vae", DOOMRNN, _random_weights(vae_weight_shapes(64)))
    with pytest.raises(ModelFileError) as err:
        load_weights(path, "vae", CARRACING)
    message = str(err.value)
    assert str(path) in message and "experiment" in message and "\n" not in message


def test_weights_of_another_size_are_refused(tmp_path):
    path = tmp_path / "rnn.npz"
    small = CARRACING.with_overrides(rnn_size=64)
    save_weights(path, "rnn", small, _random_weights(rnn_weight_shapes(small)))
    with pytest.raises(ModelFileError, match="rnn_size is 64 but carracing rnn needs 256"):
        load_weights(path, "rnn", CARRACING)


def test_truncated_and_missing_weight_files_give_one_line(tmp_path):
    path = tmp_path / "vae.npz"
    save_weights(path, "vae", CARRACING, _random_weights(vae_weight_shapes(32)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_weights(path, "vae", CARRACING)
    with pytest.raises(ModelFileError, match=r"missing vae weight file.*made by: vae_train.py"):
        load_weights(tmp_path / "none.npz", "vae", CARRACING, made_by="vae_train.py")


def test_nan_or_misshapen_weights_are_never_written(tmp_path):
    weights = _random_weights(vae_weight_shapes(32))
    weights["dec_fc/bias"][3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        save_weights(tmp_path / "v.npz", "vae", CARRACING, weights)
    weights["dec_fc/bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="shape"):
        save_weights(tmp_path / "v.npz", "vae", CARRACING, weights)
    assert list(tmp_path.iterdir()) == []


def test_unknown_experiment_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown experiment 'pong'; known: carracing, doomrnn"):
        get_experiment("pong")


# --- episodes and series -----------------------------------------------------------------------

def test_episode_round_trip(tmp_path):
    ep = _episode()
    write_episode(tmp_path / "e.npz", **ep)
    back = read_episode(tmp_path / "e.npz", action_size=3)
    for key, value in ep.items():
        np.testing.assert_array_equal(back[key], value)
    assert back["action"].dtype == np.float32 and back["done"].dtype == np.bool_


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ep: ep.update(obs=ep["obs"].astype(np.float32)), "obs dtype float32"),
        (lambda ep: ep.update(obs=ep["obs"][:, :32]), "obs has shape"),
        (lambda ep: ep.update(action=ep["action"][:-1]), "action has shape"),
        (lambda ep: ep.update(action=ep["action"].astype(np.int32)), "action dtype int32"),
        (lambda ep: ep.update(done=ep["done"].astype(np.int8)), "done has shape"),
        (lambda ep: ep.update(reward=np.full(12, np.nan, np.float32)), "NaN"),
        (lambda ep: ep.pop("reward"), "missing keys"),
    ],
)
def test_invalid_episodes_are_refused_with_the_file_name(tmp_path, change, message):
    ep = _episode()
    change(ep)
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **ep)  # written behind the validator's back
    with pytest.raises(DataFileError, match=message) as err:
        read_episode(path)
    assert str(path) in str(err.value)


def test_writer_refuses_an_invalid_episode(tmp_path):
    ep = _episode()
    ep["obs"] = ep["obs"][:, :, :, :1]
    with pytest.raises(DataFileError):
        write_episode(tmp_path / "e.npz", **ep)
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_empty_files_are_refused(tmp_path):
    write_episode(tmp_path / "e.npz", **_episode())
    data = (tmp_path / "e.npz").read_bytes()
    (tmp_path / "e.npz").write_bytes(data[:100])
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("e.npz", "empty.npz"):
        with pytest.raises(DataFileError, match="unreadable"):
            read_episode(tmp_path / name)


def test_wrong_action_size_is_refused(tmp_path):
    write_episode(tmp_path / "e.npz", **_episode(a=1))
    with pytest.raises(DataFileError, match="1 columns, expected 3"):
        read_episode(tmp_path / "e.npz", action_size=3)


def test_series_and_initial_z_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    mu, logvar = rng.standard_normal((2, 10, 64)).astype(np.float32)
    ep = _episode(t=10, a=1)
    write_series(tmp_path / "s.npz", mu, logvar, ep["action"], ep["reward"], ep["done"])
    back = read_series(tmp_path / "s.npz", z_size=64, action_size=1)
    assert back["mu"].dtype == np.float16
    np.testing.assert_allclose(back["mu"], mu, atol=1e-2)
    with pytest.raises(DataFileError, match="z size 64, expected 32"):
        read_series(tmp_path / "s.npz", z_size=32)
    write_initial_z(tmp_path / "initial_z.npz", mu, logvar)
    imu, ilogvar = read_initial_z(tmp_path / "initial_z.npz", 64)
    assert imu.shape == (10, 64) and imu.dtype == np.float32
    with pytest.raises(DataFileError, match=r"expected \(N>0, 32\)"):
        read_initial_z(tmp_path / "initial_z.npz", 32)


def test_loader_skips_and_counts_bad_files(tmp_path, capsys):
    for i in range(4):
        write_episode(tmp_path / f"{i}.npz", **_episode(t=30, seed=i))
    (tmp_path / "1.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "2.npz", obs=np.zeros((3, 8, 8, 3), np.uint8))
    (tmp_path / ".3.npz.tmp-x").write_bytes(b"half written")
    paths = list_npz(tmp_path)
    assert [p.name for p in paths] == ["0.npz", "1.npz", "2.npz", "3.npz"]
    skips = SkipCounter()
    good = [p.name for p, _ in iter_episodes(paths, skips)]
    assert good == ["0.npz", "3.npz"] and skips.count == 2
    assert "1.npz" in capsys.readouterr().err


def test_frame_stream_yields_every_good_frame_once_per_epoch_with_bounded_memory(tmp_path):
    for i in range(5):
        write_episode(tmp_path / f"{i}.npz", **_episode(t=40, seed=i))
    (tmp_path / "9.npz").write_bytes(b"corrupt")
    stream = FrameStream(list_npz(tmp_path), batch_size=16, seed=0, buffer_frames=64)
    batches = list(stream.epoch())
    assert all(b.shape == (16, 64, 64, 3) and b.dtype == np.uint8 for b in batches)
    assert len(batches) == 200 // 16  # 5 good episodes x 40 frames, last partial batch dropped
    frames = np.concatenate(batches)
    assert len({f.tobytes() for f in frames}) == len(frames)  # no frame twice
    assert stream.skips.count == 1
    assert len(list(stream.epoch())) == 200 // 16  # a second epoch, still skipping the bad file
    assert stream.skips.count == 1


# --- damaged files, non-finite weights, malformed configurations, failed writes -----------------

def test_a_damaged_compressed_payload_is_refused_in_one_line(tmp_path):
    """The zip directory is intact but obs fails to decompress (zlib.error): every reader refuses
    the file in one line, and the loaders skip and count it."""
    paths = write_smooth_episodes(tmp_path, 3)
    damage_payload(paths[1], "obs.npy")
    with pytest.raises(DataFileError, match="unreadable, truncated or corrupt") as err:
        read_episode(paths[1])
    assert str(paths[1]) in str(err.value) and "\n" not in str(err.value)
    skips = SkipCounter()
    assert [p for p, _ in iter_episodes(paths, skips)] == [paths[0], paths[2]]
    stream = FrameStream(paths, batch_size=10, seed=0, buffer_frames=50)
    assert len(list(stream.epoch())) == 120 // 10 and stream.skips.count == 1


def test_a_folder_of_only_invalid_files_is_refused_in_one_line(tmp_path):
    paths = write_smooth_episodes(tmp_path, 2)
    damage_payload(paths[0], "obs.npy")
    truncate(paths[1])
    with pytest.raises(DataFileError) as err:
        require_one_valid(paths, read_episode, tmp_path, "episode", "extract.py")
    message = str(err.value)
    assert "none of its 2 .npz files is a valid episode" in message and str(paths[0]) in message
    assert "\n" not in message
    write_episode(tmp_path / "s1_000000.npz", **smooth_episode())
    require_one_valid(list_npz(tmp_path), read_episode, tmp_path, "episode", "extract.py")


def _weights_file_behind_the_writers_back(path, weights, config_text):
    np.savez(path, **weights, __config__=np.array(config_text))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_weights_are_refused_at_load(tmp_path, bad):
    weights = _random_weights(rnn_weight_shapes(DOOMRNN))
    path = tmp_path / "rnn.npz"
    save_weights(path, "rnn", DOOMRNN, weights)
    config = read_config(path)
    weights["lstm/kernel"][5, 7] = bad
    _weights_file_behind_the_writers_back(path, weights, json.dumps(config))
    with pytest.raises(ModelFileError, match="array lstm/kernel holds NaN or inf") as err:
        load_weights(path, "rnn", DOOMRNN, made_by="rnn_train.py")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "__config__ is not JSON"),
    ("[1, 2]", "__config__ is a JSON array, not an object"),
    ('"vae"', "__config__ is a JSON string, not an object"),
])
def test_a_malformed_config_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "vae.npz"
    _weights_file_behind_the_writers_back(path, _random_weights(vae_weight_shapes(64)), text)
    for read in (lambda: load_weights(path, "vae", DOOMRNN), lambda: read_config(path)):
        with pytest.raises(ModelFileError, match=message) as err:
            read()
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_initial_z_with_nan_is_refused(tmp_path):
    mu = np.zeros((3, 64), np.float16)
    logvar = np.zeros((3, 64), np.float16)
    logvar[1, 2] = np.nan
    with pytest.raises(DataFileError, match="finite"):
        write_initial_z(tmp_path / "initial_z.npz", mu, logvar)
    np.savez_compressed(tmp_path / "initial_z.npz", mu=mu, logvar=logvar)
    with pytest.raises(DataFileError, match="holds NaN or inf"):
        read_initial_z(tmp_path / "initial_z.npz", 64)


def test_a_failed_write_names_the_file_and_keeps_its_previous_version(tmp_path):
    """A real process under a file-size limit (as a full disk): atomic_savez fails with one
    FileWriteError naming the file, the old file is byte for byte intact, no temporary is left."""
    path = tmp_path / "big.npz"
    atomic_savez(path, compressed=False, a=np.zeros(10, np.float32))
    before = path.read_bytes()
    code = ("import sys, numpy as np\n"
            "from worldmodels.fileio import FileWriteError, atomic_savez\n"
            "try:\n"
            "    atomic_savez(sys.argv[1], compressed=False, a=np.zeros(1 << 20, np.float32))\n"
            "except FileWriteError as err:\n"
            "    print(err)\n")
    limit = 1 << 20  # 1 MiB; the new file needs 4 MiB
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         timeout=60, preexec_fn=lambda: resource.setrlimit(
                             resource.RLIMIT_FSIZE, (limit, limit)))
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"could not write {path} (File too large); its previous version is " \
                         "unchanged\n"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["big.npz"]
