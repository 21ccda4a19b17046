"""doomrnn extract: see worldmodels/stages/extract.py (run with --help for the flags)."""

from worldmodels.stages.common import run_entry

run_entry(__file__, "doomrnn", "extract")
