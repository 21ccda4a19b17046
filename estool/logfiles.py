"""The trainer's log files: the one atomic writer of estool, and the formats of the logs, named once
for the trainer, the plots and the tests.

Every file estool writes goes through :func:`atomic_write`: a temporary file beside the target,
renamed over it, so a reader or a killed run never sees half a file.

``.hist.json`` is a JSON list with one row per generation; each row is a list of the values named
by :data:`HIST_COLUMNS`, in that order. ``.hist_best.json`` has one row per evaluation of the mean:
``[generation, elapsed_s, "improvement", x, "curr", x, "prev", x, "best", x]``: the two values of
:data:`HIST_BEST_LEAD`, then each value of :data:`HIST_BEST_LABELS` after its label.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


class WriteError(OSError):
    """Writing ``path`` failed (disk full, file-size limit, ...); ``path`` itself is unchanged."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"could not write {path} ({reason})")
        self.path = path


def atomic_write(path: Path, data: bytes, sync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    On failure the temporary file is removed and :class:`WriteError` names ``path``, which still
    holds its previous content.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise WriteError(path, err.strerror or " ".join(str(err).split())) from None


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as JSON."""
    atomic_write(path, json.dumps(obj).encode())


def portable_paths(obj: Any, start: str | os.PathLike | None = None) -> Any:
    """``obj`` (a settings dict, list or value) with every absolute path string made relative to
    ``start`` (default: the working directory), so that recorded settings name no folder of the
    machine that made them."""
    if isinstance(obj, dict):
        return {key: portable_paths(value, start) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [portable_paths(value, start) for value in obj]
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
    if isinstance(obj, str) and os.path.isabs(obj):
        return os.path.relpath(obj, start or os.getcwd())
    return obj


def remove_temporaries(base: Path) -> None:
    """Delete the temporary files :func:`atomic_write` left beside ``base*`` files (a killed run's)."""
    for stale in base.parent.glob(f".{base.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def rounded_params(params: np.ndarray) -> list[float]:
    """Params as a list of floats rounded to 4 decimals (the reference's .json precision)."""
    return [round(float(v), 4) for v in params]


HIST_SUFFIX = ".hist.json"

HIST_COLUMNS = (
    "generation",  # generations done so far (1, 2, ...)
    "elapsed_s",  # wall-clock seconds of training so far, summed over resumed runs
    "mean",  # the population's fitness (mean reward over its episodes): mean ...
    "min",  # ... minimum ...
    "max",  # ... maximum ...
    "std",  # ... and standard deviation
    "sigma",  # the solver's search step size: RMS of its per-parameter standard deviations
    "mean_steps",  # episode length in steps, mean over the population ...
    "max_steps",  # ... and its maximum
)
HIST = {name: i for i, name in enumerate(HIST_COLUMNS)}  # column index of each name

HIST_BEST_LEAD = ("generation", "elapsed_s")  # the first two values of a .hist_best.json row
HIST_BEST_LABELS = ("improvement", "curr", "prev", "best")  # reward gain, this, previous, best


def hist_row(**values: float) -> list[float]:
    """One ``.hist.json`` row from keyword values, one per name of :data:`HIST_COLUMNS`."""
    if set(values) != set(HIST_COLUMNS):
        raise ValueError(f"a history row needs exactly {', '.join(HIST_COLUMNS)}; got {sorted(values)}")
    return [values[name] for name in HIST_COLUMNS]


def hist_dict(row: list[float]) -> dict[str, float]:
    """A ``.hist.json`` row (9 values) as {column name: value}."""
    return dict(zip(HIST_COLUMNS, row, strict=True))


def hist_best_row(generation: int, elapsed_s: float, improvement: float | None, curr: float,
                  prev: float | None, best: float) -> list[Any]:
    """One ``.hist_best.json`` row: rewards of this evaluation, the previous and the best, and the
    gain over the previous (None at the first evaluation)."""
    row: list[Any] = [generation, elapsed_s]  # HIST_BEST_LEAD
    for label, value in zip(HIST_BEST_LABELS, (improvement, curr, prev, best), strict=True):
        row += [label, value]
    return row


def hist_best_value(row: list[Any], name: str) -> Any:
    """The value called ``name`` (in :data:`HIST_BEST_LEAD` or :data:`HIST_BEST_LABELS`) in a
    ``.hist_best.json`` row."""
    if name in HIST_BEST_LEAD:
        return row[HIST_BEST_LEAD.index(name)]
    return row[row.index(name, len(HIST_BEST_LEAD)) + 1]
