"""dream_model: watch a controller drive inside M's dream, decoded by V (window or video).

    python dream_model.py FILE [SEED] [--record dream.mp4] [--temperature 0.7]

The reference's CarRacing dream for viewing: temperature 0.7. Same as
``model.py DREAM render FILE`` with that default (every model.py flag works).
"""

from __future__ import annotations

from worldmodels.experiments import get_experiment
from worldmodels.play import parse_play_args, play_controller

VIEW_TEMPERATURE = 0.7


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of dream_model.py."""
    exp = get_experiment(exp_name)
    words = [exp.dream_env_name, "render", *(argv or [])]
    play_controller(exp, parse_play_args(exp, words, default_temperature=VIEW_TEMPERATURE))
