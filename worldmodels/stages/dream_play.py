"""dream_play: a person plays M's dream with the keyboard (left / right / nothing), decoded by V.

    python doomrnn.py [--temperature 1.25] [--death sample] [--seed 0]

Needs a display. Left and right arrow keys give M the raw actions -1 and +1, no key 0; a new dream
starts after each death; Esc or closing the window quits.
"""

from __future__ import annotations

import numpy as np

from worldmodels.controller import controller_spec
from worldmodels.dream import DreamEnv, add_dream_arguments, dream_settings
from worldmodels.loading import load_dream, load_vae
from worldmodels.stages.common import StageError, base_parser, non_negative_int, parse, positive_int
from worldmodels.video import has_display


def keyboard_action(pygame) -> float | None:
    """-1 (left), +1 (right) or 0 from the arrow keys; None when the player quits."""
    for event in pygame.event.get():
        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN
                                         and event.key == pygame.K_ESCAPE):
            return None
    keys = pygame.key.get_pressed()
    return float(keys[pygame.K_RIGHT]) - float(keys[pygame.K_LEFT])


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of the dream-playing script."""
    parser = base_parser("play the dream with the keyboard", exp_name)
    add_dream_arguments(parser)
    parser.add_argument("--max-steps", type=non_negative_int, default=0, help="stop after this many steps")
    parser.add_argument("--fps", type=positive_int, default=20)
    args, exp, _ = parse(parser, argv, exp_name)
    try:
        settings = dream_settings(args, exp.temperature)
    except ValueError as err:
        parser.error(str(err))
    if not has_display():
        raise StageError("playing the dream needs a display (DISPLAY is not set); to watch a "
                         "controller instead: model.py doomrnn render FILE --record dream.mp4")
    import pygame

    env = DreamEnv(load_dream(exp, None, None, settings), controller_spec(exp),
                   vae=load_vae(exp, None), render_mode="human")
    env.reset(seed=args.seed)
    env.render()
    clock, total, steps, episode = pygame.time.Clock(), 0.0, 0, 0
    print("arrow keys: left / right; Esc quits", flush=True)
    while not args.max_steps or steps < args.max_steps:
        move = keyboard_action(pygame)
        if move is None:
            break
        _, reward, terminated, truncated, _ = env.step(np.full(exp.action_size, move, np.float32))
        total += reward
        steps += 1
        if terminated or truncated:
            print(f"dream {episode}: survived {total:.0f} steps", flush=True)
            env.reset(seed=args.seed + episode + 1)
            total, episode = 0.0, episode + 1
        clock.tick(args.fps)
    env.close()
