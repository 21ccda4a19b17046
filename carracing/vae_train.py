"""carracing vae_train: see worldmodels/stages/vae_train.py (run with --help for the flags)."""

from worldmodels.stages.common import run_entry

run_entry(__file__, "carracing", "vae_train")
