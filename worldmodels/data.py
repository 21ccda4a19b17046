"""Episode and series files: atomic writes, validating reads, and a bounded-memory frame stream.

Episode (`record/*.npz`, compressed): ``obs`` uint8 (T, 64, 64, 3), ``action`` float32 (T, A),
``reward`` float32 (T,), ``done`` bool (T,). Step t holds the frame seen, the action taken on it,
and the reward and done flag that action produced.

Series (`series/*.npz`): ``mu`` and ``logvar`` float16 (T, Z) (V's encoding of each frame),
``action`` float32 (T, A), ``reward`` float32 (T,), ``done`` bool (T,).

Initial z (`initial_z.npz`): ``mu`` and ``logvar`` float16 (N, Z), the first frame of N episodes.

Every reader checks keys, shapes and dtypes and raises :class:`DataFileError` with one line naming
the file; every loader over many files skips and counts bad ones instead of stopping.
"""

from __future__ import annotations

import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from worldmodels.fileio import atomic_savez

FRAME_SHAPE = (64, 64, 3)
EPISODE_KEYS = ("obs", "action", "reward", "done")
SERIES_KEYS = ("mu", "logvar", "action", "reward", "done")


class DataFileError(ValueError):
    """An episode or series file is unreadable or does not match the documented format."""


def _check(path: Path, ok: bool, what: str) -> None:
    if not ok:
        raise DataFileError(f"{path}: {what}")


# What reading a damaged .npz can raise: a cut or overwritten zip directory (BadZipFile, EOFError,
# OSError), a damaged compressed payload (zlib.error, or BadZipFile for a CRC mismatch), a damaged
# array header (ValueError), or an unknown compression method (NotImplementedError).
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile,
               zlib.error)


def error_line(err: BaseException) -> str:
    """``TYPE: message`` of an exception on one line; TYPE is qualified outside the builtins
    (zlib.error, zipfile.BadZipFile)."""
    kind = type(err).__qualname__
    if type(err).__module__ != "builtins":
        kind = f"{type(err).__module__}.{kind}"
    return " ".join(f"{kind}: {err}".split())


def read_npz(path: str | os.PathLike, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every array of the .npz file `path` (or only `keys`, which must all be there), read eagerly
    with ``allow_pickle=False``, so a damaged payload is found here and not later.

    Raises :class:`DataFileError` with one line naming the file for anything unreadable: the one
    place where .npz files are opened (episodes, series, initial_z, weights, training checkpoints).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files) if keys is None else list(keys)
            missing = [k for k in names if k not in npz.files]
            _check(path, not missing, f"missing keys {missing}")
            return {k: npz[k] for k in names}
    except DataFileError:
        raise
    except READ_ERRORS as err:
        raise DataFileError(f"{path}: unreadable, truncated or corrupt ({error_line(err)})") \
            from None


def _check_steps(path: Path, arrays: dict[str, np.ndarray], length: int,
                 action_size: int | None) -> None:
    action, reward, done = arrays["action"], arrays["reward"], arrays["done"]
    _check(path, action.ndim == 2 and action.shape[0] == length,
           f"action has shape {action.shape}, expected ({length}, A)")
    _check(path, action_size is None or action.shape[1] == action_size,
           f"action has {action.shape[1]} columns, expected {action_size}")
    _check(path, np.issubdtype(action.dtype, np.floating), f"action dtype {action.dtype}")
    _check(path, reward.shape == (length,), f"reward has shape {reward.shape}")
    _check(path, np.issubdtype(reward.dtype, np.floating), f"reward dtype {reward.dtype}")
    _check(path, done.shape == (length,) and done.dtype == np.bool_,
           f"done has shape {done.shape} dtype {done.dtype}, expected ({length},) bool")
    _check(path, bool(np.all(np.isfinite(action)) and np.all(np.isfinite(reward))),
           "action or reward holds NaN or inf")


def write_episode(path: str | os.PathLike, obs: np.ndarray, action: np.ndarray,
                  reward: np.ndarray, done: np.ndarray) -> None:
    """Validate one episode and write it compressed and atomically to `path` (.npz).

    obs uint8 (T, 64, 64, 3); action (T, A); reward (T,); done (T,). Raises DataFileError if invalid.
    """
    arrays = {
        "obs": np.asarray(obs), "action": np.asarray(action, np.float32),
        "reward": np.asarray(reward, np.float32), "done": np.asarray(done, bool),
    }
    validate_episode(Path(path), arrays)
    atomic_savez(path, **arrays)


