"""Dream rollout speed at paper sizes (z 64, LSTM 512, 5 mixtures, controller 1088 -> 1).

Measured in one run:
- batched: population 64 x 16 episodes = 1024 rollouts stepped as one batch (DreamBatch.rollout);
- one at a time: the reference's pattern, each rollout stepped alone (batch of 1), both with our
  numpy twin and with a framework call per step (a compiled Keras/TensorFlow call of M's cell and
  head, as the reference's session.run per step, then numpy sampling);
- achieved GFLOP/s of the batched dream against numpy's own float32 matrix-multiply peak, measured
  here on the same shapes as M's LSTM step.

M's weights are random with the done logit biased so rollouts last about --steps steps.

    python benchmarks/dream_rollout.py [--steps 300] [--single 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from worldmodels.controller import Controller, controller_spec
from worldmodels.dream import DreamBatch, DreamSettings
from worldmodels.experiments import DOOMRNN
from worldmodels.mdnrnn import MDNRNN
from worldmodels.weights import init_weights


def flops_per_step(exp, spec) -> float:
    """Floating-point operations of one rollout step (matrix products only)."""
    lstm = 2 * (exp.rnn_input_size + exp.rnn_size) * 4 * exp.rnn_size
    head = 2 * exp.rnn_size * exp.rnn_output_size
    return float(lstm + head + 2 * spec.num_params)


def matmul_peak(n: int, k: int, m: int, seconds: float = 2.0) -> float:
    """numpy's float32 GFLOP/s on (n, k) @ (k, m), best of repeated calls for `seconds`."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in ((n, k), (k, m)))
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n * k * m / best / 1e9


def keras_one_at_a_time(exp, weights, spec, controller, initial, steps: int,
                        rollouts: int = 2) -> float:
    """Rollout steps/s of one rollout at a time with a TensorFlow call per step (M's cell + head)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from worldmodels.controller import controller_input
    from worldmodels.keras_models import MDNRNN as KerasMDNRNN
    from worldmodels.mdnrnn import sample_with_noise, split_mixture

    model = KerasMDNRNN(exp)
    model.set_weight_dict(weights)
    cell, head = model.lstm.cell, model.mdn

    @tf.function
    def step(x, h, c):
        out, (h2, c2) = cell(x, [h, c])
        return head(out), h2, c2

    rng = np.random.default_rng(1)
    total, start = 0, time.perf_counter()
    for _ in range(rollouts):
        z = initial[0, :1]
        h = c = np.zeros((1, exp.rnn_size), np.float32)
        restart = np.ones((1, 1), np.float32)
        for _ in range(steps):
            a = controller.act_rows(controller_input(spec, z, h, c), np.zeros(1, np.int64))
            out, h, c = (v.numpy() for v in step(np.concatenate([z, a.astype(np.float32),
                                                                 restart], 1), h, c))
            restart = restart * 0
            mix = split_mixture(out, exp)
            z = sample_with_noise(mix, exp.temperature, rng.random((1, exp.z_size), np.float32),
                                  rng.standard_normal((1, exp.z_size), np.float32))
            total += 1
            if mix.done_logit[0] > 0:
                break
    return total / (time.perf_counter() - start)


def main() -> None:
    """Print steps/s batched and one at a time, their ratio, and GFLOP/s against the peak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="cap on rollout length")
    parser.add_argument("--single", type=int, default=8, help="rollouts timed one at a time")
    args = parser.parse_args()
    exp = DOOMRNN.with_overrides(max_frames=args.steps)
    rng = np.random.default_rng(0)
    weights = init_weights("rnn", exp, rng)
    weights["mdn/bias"][-1] = -8.0  # rarely dies: most rollouts run to the cap
    rnn = MDNRNN(weights, exp)
    initial = rng.standard_normal((2, 100, exp.z_size)).astype(np.float32)
    spec = controller_spec(exp)
    controller = Controller(spec, rng.standard_normal((64, spec.num_params)) * 0.1)
    dream = DreamBatch(exp, rnn, initial[0], initial[1], DreamSettings(exp.temperature))
    candidate = np.repeat(np.arange(64), 16)
    seeds = list(range(len(candidate)))

    start = time.perf_counter()
    _, steps = dream.rollout(controller, candidate, seeds)
    batched = steps.sum() / (time.perf_counter() - start)

    start, single_steps = time.perf_counter(), 0
    for i in range(args.single):
        _, s = dream.rollout(controller, candidate[i : i + 1], seeds[i : i + 1])
        single_steps += int(s.sum())
    single = single_steps / (time.perf_counter() - start)

    keras_single = keras_one_at_a_time(exp, weights, spec, controller, initial, args.steps)
    flops = flops_per_step(exp, spec)
    peak = matmul_peak(1024, exp.rnn_input_size + exp.rnn_size, 4 * exp.rnn_size)
    achieved = batched * flops / 1e9
    print(f"dream at paper sizes: 1024 rollouts (64 x 16), mean length {steps.mean():.0f} steps, "
          f"{flops / 1e6:.2f} MFLOP per rollout step")
    print(f"batched        {batched:12.0f} rollout steps/s")
    print(f"one at a time  {single:12.0f} rollout steps/s   ({args.single} rollouts)")
    print(f"ratio          {batched / single:12.1f} x")
    print(f"one at a time, framework call per step {keras_single:8.0f} rollout steps/s")
    print(f"ratio          {batched / keras_single:12.1f} x")
    print(f"achieved       {achieved:12.1f} GFLOP/s")
    print(f"numpy peak     {peak:12.1f} GFLOP/s (float32 matmul, 1024 x 578 @ 578 x 2048)")
    print(f"fraction       {achieved / peak:12.2f} of peak")


if __name__ == "__main__":
    main()
