"""extract: record random-policy episodes from the real environment into record/*.npz.

Each kept episode is one file ``record/s{seed}_{attempt:06d}.npz``; attempt k of a run seeded s
always plays the same episode (environment seed and policy from (s, k)), so re-running the same
command counts what exists and continues to the requested number. Several workers use distinct seeds.

Policies:
- ``held_uniform`` (doomrnn's reference): a ~ U(-1, 1) per action dimension, held for 1-10 steps.
- ``uniform``: a ~ U(-1, 1) drawn every step.
- ``cauchy_controller`` (carracing's reference): the full agent with V, M and C weights drawn from a
  Cauchy distribution times a scale s ~ U(0, 0.01), all redrawn every episode.
- ``controller`` (iterative training): the trained agent, C from ``--controller FILE`` played as
  its recipe says (the V and M, controller mode, z and action repeat it was trained with), with
  Gaussian action noise of scale sigma ~ U(0, ``--noise``) drawn per episode. Its episodes show M
  what happens where the controller goes, so a retrained M stops rewarding the dream's exploits.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from estool.runlock import LockBusyError, RunLock
from worldmodels.agent import Agent
from worldmodels.controller import Controller, controller_spec
from worldmodels.data import list_npz, write_episode
from worldmodels.envs import env_action, make_env
from worldmodels.envs.repeat import frames_taken
from worldmodels.experiments import Experiment
from worldmodels.loading import (
    TrainedController,
    add_recipe_arguments,
    load_trained_controller,
    recipe_overrides,
)
from worldmodels.mdnrnn import MDNRNN
from worldmodels.seeds import episode_seed
from worldmodels.stages.common import StageError, base_parser, parse, positive_int, write_settings
from worldmodels.vae import VAE
from worldmodels.weights import expected_shapes

POLICIES = ("held_uniform", "uniform", "cauchy_controller", "controller")


class HeldUniformPolicy:
    """a ~ U(-1, 1)^A held for `repeat` ~ randint(1, max_hold) steps, then redrawn (doomrnn's
    reference: max_hold 10)."""

    def __init__(self, exp: Experiment, rng: np.random.Generator, hold: bool = True,
                 max_hold: int = 10):
        self.size, self.rng, self.hold, self.max_hold = exp.action_size, rng, hold, max_hold
        self.left, self.action = 0, np.zeros(exp.action_size, np.float32)

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Raw action (A,) for this frame (the frame is ignored)."""
        if self.left <= 0:
            self.action = self.rng.uniform(-1.0, 1.0, self.size).astype(np.float32)
            self.left = int(self.rng.integers(1, self.max_hold + 1)) if self.hold else 1
        self.left -= 1
        return self.action


