"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

A reader never sees a half-written file: a killed writer leaves only a `*.tmp-*` file, which no
reader picks up (readers match on the final suffix).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


class FileWriteError(OSError):
    """Writing a file failed (disk full, file-size limit, no permission); the message names the
    file, whose previous version, if any, is unchanged."""


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on a clean exit it is fsynced and renamed to `path`.

    Any OSError while writing (including one raised by the caller's writes) removes the temporary
    file and becomes a :class:`FileWriteError` naming `path`; `path` itself is never touched then.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as err:
        raise _write_error(path, err) from None
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, FileWriteError):
            raise _write_error(path, err) from None
        raise


def _write_error(path: Path, err: OSError) -> FileWriteError:
    reason = err.strerror or " ".join(str(err).split())
    kept = "its previous version is unchanged" if path.exists() else "nothing was written"
    return FileWriteError(f"could not write {path} ({reason}); {kept}")


def atomic_savez(path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray) -> None:
    """Write `arrays` to the .npz file `path` atomically (compressed unless told otherwise)."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path) as f:
        save(f, **arrays)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes: identifies the model file another file was made from."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
