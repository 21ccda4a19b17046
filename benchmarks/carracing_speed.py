"""CarRacing-v3 speed, measured in one run: gymnasium's renderer, ours, the physics alone, the
whole agent on top, and V's encoder against numpy's matrix-multiply peak.

Sections (BLAS runs one thread, as in a training worker that owns one core):
- env: the same --steps random actions on the same tracks through gymnasium's CarRacing-v3, ours
  (worldmodels/CarRacing-v3, byte-identical kept frames) and ours with rendering switched off
  (Box2D physics, contacts and rewards only: the limit of any renderer); steps/s and ratios.
- agent: V + M + C acting (freshly initialised weights: the same cost as trained ones) on 1 env and
  on --envs envs in lockstep, with gymnasium's renderer and with ours, as benchmarks/
  agent_overhead.py measures it.
- encoder: V's numpy encoder, frames/s at batch 1, 8 and 64, as a fraction of the float32
  matrix-multiply peak measured here (about 30 MFLOP per frame).
- with --generation: one CMA-ES generation at the `small` preset's size on real tracks
  (population 16 x 4 episodes, split over 2 worker processes, 8 envs each in lockstep), with each
  renderer.
- with --tracks N: a model.py-style evaluation on N real tracks (8 envs in lockstep, one process),
  with each renderer.

    python benchmarks/carracing_speed.py [--steps 1000] [--envs 8] [--generation] [--tracks 100]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads BLAS

import multiprocessing  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from agent_overhead import rate as agent_rate  # noqa: E402 - the script beside this one

from worldmodels.agent import Agent, run_episodes  # noqa: E402
from worldmodels.controller import Controller, controller_spec  # noqa: E402
from worldmodels.envs import make_env  # noqa: E402
from worldmodels.envs.carracing import RENDERERS  # noqa: E402
from worldmodels.experiments import CARRACING  # noqa: E402
from worldmodels.mdnrnn import MDNRNN  # noqa: E402
from worldmodels.seeds import episode_seed  # noqa: E402
from worldmodels.vae import VAE, vae_weight_shapes  # noqa: E402
from worldmodels.weights import init_weights  # noqa: E402

EXP = CARRACING


# name -> (env id, whether the frames are drawn). "physics only" is ours with drawing switched
# off (render_state, as action repeat steps the frames nobody looks at): the same physics,
# contacts, rewards and ends, and the limit of any renderer.
ENV_SPECS = {"gymnasium": ("CarRacing-v3", True), "ours": (RENDERERS["fast"], True),
             "physics only": (RENDERERS["fast"], False)}


def env_rate(env_spec: tuple[str, bool], actions: np.ndarray, episodes: int) -> float:
    """Steps/s of the env `env_spec` (an ENV_SPECS value) playing `episodes` tracks (seeds 0..) with
    the same actions (T, 3)."""
    env_id, draw = env_spec
    env = gym.make(env_id, disable_env_checker=True)  # the physics-only env returns no frames
    if not draw:
        env.unwrapped.render_state = False
    steps, elapsed = 0, 0.0
    for seed in range(episodes):
        env.reset(seed=seed)
        start = time.perf_counter()
        for action in actions:
            steps += 1
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        elapsed += time.perf_counter() - start
    env.close()
    return steps / elapsed


def new_agent(rng: np.random.Generator) -> Agent:
    """V + M + C with freshly initialised weights (the same cost per step as trained ones)."""
    spec = controller_spec(EXP)
    return Agent(EXP, VAE(init_weights("vae", EXP, rng), EXP.z_size),
                 MDNRNN(init_weights("rnn", EXP, rng), EXP),
                 Controller(spec, rng.standard_normal(spec.num_params) * 0.1), rng)


def best_rate(run, seconds: float) -> float:
    """The best calls/s of `run()` over repeated calls for about `seconds`."""
    best, deadline = 0.0, time.perf_counter() + seconds
    run()
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        best = max(best, 1.0 / (time.perf_counter() - start))
    return best


def encoder_flops() -> float:
    """Floating-point operations of V's encoder for one 64x64 frame (convolutions and mu/logvar)."""
    flops, size = 0.0, 64
    for name, shape in vae_weight_shapes(EXP.z_size).items():
        if name.startswith("enc_conv") and name.endswith("kernel"):
            k, _, c, f = shape
            size = (size - k) // 2 + 1
            flops += 2.0 * size * size * k * k * c * f
        elif name.startswith("enc_fc") and name.endswith("kernel"):
            flops += 2.0 * shape[0] * shape[1]
    return flops