def validate_episode(path: Path, arrays: dict[str, np.ndarray],
                     action_size: int | None = None) -> None:
    """Raise DataFileError naming `path` unless `arrays` form a valid episode."""
    obs = arrays["obs"]
    _check(path, obs.dtype == np.uint8, f"obs dtype {obs.dtype}, expected uint8")
    _check(path, obs.ndim == 4 and obs.shape[1:] == FRAME_SHAPE and obs.shape[0] > 0,
           f"obs has shape {obs.shape}, expected (T>0, 64, 64, 3)")
    _check_steps(path, arrays, obs.shape[0], action_size)


def read_episode(path: str | os.PathLike, action_size: int | None = None) -> dict[str, np.ndarray]:
    """Read and validate an episode file; returns its four arrays. Raises DataFileError."""
    path = Path(path)
    arrays = read_npz(path, EPISODE_KEYS)
    validate_episode(path, arrays, action_size)
    return arrays


def write_series(path: str | os.PathLike, mu: np.ndarray, logvar: np.ndarray,
                 action: np.ndarray, reward: np.ndarray, done: np.ndarray) -> None:
    """Write one episode's encoding atomically: mu, logvar (T, Z) stored float16, plus its steps."""
    arrays = {
        "mu": np.asarray(mu, np.float16), "logvar": np.asarray(logvar, np.float16),
        "action": np.asarray(action, np.float32), "reward": np.asarray(reward, np.float32),
        "done": np.asarray(done, bool),
    }
    validate_series(Path(path), arrays)
    atomic_savez(path, **arrays)


def validate_series(path: Path, arrays: dict[str, np.ndarray], z_size: int | None = None,
                    action_size: int | None = None) -> None:
    """Raise DataFileError naming `path` unless `arrays` form a valid series entry."""
    mu, logvar = arrays["mu"], arrays["logvar"]
    for name, a in (("mu", mu), ("logvar", logvar)):
        _check(path, a.dtype == np.float16, f"{name} dtype {a.dtype}, expected float16")
        _check(path, a.ndim == 2 and a.shape[0] > 0 and a.shape == mu.shape,
               f"{name} has shape {a.shape}, expected (T>0, Z) like mu {mu.shape}")
        _check(path, z_size is None or a.shape[1] == z_size, f"{name} has z size {a.shape[1]}, "
               f"expected {z_size}")
        _check(path, bool(np.all(np.isfinite(a))), f"{name} holds NaN or inf")
    _check_steps(path, arrays, mu.shape[0], action_size)


def read_series(path: str | os.PathLike, z_size: int | None = None,
                action_size: int | None = None) -> dict[str, np.ndarray]:
    """Read and validate a series file; returns its five arrays. Raises DataFileError."""
    path = Path(path)
    arrays = read_npz(path, SERIES_KEYS)
    validate_series(path, arrays, z_size, action_size)
    return arrays


def write_initial_z(path: str | os.PathLike, mu: np.ndarray, logvar: np.ndarray) -> None:
    """Write the first-frame encodings mu, logvar (N, Z) of N episodes atomically (float16)."""
    mu, logvar = np.asarray(mu, np.float16), np.asarray(logvar, np.float16)
    if mu.ndim != 2 or mu.shape != logvar.shape or not (np.all(np.isfinite(mu))
                                                        and np.all(np.isfinite(logvar))):
        raise DataFileError(f"{path}: initial z must be finite (N, Z) arrays, got {mu.shape}")
    atomic_savez(path, mu=mu, logvar=logvar)


