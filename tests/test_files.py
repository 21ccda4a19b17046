"""Weight, episode and series files: round trips, atomic writes, and clear refusals of bad files."""

import numpy as np
import pytest

from worldmodels.data import (
    DataFileError,
    FrameStream,
    SkipCounter,
    iter_episodes,
    list_npz,
    read_episode,
    read_initial_z,
    read_series,
    write_episode,
    write_initial_z,
    write_series,
)
from worldmodels.experiments import CARRACING, DOOMRNN, get_experiment
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
