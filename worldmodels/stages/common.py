"""What every stage shares: entry-script plumbing, the common flags, settings files, errors."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from pathlib import Path

from estool.argtypes import OneLineParser, non_negative_int, positive_int
from estool.logfiles import portable_paths
from worldmodels.data import DataFileError
from worldmodels.experiments import PRESET_NAMES, Experiment, Preset, get_experiment
from worldmodels.fileio import FileWriteError, atomic_write_text, file_digest
from worldmodels.loading import use_experiment_folder
from worldmodels.weights import ModelFileError, read_config

__all__ = ["OneLineParser", "StageError", "already_trained", "base_parser",
           "existing_output_config", "non_negative_int", "parse", "positive_int", "run_entry",
           "write_settings"]


class StageError(RuntimeError):
    """A stage cannot go on; the message is one line for the user (no traceback)."""


def run_entry(script: str, exp_name: str, stage: str) -> None:
    """Run `worldmodels.stages.<stage>.main` for `exp_name` from an experiment folder's script.

    The working directory becomes the script's folder, so relative data paths (record/, log/, ...)
    mean the same wherever the script is started from; file arguments (with a folder or a suffix)
    that exist relative to the caller's directory are made absolute first. Known user errors end
    in one line on stderr and exit status 2; so does a failed write (disk full, file-size limit),
    which leaves every file written before intact, so the same command resumes.
    """
    argv = [_absolute_if_exists(a) for a in sys.argv[1:]]
    sys.argv = [str(Path(script).resolve()), *argv]  # what estool re-runs under mpiexec
    os.chdir(Path(script).resolve().parent)
    use_experiment_folder(exp_name, Path.cwd())
    module = importlib.import_module(f"worldmodels.stages.{stage}")
    try:
        module.main(exp_name, argv)
    except (StageError, ModelFileError, DataFileError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    except FileWriteError as err:
        print(f"error: {err}; run the same command again to resume once there is room",
              file=sys.stderr, flush=True)
        sys.exit(2)


def _absolute_if_exists(arg: str) -> str:
    """An existing path written with a folder or a suffix (not a bare word like 'doomrnn')."""
    looks_like_path = os.sep in arg or "." in Path(arg).name
    if arg.startswith("-") or not looks_like_path or not Path(arg).exists():
        return arg
    return str(Path(arg).resolve())


def base_parser(description: str, exp_name: str) -> argparse.ArgumentParser:
    """A parser with the flags every stage has: --preset and --seed."""
    parser = OneLineParser(
        description=f"{exp_name}: {description}",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", choices=PRESET_NAMES, default="paper",
                        help="scale of the run (see worldmodels/experiments.py)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None,
          exp_name: str) -> tuple[argparse.Namespace, Experiment, Preset]:
    """Parse `argv`; returns (args, experiment, preset). Flags left at None take preset values."""
    args = parser.parse_args(argv)
    exp = get_experiment(exp_name)
    preset = exp.preset(args.preset)
    for key, value in vars(args).items():
        if value is None and hasattr(preset, key):
            setattr(args, key, getattr(preset, key))
    return args, exp, preset


def existing_output_config(path: Path) -> dict | None:
    """The configuration of the weight file a stage is about to write, None when there is none yet.

    A damaged one (truncated, corrupt) is refused with one line rather than silently replaced, so
    nothing already written is overwritten without the user knowing.
    """
    if not path.is_file():
        return None
    try:
        return read_config(path)
    except ModelFileError as err:
        raise StageError(f"{err}; remove it (or pass another --out) to train it again") from None


def require_weight_file(path: str, model: str, made_by: str, flag: str = "") -> None:
    """One-line StageError when the `model` ("V" or "M") weight file `path`, given to `flag` if
    named, does not exist."""
    if not Path(path).is_file():
        given = f" for {flag}" if flag else ""
        raise StageError(f"{path}: no such {model} weight file{given} (made by: {made_by})")


def init_digest(path: str | None, model: str, made_by: str) -> str | None:
    """Digest of the `--init` weight file `path` (None without one), to be stored with the output
    so that a run from another file is not taken as already done; one line if it is missing."""
    if not path:
        return None
    require_weight_file(path, model, made_by, "--init")
    return file_digest(path)


def already_trained(out: Path, checkpoint: Path, **expected: object) -> bool:
    """True when the weight file `out` exists, its configuration holds every `expected` key at the
    given value (e.g. epochs=10), and no run is in progress (no `checkpoint` file); a damaged `out`
    is refused with one line (StageError)."""
    if checkpoint.exists():
        return False
    config = existing_output_config(out)
    return config is not None and all(config.get(k) == v for k, v in expected.items())


def write_settings(path: str | os.PathLike, exp: Experiment, args: argparse.Namespace) -> None:
    """Record the settings a stage ran with, as JSON beside its outputs (paths relative to the
    working directory: the experiment's folder)."""
    exp_fields = {f.name: getattr(exp, f.name) for f in dataclasses.fields(exp) if f.name != "presets"}
    recorded = portable_paths({"experiment": exp_fields, "args": vars(args)})
    text = json.dumps(recorded, indent=1, default=str)
    atomic_write_text(path, text + "\n")
