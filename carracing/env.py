"""carracing env: see worldmodels/stages/drive.py (run with --help for the flags)."""

from worldmodels.stages.common import run_entry

run_entry(__file__, "carracing", "drive")
