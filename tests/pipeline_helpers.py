"""Running an experiment's entry scripts in a scratch folder, as a user would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_scripts(experiment: str, parent: Path) -> Path:
    """Copy EXPERIMENT/*.py (entry scripts only, never data or models) to parent/EXPERIMENT."""
    folder = parent / experiment
    folder.mkdir(parents=True)
    for script in (ROOT / experiment).glob("*.py"):
        shutil.copy(script, folder / script.name)
    return folder


def run_script(folder: Path, script: str, *args: str, cwd: Path | None = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run folder/script with this python from `cwd` (default: the folder); on failure (when
    `check`) raise with its output."""
    out = subprocess.run([sys.executable, str(folder / script), *args], capture_output=True,
                         text=True, cwd=cwd or folder, timeout=300)
    if check and out.returncode:
        raise AssertionError(f"{script} {args} failed:\n{out.stdout}\n{out.stderr}")
    return out
