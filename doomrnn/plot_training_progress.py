"""doomrnn plot_training_progress: see worldmodels/stages/plot.py (run with --help for the flags)."""

from worldmodels.stages.common import run_entry

run_entry(__file__, "doomrnn", "plot")