def read_initial_z(path: str | os.PathLike, z_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read initial_z: (mu, logvar), each float32 (N, z_size). Raises DataFileError."""
    path = Path(path)
    arrays = read_npz(path, ("mu", "logvar"))
    mu, logvar = arrays["mu"], arrays["logvar"]
    _check(path, mu.ndim == 2 and mu.shape == logvar.shape and mu.shape[1] == z_size
           and mu.shape[0] > 0, f"mu/logvar have shapes {mu.shape}/{logvar.shape}, "
           f"expected (N>0, {z_size})")
    _check(path, bool(np.all(np.isfinite(mu)) and np.all(np.isfinite(logvar))),
           "mu or logvar holds NaN or inf (made by: series.py; run it again)")
    return mu.astype(np.float32), logvar.astype(np.float32)


def list_npz(folder: str | os.PathLike) -> list[Path]:
    """The finished .npz files in `folder`, sorted by name (temporary files are never listed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".npz" and not p.name.startswith("."))


def require_one_valid(paths: list[Path], read: Callable[[Path], object], folder: str | os.PathLike,
                      what: str, made_by: str) -> None:
    """Raise DataFileError, in one line, unless `read` accepts at least one of `paths`.

    Stops at the first file that reads, so a folder of good files costs one read; a folder of only
    invalid files is refused before any work starts, instead of each stage meeting nothing to do.
    """
    first_error = None
    for path in paths:
        try:
            read(path)
            return
        except DataFileError as err:
            first_error = first_error or err
    raise DataFileError(f"{folder}/: none of its {len(paths)} .npz files is a valid {what} "
                        f"(first: {first_error}) (made by: {made_by})")


class SkipCounter:
    """Counts files skipped as invalid and reports each once on stderr."""

    def __init__(self) -> None:
        self.skipped: dict[Path, str] = {}

    def skip(self, path: Path, err: Exception) -> None:
        """Record that `path` was skipped because of `err` (reported the first time only)."""
        if path not in self.skipped:
            self.skipped[path] = str(err)
            print(f"skipping invalid file: {err}", file=sys.stderr, flush=True)

    @property
    def count(self) -> int:
        """How many distinct files were skipped."""
        return len(self.skipped)


def iter_episodes(paths: Iterable[Path], skips: SkipCounter,
                  action_size: int | None = None) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    """Yield (path, arrays) for every valid episode in `paths`; invalid ones go to `skips`."""
    for path in paths:
        try:
            yield path, read_episode(path, action_size)
        except DataFileError as err:
            skips.skip(path, err)


class FrameStream:
    """Shuffled batches of frames from episode files, holding at most `buffer_frames` in memory.

    Each pass visits the files in a new random order, pours their frames into a shuffle buffer and
    yields uint8 batches (batch_size, 64, 64, 3) drawn at random from it; the last partial batch of a
    pass is dropped. Invalid files are skipped and counted in `skips`. Pass e shuffles with the
    generator seeded (seed, e), so a resumed training sees the same data order as an unbroken one;
    `next_epoch` is the index of the next pass; `epoch_episodes` and `epoch_batches` count the valid
    files and the batches of the last pass.
    """

    def __init__(self, paths: list[Path], batch_size: int, seed: int = 0,
                 buffer_frames: int = 20000):
        if not paths:
            raise ValueError("no episode files to stream")
        self.paths = list(paths)
        self.batch_size = batch_size
        self.buffer_frames = max(buffer_frames, batch_size)
        self.seed = seed
        self.next_epoch = 0
        self.epoch_episodes = self.epoch_batches = 0
        self.skips = SkipCounter()

    def epoch(self) -> Iterator[np.ndarray]:
        """One pass over all files: uint8 batches (batch_size, 64, 64, 3)."""
        self.rng = np.random.default_rng([self.seed, self.next_epoch])
        self.next_epoch += 1
        self.epoch_episodes = self.epoch_batches = 0
        order = [self.paths[i] for i in self.rng.permutation(len(self.paths))]
        buffer: list[np.ndarray] = []
        held = 0
        for _, episode in iter_episodes(order, self.skips):
            self.epoch_episodes += 1
            buffer.append(episode["obs"])
            held += len(episode["obs"])
            if held >= self.buffer_frames:
                yield from self._drain(buffer, keep=self.buffer_frames // 2)
                held = sum(len(b) for b in buffer)
        yield from self._drain(buffer, keep=0)

    def _drain(self, buffer: list[np.ndarray], keep: int) -> Iterator[np.ndarray]:
        if not buffer:  # every file of the pass was invalid: an empty pass, not an error here
            return
        frames = np.concatenate(buffer)
        frames = frames[self.rng.permutation(len(frames))]
        n_out = (len(frames) - keep) // self.batch_size * self.batch_size
        for start in range(0, n_out, self.batch_size):
            self.epoch_batches += 1
            yield frames[start : start + self.batch_size]
        buffer.clear()
        if len(frames) > n_out:
            buffer.append(frames[n_out:])
