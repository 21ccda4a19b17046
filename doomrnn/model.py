"""doomrnn model: see worldmodels/stages/model.py (run with --help for the flags)."""

from worldmodels.stages.common import run_entry

if __name__ == "__main__":  # not when a worker process imports it
    run_entry(__file__, "doomrnn", "model")
