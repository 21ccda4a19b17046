"""Damaging real files the way disks and interrupted copies do, for the tests of bad input."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from worldmodels.data import write_episode


def payload_offset(path: Path, member: str) -> tuple[int, int]:
    """(offset, size) of `member`'s compressed bytes inside the zip file `path`."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def damage_payload(path: Path, member: str) -> None:
    """Overwrite 16 bytes of `member`'s deflate stream, keeping the zip directory intact, so opening
    the file works and decompressing the member raises zlib.error (not only a CRC mismatch): the
    first of a fixed series of positions in the stream that does so is used."""
    start, size = payload_offset(path, member)
    original = path.read_bytes()
    for percent in range(5, 90, 5):
        data = bytearray(original)
        at = start + size * percent // 100
        data[at : at + 16] = b"\xff" * 16
        path.write_bytes(bytes(data))
        with zipfile.ZipFile(path) as archive:  # the directory still reads
            assert member in archive.namelist()
            try:
                archive.read(member)
            except zlib.error:
                return
            except zipfile.BadZipFile:
                continue
    path.write_bytes(original)
    raise AssertionError(f"{path}: no damage to {member} gave zlib.error")


def truncate(path: Path) -> None:
    """Keep the first half of the file, as a copy cut short or a full disk would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def smooth_episode(t: int = 60, action_size: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """An episode whose frames compress like real ones (smooth gradients, not noise), so its
    obs member is deflated rather than stored and a damaged payload fails to decompress."""
    rng = np.random.default_rng(seed)
    ramp = np.arange(64, dtype=np.int64)
    frames = (ramp[None, :, None, None] + ramp[None, None, :, None] + np.arange(3)[None, None, None]
              + 5 * np.arange(t)[:, None, None, None] + seed * 17) % 256
    return {"obs": frames.astype(np.uint8),
            "action": rng.uniform(-1, 1, (t, action_size)).astype(np.float32),
            "reward": np.ones(t, np.float32), "done": np.arange(t) == t - 1}


def write_smooth_episodes(folder: Path, count: int, t: int = 60, action_size: int = 1) -> list[Path]:
    """`count` valid episode files s0_000000.npz ... in `folder`."""
    paths = []
    for i in range(count):
        path = folder / f"s0_{i:06d}.npz"
        write_episode(path, **smooth_episode(t, action_size, seed=i))
        paths.append(path)
    return paths
