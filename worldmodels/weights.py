"""Model weight files: one .npz per model holding its arrays and the configuration they were made for.

The configuration (kind, experiment and sizes) is stored as a JSON string under ``__config__`` so a
file of the wrong experiment or size is refused at load time with one line naming the file and the
mismatch. Files are read with ``allow_pickle=False``; they are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from worldmodels.data import DataFileError, read_npz
from worldmodels.experiments import Experiment
from worldmodels.fileio import atomic_savez
from worldmodels.mdnrnn import rnn_weight_shapes
from worldmodels.vae import vae_weight_shapes

CONFIG_KEY = "__config__"
FORMAT_VERSION = 1
KINDS = ("vae", "rnn")


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or made for another experiment or size."""


def model_config(kind: str, exp: Experiment) -> dict:
    """The configuration that a `kind` ('vae' or 'rnn') weight file of `exp` must carry."""
    if kind == "vae":
        return {"kind": kind, "experiment": exp.name, "z_size": exp.z_size}
    if kind == "rnn":
        return {
            "kind": kind, "experiment": exp.name, "z_size": exp.z_size,
            "action_size": exp.action_size, "rnn_size": exp.rnn_size,
            "num_mixture": exp.num_mixture, "use_restart": exp.use_restart,
            "predict_done": exp.predict_done, "predict_reward": exp.predict_reward,
        }
    raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")


def expected_shapes(kind: str, exp: Experiment) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every array a `kind` weight file of `exp` holds (the model modules own
    their shapes)."""
    return vae_weight_shapes(exp.z_size) if kind == "vae" else rnn_weight_shapes(exp)


def save_weights(
    path: str | os.PathLike, kind: str, exp: Experiment, weights: dict[str, np.ndarray],
    extra: dict | None = None,
) -> None:
    """Write `weights` (named as `expected_shapes`) with their configuration to `path` atomically.

    Refuses weights of the wrong shape or holding NaN/inf, so no such file is ever written.
    `extra` (JSON-serialisable) is stored in the configuration, e.g. the training step.
    """
    shapes = expected_shapes(kind, exp)
    for name, shape in shapes.items():
        array = weights[name]
        if array.shape != shape:
            raise ValueError(f"{name}: shape {array.shape}, expected {shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: holds NaN or inf; refusing to write {path}")
    config = {**model_config(kind, exp), "format": FORMAT_VERSION, **(extra or {})}
    arrays = {name: np.asarray(weights[name], np.float32) for name in shapes}
    atomic_savez(path, compressed=False, **arrays, **{CONFIG_KEY: np.array(json.dumps(config))})


def load_weights(
    path: str | os.PathLike, kind: str, exp: Experiment, made_by: str = ""
) -> dict[str, np.ndarray]:
    """Read a weight file written by :func:`save_weights` and check it fits `exp`.

    Returns name -> float32 array. Raises :class:`ModelFileError` with one line naming the file and
    what is wrong (missing, corrupt or truncated, a malformed configuration, other experiment, other
    size, NaN or inf in an array); `made_by` names the command that produces the file, for the
    message.
    """
    path = Path(path)
    hint = f" (made by: {made_by})" if made_by else ""
    if not path.is_file():
        raise ModelFileError(f"{path}: missing {kind} weight file for {exp.name}{hint}")
    arrays = _read_weight_file(path)
    config = _parse_config(path, arrays.pop(CONFIG_KEY))
    for key, want in model_config(kind, exp).items():
        if config.get(key) != want:
            raise ModelFileError(
                f"{path}: {key} is {config.get(key)!r} but {exp.name} {kind} needs {want!r}"
            )
    for name, shape in expected_shapes(kind, exp).items():
        if name not in arrays:
            raise ModelFileError(f"{path}: array {name} missing")
        if arrays[name].shape != shape:
            raise ModelFileError(f"{path}: array {name} has shape {arrays[name].shape}, "
                                 f"expected {shape}")
        if not np.all(np.isfinite(arrays[name])):
            raise ModelFileError(f"{path}: array {name} holds NaN or inf; the file is damaged, "
                                 f"make it again{hint}")
    return arrays


def _read_weight_file(path: Path) -> dict[str, np.ndarray]:
    """All arrays of the weight file `path`, which must hold a configuration; ModelFileError if not."""
    try:
        arrays = read_npz(path)
    except DataFileError as err:
        reason = str(err).removeprefix(f"{path}: ")
        raise ModelFileError(f"{path}: weight file {reason}") from None
    if CONFIG_KEY not in arrays:
        raise ModelFileError(f"{path}: no {CONFIG_KEY} entry; not a worldmodels weight file")
    return arrays


def _parse_config(path: Path, raw: np.ndarray) -> dict:
    """The configuration stored as a JSON object in `raw` (a string array); ModelFileError if the
    text is not JSON or not an object."""
    try:
        config = json.loads(str(raw))
    except ValueError as err:
        raise ModelFileError(f"{path}: {CONFIG_KEY} is not JSON ({err})") from None
    if not isinstance(config, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(config), "number")
        raise ModelFileError(f"{path}: {CONFIG_KEY} is a JSON {kind}, not an object")
    return config


def with_file_heads(path: str | os.PathLike, exp: Experiment) -> Experiment:
    """`exp` with the optional heads (predict_reward) that the M file at `path` was trained with;
    `exp` unchanged when the file cannot be read (loading it then reports why)."""
    try:
        config = read_config(path)
    except (OSError, ModelFileError):
        return exp
    return exp.with_overrides(predict_reward=bool(config.get("predict_reward", False)))


def read_config(path: str | os.PathLike) -> dict:
    """The configuration stored in a weight file (without checking it against anything).

    Raises ModelFileError (one line) when the file cannot be read or its configuration is malformed.
    """
    path = Path(path)
    return _parse_config(path, _read_weight_file(path)[CONFIG_KEY])


def init_weights(kind: str, exp: Experiment, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Freshly initialised weights in numpy (no TensorFlow): Glorot-uniform kernels, zero biases,
    LSTM forget-gate bias 1 (as Keras initialises them). Shapes as :func:`expected_shapes`."""
    weights = {}
    for name, shape in expected_shapes(kind, exp).items():
        if name.endswith("bias"):
            weights[name] = np.zeros(shape, np.float32)
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights[name] = rng.uniform(-limit, limit, shape).astype(np.float32)
    if kind == "rnn":
        weights["lstm/bias"][exp.rnn_size : 2 * exp.rnn_size] = 1.0  # gate order i, f, c, o
    return weights