def encoder_section(rng: np.random.Generator) -> None:
    """Print V's encode frames/s at batch 1, 8, 64 and the fraction of the matmul peak."""
    a, b = (rng.standard_normal((1024, 1024)).astype(np.float32) for _ in range(2))
    peak = 2 * 1024**3 * best_rate(lambda: a @ b, 3.0) / 1e9
    vae = VAE(init_weights("vae", EXP, rng), EXP.z_size)
    flops = encoder_flops()
    print(f"V encoder ({flops / 1e6:.1f} MFLOP per frame); float32 matmul peak {peak:.1f} GFLOP/s "
          "(1024 x 1024 x 1024, 1 thread)")
    for batch in (1, 8, 64):
        frames = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
        fps = batch * best_rate(lambda f=frames: vae.encode(f), 3.0)
        print(f"  batch {batch:2d}: {fps:7.0f} frames/s, {fps * flops / 1e9:6.1f} GFLOP/s = "
              f"{fps * flops / 1e9 / peak:.2f} of peak")


def evaluate_share(args: tuple[str, int, np.ndarray, list[int], int]) -> float:
    """Worker of one generation: plays its candidates' episodes; returns the seconds it took."""
    renderer, seed, params, seeds, num_episode = args
    os.sched_setaffinity(0, {seed % (os.cpu_count() or 1)})
    rng = np.random.default_rng(seed)
    agent = new_agent(rng)
    agent.controller = Controller(controller_spec(EXP), params)
    envs = [make_env(EXP, renderer=renderer) for _ in range(8)]
    candidate = np.repeat(np.arange(len(params)), num_episode)
    start = time.perf_counter()
    for first in range(0, len(candidate), len(envs)):
        part = candidate[first:first + len(envs)]
        run_episodes(EXP, agent, envs[:len(part)], seeds[first:first + len(part)], part)
    return time.perf_counter() - start


def generation_section(rng: np.random.Generator) -> None:
    """Print the wall time of one `small`-preset generation on real tracks with each renderer."""
    preset = EXP.preset("small")
    spec = controller_spec(EXP)
    params = rng.standard_normal((preset.population, spec.num_params)) * 0.1
    seeds = [episode_seed(i, j) for i in range(preset.population) for j in range(preset.num_episode)]
    half = preset.population // 2
    print(f"one generation, small preset: {preset.population} candidates x {preset.num_episode} "
          "episodes on real tracks, 2 worker processes")
    times = {}
    for renderer in RENDERERS:
        shares = [(renderer, w, params[w * half:(w + 1) * half],
                   seeds[w * half * preset.num_episode:(w + 1) * half * preset.num_episode],
                   preset.num_episode) for w in range(2)]
        start = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            pool.map(evaluate_share, shares)
        times[renderer] = time.perf_counter() - start
        print(f"  {renderer:9s} renderer: {times[renderer]:6.1f} s")
    print(f"  ratio: {times['gymnasium'] / times['fast']:.2f}x less wall time")


