"""drive: a person drives CarRacing-v3 with the arrow keys (left/right steer, up gas, down brake).

    python env.py [--seed 0]

Needs a display (pygame window); Esc or closing the window quits; a new track starts at the end
of each episode and its score is printed.
"""

from __future__ import annotations

import numpy as np

from worldmodels.envs import make_env
from worldmodels.stages.common import StageError, base_parser, non_negative_int, parse
from worldmodels.video import has_display


def keyboard_action(pygame) -> np.ndarray | None:
    """[steer, gas, brake] from the arrow keys; None when the player quits."""
    for event in pygame.event.get():
        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN
                                         and event.key == pygame.K_ESCAPE):
            return None
    keys = pygame.key.get_pressed()
    steer = float(keys[pygame.K_RIGHT]) - float(keys[pygame.K_LEFT])
    return np.array([steer, float(keys[pygame.K_UP]), 0.8 * float(keys[pygame.K_DOWN])],
                    np.float32)


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of env.py."""
    parser = base_parser("drive the real game with the keyboard", exp_name)
    parser.add_argument("--max-steps", type=non_negative_int, default=0, help="stop after this many steps")
    args, exp, _ = parse(parser, argv, exp_name)
    if not has_display():
        raise StageError("driving needs a display (DISPLAY is not set); to watch a controller "
                         "instead: model.py render FILE --record drive.mp4")
    import pygame

    env = make_env(exp, render_mode="human")
    env.reset(seed=args.seed)
    total, steps, episode = 0.0, 0, 0
    print("arrow keys: steer, gas, brake; Esc quits", flush=True)
    while not args.max_steps or steps < args.max_steps:
        action = keyboard_action(pygame)
        if action is None:
            break
        _, reward, terminated, truncated, _ = env.step(action)
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            print(f"track {episode}: score {total:.1f}", flush=True)
            env.reset(seed=args.seed + episode + 1)
            total, episode = 0.0, episode + 1
    env.close()
