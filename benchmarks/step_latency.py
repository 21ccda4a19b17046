"""Latency of one batched M step + C step at doomrnn sizes: numpy twin vs Keras, batch 1 and 1024.

One "step" is what a dream or real rollout does per time step after V: the LSTM cell (512 units, input
z 64 + action 1 + restart 1), the mixture head (961 outputs) and the controller (1088 -> 1). Both
sides run the same weights; Keras is timed as a compiled (tf.function) call of the cell, the head and
the controller's matmul, which is the fastest way to drive Keras one step at a time.

    python benchmarks/step_latency.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from worldmodels.controller import Controller, controller_input, controller_spec  # noqa: E402
from worldmodels.experiments import DOOMRNN  # noqa: E402
from worldmodels.keras_models import MDNRNN  # noqa: E402
from worldmodels.mdnrnn import MDNRNN as NumpyMDNRNN  # noqa: E402


def best_time(fn, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` calls after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    """Print a table of per-step latency (ms) and the Keras/numpy ratio for batch 1 and 1024."""
    parser = argparse.ArgumentParser(description="M+C step latency, numpy twin vs Keras")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    exp = DOOMRNN
    model = MDNRNN(exp)
    twin = NumpyMDNRNN(model.weight_dict(), exp)
    spec = controller_spec(exp)
    rng = np.random.default_rng(0)
    params = (rng.standard_normal(spec.num_params) * 0.05).astype(np.float32)
    controller = Controller(spec, params)
    cell, head = model.lstm.cell, model.mdn
    w_c = tf.constant(params.reshape(spec.input_size, 1))

    @tf.function
    def keras_step(z, h, c, restart):
        a = tf.tanh(tf.concat([z, c, h], axis=1) @ w_c)
        h2, (h2, c2) = cell(tf.concat([z, a, restart], axis=1), [h, c])
        return a, head(h2), h2, c2

    print(f"doomrnn sizes: LSTM {exp.rnn_size}, input {exp.rnn_input_size}, head "
          f"{exp.rnn_output_size}, controller {spec.num_params} params; median of {args.repeats}")
    print(f"{'batch':>6} {'numpy ms':>10} {'keras ms':>10} {'keras/numpy':>12}")
    for batch in (1, 1024):
        z = rng.standard_normal((batch, exp.z_size)).astype(np.float32)
        h, c = (rng.standard_normal((batch, exp.rnn_size)).astype(np.float32) * 0.1 for _ in "hc")
        restart = np.zeros((batch, 1), np.float32)
        cand = np.zeros(batch, np.int64)

        def numpy_step(z=z, h=h, c=c, restart=restart, cand=cand):
            a = controller.act_rows(controller_input(spec, z, h, c), cand)
            h2, c2 = twin.step(np.concatenate([z, a, restart], axis=1), h, c)
            return a, twin.head(h2), h2, c2

        tensors = [tf.constant(v) for v in (z, h, c, restart)]
        np.testing.assert_allclose(numpy_step()[1], keras_step(*tensors)[1].numpy(), atol=1e-4)
        t_np = best_time(numpy_step, args.repeats)
        t_k = best_time(lambda tensors=tensors: keras_step(*tensors), args.repeats)
        print(f"{batch:>6} {t_np * 1e3:>10.3f} {t_k * 1e3:>10.3f} {t_k / t_np:>12.2f}")


if __name__ == "__main__":
    main()