def play_tracks(renderer: str, seeds: list[int], worker: int = 0) -> int:
    """Plays one episode per seed, 8 envs in lockstep, as model.py norender does; pins itself to
    core `worker` when it is a pool worker. Returns the steps played."""
    if multiprocessing.parent_process() is not None:
        os.sched_setaffinity(0, {worker % (os.cpu_count() or 1)})
    agent = new_agent(np.random.default_rng(worker))
    envs = [make_env(EXP, renderer=renderer) for _ in range(8)]
    steps = 0
    for first in range(0, len(seeds), 8):
        part = seeds[first:first + 8]
        _, n = run_episodes(EXP, agent, envs[:len(part)], part, np.zeros(len(part), np.int64))
        steps += int(n.sum())
    return steps


def tracks_section(tracks: int) -> None:
    """Print the wall time of a model.py-style evaluation on `tracks` tracks: one process with each
    renderer (taking turns every 8 tracks, so that both meet the same machine load), then ours
    shared by 2 pinned worker processes (model.py --workers 2)."""
    seeds = [episode_seed(1_000_000, i) for i in range(tracks)]
    times, steps = dict.fromkeys(RENDERERS, 0.0), dict.fromkeys(RENDERERS, 0)
    for first in range(0, tracks, 8):
        for renderer in RENDERERS:
            start = time.perf_counter()
            steps[renderer] += play_tracks(renderer, seeds[first:first + 8])
            times[renderer] += time.perf_counter() - start
    start = time.perf_counter()
    shares = [("fast", [seeds[i] for i in range(tracks) if (i // 8) % 2 == w], w) for w in range(2)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        two_steps = sum(pool.starmap(play_tracks, shares))
    two = time.perf_counter() - start
    print(f"evaluation on {tracks} real tracks, 8 envs in lockstep")
    for renderer in RENDERERS:
        print(f"  {renderer:9s} renderer, 1 process  : {times[renderer]:7.1f} s ({steps[renderer]} "
              f"steps, {steps[renderer] / times[renderer]:.1f} steps/s)")
    print(f"  fast      renderer, 2 processes: {two:7.1f} s ({two_steps} steps, "
          f"{two_steps / two:.1f} steps/s)")
    print(f"  gymnasium, 1 process / ours: {times['gymnasium'] / times['fast']:.2f}x (1 process), "
          f"{times['gymnasium'] / two:.2f}x (2 processes)")


def main() -> None:
    """Print every section's figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per track in the env section")
    parser.add_argument("--episodes", type=int, default=3, help="tracks in the env section")
    parser.add_argument("--envs", type=int, default=8, help="lockstep envs in the agent section")
    parser.add_argument("--generation", action="store_true", help="time one small-preset generation")
    parser.add_argument("--tracks", type=int, default=0, help="time an evaluation on this many tracks")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    actions = rng.uniform([-1, 0, 0], [1, 1, 1], (args.steps, 3)).astype(np.float32)
    rates = {name: env_rate(spec, actions, args.episodes) for name, spec in ENV_SPECS.items()}
    print(f"CarRacing-v3, the same {args.steps} random actions on {args.episodes} tracks, 1 process")
    for name, value in rates.items():
        print(f"  {name:12s}: {value:8.1f} steps/s")
    print(f"  ours / gymnasium: {rates['ours'] / rates['gymnasium']:.2f}x; ours / physics only: "
          f"{rates['ours'] / rates['physics only']:.3f}")

    agent = new_agent(rng)
    print(f"whole agent (V + M + C) acting, {args.steps} steps per env")
    for n in (1, args.envs):
        theirs, _ = agent_rate(EXP, n, args.steps, agent, renderer="gymnasium")
        ours, share = agent_rate(EXP, n, args.steps, agent, renderer="fast")
        print(f"  {n:2d} env(s): gymnasium {theirs:7.1f} steps/s, ours {ours:7.1f} steps/s "
              f"({ours / theirs:.2f}x); with ours the agent takes {share:.1%} of the time")
    encoder_section(rng)
    if args.generation:
        generation_section(rng)
    if args.tracks:
        tracks_section(args.tracks)


if __name__ == "__main__":
    main()
