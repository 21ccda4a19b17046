"""series: encode every recorded episode with V into series/*.npz, and write initial_z.

Runs the numpy twin of V (no TensorFlow) in large batches. Re-running skips episodes already
encoded by the same V; a new V (another weight file content) re-encodes everything. initial_z holds
the first frame's (mu, logvar) of the first --initial-z-count episodes by name (the reference: 1000).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from worldmodels.data import (
    DataFileError,
    SkipCounter,
    iter_episodes,
    list_npz,
    read_episode,
    read_series,
    require_one_valid,
    write_initial_z,
    write_series,
)
from worldmodels.fileio import atomic_write_text, file_digest
from worldmodels.stages.common import StageError, base_parser, parse, positive_int, write_settings
from worldmodels.vae import VAE
from worldmodels.weights import load_weights


def encode(vae: VAE, obs: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """V's (mu, logvar) (T, Z) for frames obs (T, 64, 64, 3), in batches of `batch_size`."""
    parts = [vae.encode(obs[i : i + batch_size]) for i in range(0, len(obs), batch_size)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def is_done(path: Path, z_size: int) -> bool:
    """True when `path` is a valid series file already."""
    try:
        read_series(path, z_size)
    except DataFileError:
        return False
    return True


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of series.py."""
    parser = base_parser("encode record/ into series/ and initial_z with V", exp_name)
    parser.add_argument("--record", default=None, help="episode folder (default: record)")
    parser.add_argument("--series", default=None, help="output folder (default: series)")
    parser.add_argument("--vae", default=None, help="V weight file (default: the experiment's)")
    parser.add_argument("--initial-z", default=None, help="initial_z file (default: the experiment's)")
    parser.add_argument("--initial-z-count", type=positive_int, default=1000)
    parser.add_argument("--batch-size", type=positive_int, default=1000, help="frames per V call")
    args, exp, _ = parse(parser, argv, exp_name)
    record, series = Path(args.record or exp.record_dir), Path(args.series or exp.series_dir)
    vae_path = Path(args.vae or exp.vae_path)
    vae = VAE(load_weights(vae_path, "vae", exp, made_by="vae_train.py"), exp.z_size)
    paths = list_npz(record)
    if not paths:
        raise StageError(f"no episode files in {record}/ (made by: extract.py)")
    require_one_valid(paths, lambda p: read_episode(p, exp.action_size), record, "episode",
                      "extract.py")
    series.mkdir(parents=True, exist_ok=True)
    write_settings(series / "settings.json", exp, args)
    stamp, vae_id = series / "vae.sha256", file_digest(vae_path)
    if not stamp.exists() or stamp.read_text().strip() != vae_id:
        for old in list_npz(series):  # encoded by another V: start over
            old.unlink()
        atomic_write_text(stamp, vae_id + "\n")
    todo = [p for p in paths if not is_done(series / p.name, exp.z_size)]
    skips, start, frames = SkipCounter(), time.perf_counter(), 0
    for path, episode in tqdm(iter_episodes(todo, skips, exp.action_size), total=len(todo),
                              desc=f"series {exp.name}", unit="ep", file=sys.stdout, mininterval=5):
        mu, logvar = encode(vae, episode["obs"], args.batch_size)
        write_series(series / path.name, mu, logvar, episode["action"], episode["reward"],
                     episode["done"])
        frames += len(mu)
    elapsed = time.perf_counter() - start
    print(f"{series}: encoded {len(todo) - skips.count} episodes ({frames} frames, "
          f"{frames / max(elapsed, 1e-9):.0f} frames/s), {len(paths) - len(todo)} already done, "
          f"{skips.count} bad files skipped", flush=True)
    write_initial(exp, series, Path(args.initial_z or exp.initial_z_path), args.initial_z_count)


def write_initial(exp, series: Path, path: Path, count: int) -> None:
    """initial_z from the first frame of the first `count` valid series files."""
    mus, logvars, skips = [], [], SkipCounter()
    for file in list_npz(series):
        try:
            entry = read_series(file, exp.z_size, exp.action_size)
        except DataFileError as err:
            skips.skip(file, err)
            continue
        mus.append(entry["mu"][0])
        logvars.append(entry["logvar"][0])
        if len(mus) == count:
            break
    if not mus:
        raise StageError(f"no valid series in {series}/ to build initial_z from")
    write_initial_z(path, np.stack(mus), np.stack(logvars))
    print(f"{path}: initial z of {len(mus)} episodes", flush=True)
