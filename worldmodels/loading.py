"""Loading what the stages made: V and M as numpy twins, the dream, a controller's parameters.

Each loader takes a file's path, or None for the experiment's own file, and refuses a missing or
unfit file with one line naming the stage that makes it (ModelFileError or DataFileError).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from worldmodels.data import DataFileError, read_initial_z
from worldmodels.dream import DreamBatch, DreamSettings
from worldmodels.experiments import Experiment
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE
from worldmodels.weights import ModelFileError, load_weights, with_file_heads


def load_rnn(exp: Experiment, path: str | os.PathLike | None) -> MDNRNN:
    """M's numpy twin from `path` (default: the experiment's M file), with the optional heads the
    file was trained with (rnn_train.py --predict-reward)."""
    path = path or exp.rnn_path
    exp = with_file_heads(path, exp)
    return MDNRNN(load_weights(path, "rnn", exp, made_by="rnn_train.py"), exp)


def load_vae(exp: Experiment, path: str | os.PathLike | None) -> VAE:
    """V's numpy twin from `path` (default: the experiment's V file)."""
    return VAE(load_weights(path or exp.vae_path, "vae", exp, made_by="vae_train.py"), exp.z_size)


def load_dream(exp: Experiment, rnn_path: str | os.PathLike | None,
               initial_z_path: str | os.PathLike | None, settings: DreamSettings) -> DreamBatch:
    """The batched dream of `exp` from its M file and its initial_z file (initial mu and logvar,
    (N, z_size) each), sampled and killed as `settings` says."""
    path = Path(initial_z_path or exp.initial_z_path)
    if not path.is_file():
        raise DataFileError(f"{path}: missing initial_z for {exp.name} (made by: series.py)")
    mu, logvar = read_initial_z(path, exp.z_size)
    return DreamBatch(exp, load_rnn(exp, rnn_path), mu, logvar, settings)


def load_controller_params(path: str | os.PathLike, num_params: int) -> np.ndarray:
    """Controller parameters (num_params,) float64 from a train.py log file: [params, reward]
    (``.best.json``) or [params] (``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such controller file (made by: train.py)")
    try:
        data = json.loads(path.read_text())
        params = np.asarray(data[0], dtype=np.float64)
    except (ValueError, IndexError, TypeError, KeyError) as err:
        raise ModelFileError(f"{path}: not a controller log ([params, ...]): {err}") from None
    if params.shape != (num_params,) or not np.all(np.isfinite(params)):
        raise ModelFileError(f"{path}: {params.shape} parameters, the controller needs "
                             f"({num_params},) finite values (other experiment or "
                             "--controller-mode?)")
    return params


def training_settings(controller_path: str | os.PathLike) -> dict:
    """The settings train.py wrote beside the controller file `controller_path` (``NAME.best.json``
    or ``NAME.json`` -> ``NAME.settings.json``), or {} when there is no such file; refuses an
    unreadable one with one line (ModelFileError)."""
    path = Path(controller_path)
    base = path.name.removesuffix(".json").removesuffix(".best")
    settings = path.with_name(f"{base}.settings.json")
    if not settings.is_file():
        return {}
    try:
        data = json.loads(settings.read_text())
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{settings}: unreadable training settings ({err}); fix or delete it, "
                             "or pass --controller-mode and --z") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{settings}: training settings must be a JSON object")
    return data
