"""Average the parameters of several evolved solutions into one.

``python -m estool.average OUT FILE [FILE ...]`` reads each FILE (a trainer log: ``.best.json`` =
[params, reward] or ``.json`` = [params]), averages the parameter vectors element-wise and writes
``[mean_params]`` to OUT (rounded to 4 decimals, like the trainer's ``.json``), atomically.

Every CMA-ES run starts from the zero vector, so runs of one problem with different seeds give
solutions in the same coordinates. For a linear controller a = tanh(W x), the average of K such
solutions is the controller whose pre-activation is the mean of the K controllers'
pre-activations: the K runs' common direction survives and each run's own random drift shrinks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from estool.argtypes import OneLineParser
from estool.logfiles import rounded_params, write_json


class SolutionFileError(ValueError):
    """A solution file cannot be read or does not match the others; one-line message."""


def load_solution(path: str | Path) -> np.ndarray:
    """Parameters (P,) float64 from a trainer log file ([params, reward] or [params])."""
    path = Path(path)
    try:
        params = np.asarray(json.loads(path.read_text())[0], dtype=np.float64)
    except FileNotFoundError:
        raise SolutionFileError(f"{path}: no such file") from None
    except (ValueError, IndexError, TypeError, KeyError) as err:
        raise SolutionFileError(f"{path}: not a trainer log ([params, ...]): {err}") from None
    if params.ndim != 1 or params.size == 0 or not np.all(np.isfinite(params)):
        raise SolutionFileError(f"{path}: parameters must be a non-empty list of finite numbers")
    return params


def average_solutions(paths: list[str | Path]) -> np.ndarray:
    """Element-wise mean (P,) of the parameters of `paths` (all of the same length P)."""
    solutions = [load_solution(p) for p in paths]
    sizes = {s.size for s in solutions}
    if len(sizes) != 1:
        raise SolutionFileError(f"the files hold different numbers of parameters: {sorted(sizes)}")
    return np.mean(solutions, axis=0)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 on a bad file)."""
    parser = OneLineParser(description="average evolved solutions element-wise")
    parser.add_argument("out", help="output file, written as [mean_params]")
    parser.add_argument("files", nargs="+", help="trainer logs (.best.json or .json)")
    args = parser.parse_args(argv)
    try:
        mean = average_solutions(args.files)
    except SolutionFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_json(Path(args.out), [rounded_params(mean)])
    print(f"{args.out}: mean of {len(args.files)} solutions, {mean.size} parameters, "
          f"norm {np.linalg.norm(mean):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
