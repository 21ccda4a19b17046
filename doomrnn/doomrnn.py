"""doomrnn dream: play M's dream with the keyboard (see worldmodels/stages/dream_play.py)."""

from worldmodels.stages.common import run_entry

if __name__ == "__main__":  # not when a worker process imports it
    run_entry(__file__, "doomrnn", "dream_play")
