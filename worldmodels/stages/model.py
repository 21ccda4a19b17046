"""model: play a trained controller, in the real game or in the dream.

    python model.py [ENV] render|norender FILE [SEED] [--episodes N] [--record PATH]

ENV is the experiment's real-game name (doomreal, carracing; the default) or its dream name
(doomrnn, carracingrnn). FILE is a controller log (``.best.json`` = [params, reward] or ``.json`` =
[params]); it is played as its recipe says (the ``.recipe.json`` train.py wrote beside it: the
controller mode, z sampled or V's mean, action repeat, and the V and M it was trained with;
``--controller-mode``, ``--z``, ``--action-repeat``, ``--vae`` and ``--rnn`` override).
``norender`` plays --episodes episodes (default 100) and prints each reward, then the mean and
standard deviation and the mean's standard error (with --action-runs, real game: also how long
the agent holds one action; with --report, carracing: the driving report of every episode and
where the points were lost).
``render`` plays one episode and shows it in a window where there is a
display, else writes a video (--record, default videos/ENV.SEED.mp4; .gif works too): real frame,
V's 64x64 input and V's reconstruction side by side (dream: V's decoding of the dreamed z).

Episode i uses seed (1_000_000 + SEED, i): never one that train.py used (its evaluation seeds are
0..popsize-1 and its training seeds are drawn at random below 2**31 from another stream).
The work is done by :mod:`worldmodels.play`.
"""

from __future__ import annotations

from worldmodels.experiments import get_experiment
from worldmodels.play import parse_play_args, play_controller


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of model.py."""
    exp = get_experiment(exp_name)
    play_controller(exp, parse_play_args(exp, argv))