class CauchyControllerPolicy:
    """The full agent with every V, M and C weight ~ Cauchy * s, s ~ U(0, 0.01) (carracing's
    reference random policy): a smooth, state-dependent random driver."""

    def __init__(self, exp: Experiment, rng: np.random.Generator):
        scale = rng.uniform(0.0, 0.01)

        def cauchy(kind: str) -> dict[str, np.ndarray]:
            return {k: (rng.standard_cauchy(s) * scale).astype(np.float32)
                    for k, s in expected_shapes(kind, exp).items()}

        spec = controller_spec(exp)
        controller = Controller(spec, rng.standard_cauchy(spec.num_params) * scale)
        self.agent = Agent(exp, VAE(cauchy("vae"), exp.z_size), MDNRNN(cauchy("rnn"), exp),
                           controller, rng)
        self.agent.reset(np.zeros(1, np.int64))

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Raw action (A,) in [-1, 1] for this frame.

        Heavy-tailed weights can overflow float32; such steps act 0 and M's state restarts, so the
        episode goes on rather than feeding NaN to the environment.
        """
        with np.errstate(all="ignore"):
            action = self.agent.act(frame[None], np.zeros(1, np.int64))[0]
        if not (np.all(np.isfinite(self.agent.h)) and np.all(np.isfinite(self.agent.c))):
            self.agent.h[:] = 0.0
            self.agent.c[:] = 0.0
        return np.clip(np.nan_to_num(action, nan=0.0), -1.0, 1.0)


class ControllerPolicy:
    """A trained agent (V, M, controller parameters, z mode as in Agent) acting with Gaussian
    noise of scale sigma ~ U(0, max_noise), drawn once per episode."""

    def __init__(self, exp: Experiment, rng: np.random.Generator, vae: VAE, rnn: MDNRNN,
                 controller: Controller, z_mode: str, max_noise: float):
        self.agent = Agent(exp, vae, rnn, controller, rng, z_mode)
        self.agent.reset(np.zeros(1, np.int64))
        self.rng, self.sigma, self.size = rng, rng.uniform(0.0, max_noise), exp.action_size

    def act(self, frame: np.ndarray) -> np.ndarray:
        """Raw action (A,) in [-1, 1] for this frame."""
        noise = self.sigma * self.rng.standard_normal((1, self.size))
        return self.agent.act(frame[None], np.zeros(1, np.int64), noise)[0]


def make_policy(name: str, exp: Experiment, rng: np.random.Generator,
                trained: tuple[TrainedController, VAE, MDNRNN] | None = None,
                max_noise: float = 0.0, max_hold: int = 10):
    """The policy called `name` (one of POLICIES) for one episode: for ``controller``, `trained`
    (the controller with its loaded V and M) played with action noise up to `max_noise`;
    `max_hold` is the longest hold of ``held_uniform``."""
    if name == "cauchy_controller":
        return CauchyControllerPolicy(exp, rng)
    if name == "controller":
        controller, vae, rnn = trained
        return ControllerPolicy(exp, rng, vae, rnn, controller.controller(),
                                controller.recipe.z_mode, max_noise)
    return HeldUniformPolicy(exp, rng, hold=name == "held_uniform", max_hold=max_hold)


def play_episode(exp: Experiment, env, policy, seed: int, max_frames: int) -> dict[str, np.ndarray]:
    """One episode: returns obs (T, 64, 64, 3) uint8, action (T, A), reward (T,), done (T,).

    done[t] is True only when the environment terminated (death, lap finished) after action t;
    hitting the step cap is not a done.
    """
    frame, _ = env.reset(seed=seed)
    obs, actions, rewards, dones = [], [], [], []
    steps = 0
    while steps < max_frames:
        raw = policy.act(frame)
        obs.append(frame)
        actions.append(raw)
        frame, reward, terminated, truncated, info = env.step(env_action(exp, raw))
        rewards.append(reward)
        dones.append(terminated)
        steps += frames_taken(info)
        if terminated or truncated:
            break
    return {"obs": np.stack(obs), "action": np.stack(actions), "reward": np.asarray(rewards),
            "done": np.asarray(dones)}


def existing_attempts(record: Path, seed: int) -> list[int]:
    """Attempt numbers of the episodes already recorded by the run seeded `seed`."""
    pattern = re.compile(rf"s{seed}_(\d+)\.npz$")
    return [int(m.group(1)) for p in list_npz(record) if (m := pattern.match(p.name))]


def lock_seed(record: Path, seed: int) -> RunLock:
    """Hold ``record/.lock.s{seed}`` for this run: workers with other seeds share the
    folder, a second run with the same seed is refused in one line (StageError) naming the first."""
    lock = RunLock(record, f".lock.s{seed}", what=f"{record} (seed {seed})",
                   instead="give this run another --seed", label="extract")
    try:
        return lock.acquire()
    except LockBusyError as err:
        raise StageError(str(err)) from None


def main(exp_name: str, argv: list[str] | None = None) -> None:
    """Command-line entry of extract.py."""
    parser = base_parser("record random-policy episodes into record/", exp_name)
    parser.add_argument("--episodes", type=positive_int, default=None,
                        help="episodes this run must have recorded (default: the preset's total)")
    parser.add_argument("--policy", choices=POLICIES, default=None,
                        help="random policy (default: the experiment's reference policy)")
    parser.add_argument("--max-frames", type=positive_int, default=None,
                        help="cap on episode length")
    parser.add_argument("--record", default=None, help="output folder (default: record)")
    parser.add_argument("--max-hold", type=positive_int, default=10,
                        help="held_uniform: hold each action for 1..N steps (the reference: 10)")
    parser.add_argument("--controller", default=None,
                        help="controller file for --policy controller (iterative training)")
    add_recipe_arguments(parser, training=False)  # --policy controller: how it plays
    parser.add_argument("--noise", type=float, default=0.5,
                        help="--policy controller: action noise scale sigma ~ U(0, NOISE) per episode")
    args, exp, preset = parse(parser, argv, exp_name)
    args.episodes = args.episodes if args.episodes is not None else preset.extract_episodes
    args.policy = args.policy or exp.extract_policy
    if args.policy == "controller" and args.controller is None:
        raise StageError("--policy controller needs --controller FILE (a train.py log, e.g. "
                         "log/doomrnn.cma.16.64.best.json)")
    args.max_frames = args.max_frames or preset.max_frames or exp.max_frames
    record = Path(args.record or exp.record_dir)
    record.mkdir(parents=True, exist_ok=True)
    lock = lock_seed(record, args.seed)
    write_settings(record / f"settings.s{args.seed}.json", exp, args)

    done = existing_attempts(record, args.seed)
    attempt = max(done, default=-1) + 1
    kept, frames, dropped = len(done), 0, 0
    if kept >= args.episodes:
        print(f"{record}: already {kept} episodes from seed {args.seed}; nothing to do", flush=True)
        lock.release()
        return
    trained, repeat = None, args.action_repeat or 1  # a random policy acts every K steps too
    if args.policy == "controller":
        controller = load_trained_controller(exp, args.controller, **recipe_overrides(args))
        trained, repeat = (controller, *controller.load_models()), controller.recipe.action_repeat
    env = make_env(exp, action_repeat=repeat)
    start = time.perf_counter()
    bar = tqdm(total=args.episodes, initial=kept, desc=f"extract {exp.name} seed {args.seed}",
               unit="ep", file=sys.stdout, mininterval=5)
    while kept < args.episodes:
        rng = np.random.default_rng([args.seed, attempt])
        policy = make_policy(args.policy, exp, rng, trained, args.noise, args.max_hold)
        episode = play_episode(exp, env, policy, episode_seed(args.seed, attempt), args.max_frames)
        if len(episode["obs"]) > exp.min_episode_frames:
            write_episode(record / f"s{args.seed}_{attempt:06d}.npz", **episode)
            kept += 1
            frames += len(episode["obs"])
            bar.update(1)
        else:
            dropped += 1
        attempt += 1
    bar.close()
    env.close()
    lock.release()
    elapsed = time.perf_counter() - start
    print(f"{record}: wrote {kept - len(done)} episodes ({frames} frames, "
          f"{frames / max(elapsed, 1e-9):.0f} frames/s), dropped {dropped} of "
          f"<= {exp.min_episode_frames} frames; {kept} in total for seed {args.seed}", flush=True)
