"""Cost of the agent (V encode + M step + C) on top of the real environment, measured in one run.

Prints the raw environment's steps/s (random actions), the same environment driven by the full
agent (numpy twins, freshly initialised weights: same cost as trained ones), one environment and
--envs environments stepped in lockstep with one batched agent call per step, and the share of
the agent-driven run's time spent in the agent's act (timed directly: an agent drives elsewhere
than random actions do, and what the renderer draws depends on where the car is). BLAS runs one
thread, as in a training worker that owns one core.

    python benchmarks/agent_overhead.py [--experiment carracing] [--steps 600] [--envs 8]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import numpy as np  # noqa: E402

from worldmodels.agent import Agent  # noqa: E402
from worldmodels.controller import Controller, controller_spec  # noqa: E402
from worldmodels.envs import env_action, make_env  # noqa: E402
from worldmodels.experiments import get_experiment  # noqa: E402
from worldmodels.mdnrnn import MDNRNN  # noqa: E402
from worldmodels.vae import VAE  # noqa: E402
from worldmodels.weights import init_weights  # noqa: E402


def rate(exp, n_envs: int, steps: int, agent: Agent | None, **env_kwargs) -> tuple[float, float]:
    """(environment steps/s, share of the time spent in the agent's act) over `steps` lockstep
    steps of `n_envs` envs made with `env_kwargs` (agent None: random actions)."""
    envs = [make_env(exp, **env_kwargs) for _ in range(n_envs)]
    frames = np.stack([env.reset(seed=i)[0] for i, env in enumerate(envs)])
    rows = np.arange(n_envs)
    if agent is not None:
        agent.reset(np.zeros(n_envs, np.int64))
    acting = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        if agent is None:
            actions = [env.action_space.sample() for env in envs]
        else:
            tick = time.perf_counter()
            actions = env_action(exp, agent.act(frames, rows))
            acting += time.perf_counter() - tick
        for i, (env, action) in enumerate(zip(envs, actions, strict=True)):
            frame, _, terminated, truncated, _ = env.step(action)
            frames[i] = env.reset()[0] if terminated or truncated else frame
    elapsed = time.perf_counter() - start
    for env in envs:
        env.close()
    return n_envs * steps / elapsed, acting / elapsed


def main() -> None:
    """Print raw and agent-driven steps/s and the agent's overhead."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="carracing")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--envs", type=int, default=8)
    args = parser.parse_args()
    exp = get_experiment(args.experiment)
    rng = np.random.default_rng(0)
    spec = controller_spec(exp)
    agent = Agent(exp, VAE(init_weights("vae", exp, rng), exp.z_size),
                  MDNRNN(init_weights("rnn", exp, rng), exp),
                  Controller(spec, rng.standard_normal(spec.num_params) * 0.1), rng)
    print(f"{exp.env_id} ({make_env(exp).unwrapped.spec.id}): {args.steps} steps per environment")
    for n in (1, args.envs):  # every env plays --steps steps: past CarRacing's zoomed-out start
        raw, _ = rate(exp, n, args.steps, None)
        driven, share = rate(exp, n, args.steps, agent)
        print(f"{n:2d} env(s): raw {raw:7.1f} steps/s (random actions), with agent {driven:7.1f} "
              f"steps/s, of which the agent's act takes {share:6.1%}")


if __name__ == "__main__":
    main()
