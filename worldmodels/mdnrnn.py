"""MDN-RNN (M): weight layout, and its batched numpy twin (LSTM step, mixture, sampling).

The Keras model that trains these weights is :class:`worldmodels.keras_models.MDNRNN`. This module
never imports TensorFlow.

M reads x_t = [z_t, a_t (, restart_t)] and predicts, for every z dimension separately, a
`num_mixture`-component 1-D Gaussian mixture over z_{t+1} (log pi, mu, log sigma), plus a done
logit when the experiment predicts done and the step's reward when it predicts reward. The head's
output row is laid out per z dimension as [log pi (K), mu (K), log sigma (K)], followed by the done
logit, then the reward.

LSTM gates use Keras order (i, f, c, o) with a sigmoid recurrent activation; the forget bias is part
of the trained bias (Keras' unit_forget_bias initialises it to 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldmodels.arrays import float32_weights
from worldmodels.experiments import Experiment


def rnn_weight_shapes(exp: Experiment) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every M weight array for experiment `exp` (Keras layout)."""
    n_in, n_h = exp.rnn_input_size, exp.rnn_size
    return {
        "lstm/kernel": (n_in, 4 * n_h),
        "lstm/recurrent_kernel": (n_h, 4 * n_h),
        "lstm/bias": (4 * n_h,),
        "mdn/kernel": (n_h, exp.rnn_output_size),
        "mdn/bias": (exp.rnn_output_size,),
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax along `axis`."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@dataclass
class Mixture:
    """M's prediction for a batch: log_pi, mu, log_sigma each (N, z, K); done_logit and reward (N,)
    or None."""

    log_pi: np.ndarray
    mu: np.ndarray
    log_sigma: np.ndarray
    done_logit: np.ndarray | None
    reward: np.ndarray | None = None


class MDNRNN:
    """Numpy twin of the MDN-RNN, stepping a batch of independent rollouts one time step at a time.

    `weights` maps the names of :func:`rnn_weight_shapes` to arrays; they are kept as float32.
    The LSTM's input and recurrent kernels are stacked into one (in + h, 4h) matrix so a step is a
    single matmul followed by a single tanh.
    """

    def __init__(self, weights: dict[str, np.ndarray], exp: Experiment):
        self.exp = exp
        f32 = float32_weights(weights, rnn_weight_shapes(exp), "MDN-RNN")
        # Stacked [input; recurrent] kernel, with the cell-candidate (g) columns doubled so that
        # one tanh(gates / 2) over all four gates gives tanh(g) and, via (t + 1) / 2, the sigmoids.
        scale = np.ones(4 * exp.rnn_size, np.float32)
        scale[2 * exp.rnn_size : 3 * exp.rnn_size] = 2.0
        self.lstm_kernel = np.concatenate([f32["lstm/kernel"], f32["lstm/recurrent_kernel"]], 0)
        self.lstm_kernel *= scale
        self.lstm_bias = f32["lstm/bias"] * scale
        self.mdn_kernel = f32["mdn/kernel"]
        self.mdn_bias = f32["mdn/bias"]
        # The same head with its columns regrouped as (kind, component, z dimension): sampling then
        # works on contiguous (N, Z) slices instead of reducing over a length-5 last axis.
        order = _kind_component_dim_order(exp.z_size, exp.num_mixture, exp.rnn_output_size)
        self.sample_kernel = np.ascontiguousarray(self.mdn_kernel[:, order])
        self.sample_bias = self.mdn_bias[order]

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Zero LSTM state (h, c), each (batch, rnn_size) float32."""
        h = np.zeros((batch, self.exp.rnn_size), np.float32)
        return h, h.copy()

    def step(
        self, x: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One LSTM step for a batch: x (N, rnn_input_size), h and c (N, rnn_size) -> new (h, c)."""
        gates = np.concatenate([x, h], axis=1).astype(np.float32, copy=False) @ self.lstm_kernel
        gates += self.lstm_bias
        gates *= 0.5
        np.tanh(gates, out=gates)
        i, f, g, o = np.split(gates, 4, axis=1)
        c = (0.5 * f + 0.5) * c + (0.5 * i + 0.5) * g
        h = (0.5 * o + 0.5) * np.tanh(c)
        return h, c

    def head(self, h: np.ndarray) -> np.ndarray:
        """Raw head output (N, rnn_output_size) from LSTM output h (N, rnn_size)."""
        return h @ self.mdn_kernel + self.mdn_bias

    def mixture(self, h: np.ndarray) -> Mixture:
        """M's predicted distribution of the next z (and done logit) from LSTM output h (N, h)."""
        return split_mixture(self.head(h), self.exp)

    def sample_next(self, h: np.ndarray, temperature: float | np.ndarray, uniform: np.ndarray,
                    eps: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The rollout path: from LSTM output h (N, H), the next z (N, Z) drawn as
        :func:`sample_with_noise` at `temperature` (one tau, or one per row (N,)), the done
        logit (N,) and the predicted reward (N,) (None for a head M does not have)."""
        n, z, k = len(h), self.exp.z_size, self.exp.num_mixture
        out = h @ self.sample_kernel
        out += self.sample_bias
        blocks = out[:, : 3 * k * z].reshape(n, 3, k, z)
        done, reward = _extra_outputs(out, self.exp)
        return _sample_components(blocks[:, 0], blocks[:, 1], blocks[:, 2], temperature,
                                  uniform, eps), done, reward


def _kind_component_dim_order(z_size: int, num_mixture: int, width: int) -> np.ndarray:
    """Column order that turns the head's per-dimension layout (Z, 3, K) into (3, K, Z); the
    columns after the mixture (done, reward) keep their places."""
    order = np.arange(z_size * 3 * num_mixture).reshape(z_size, 3, num_mixture)
    return np.concatenate([order.transpose(1, 2, 0).ravel(),
                           np.arange(z_size * 3 * num_mixture, width)])


def _extra_outputs(out: np.ndarray, exp: Experiment) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(done logit, reward) columns of head outputs (N, rnn_output_size), None where absent."""
    col = exp.z_size * 3 * exp.num_mixture
    done = out[:, col] if exp.predict_done else None
    reward = out[:, col + int(exp.predict_done)] if exp.predict_reward else None
    return done, reward


def split_mixture(out: np.ndarray, exp: Experiment) -> Mixture:
    """Head output (N, rnn_output_size) -> :class:`Mixture` with log_pi normalised over the K
    components."""
    n, z_size, k = out.shape[0], exp.z_size, exp.num_mixture
    params = out[:, : z_size * 3 * k].reshape(n, z_size, 3, k)
    done, reward = _extra_outputs(out, exp)
    return Mixture(log_softmax(params[:, :, 0]), params[:, :, 1], params[:, :, 2], done, reward)


def sample_next_z(mix: Mixture, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Draw z_{t+1} (N, z) from the mixture at temperature tau.

    The mixture logits are divided by tau, one component is drawn per dimension, and
    z = mu + sigma * eps * sqrt(tau) with eps ~ N(0, 1).
    """
    n, z, _ = mix.mu.shape
    uniform = rng.random((n, z), dtype=np.float32)
    eps = rng.standard_normal((n, z), dtype=np.float32)
    return sample_with_noise(mix, temperature, uniform, eps)


def sample_with_noise(mix: Mixture, temperature: float, uniform: np.ndarray,
                      eps: np.ndarray) -> np.ndarray:
    """:func:`sample_next_z` with its random draws given: uniform (N, z) in [0, 1) picks the
    component by inverse CDF, eps (N, z) ~ N(0, 1) is the Gaussian noise."""
    return _sample_components(*(a.transpose(0, 2, 1) for a in (mix.log_pi, mix.mu, mix.log_sigma)),
                              temperature, uniform, eps)


def _sample_components(logits: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray,
                       temperature: float | np.ndarray, uniform: np.ndarray,
                       eps: np.ndarray) -> np.ndarray:
    """Mixture parameters (N, K, Z) (logits need not be normalised) -> z (N, Z); temperature is
    one tau for all rows or one per row (N,)."""
    tau = np.asarray(temperature, np.float64)
    tau = tau[:, None] if tau.ndim else tau  # (N, 1) or ()
    weights = logits / tau[..., None].astype(np.float32)
    weights -= weights.max(axis=1, keepdims=True)
    np.exp(weights, out=weights)
    cumulative = np.cumsum(weights, axis=1)
    threshold = uniform * cumulative[:, -1]
    chosen = (threshold[:, None] > cumulative[:, :-1]).sum(axis=1)[:, None]  # (N, 1, Z) in 0..K-1
    mu = np.take_along_axis(mu, chosen, axis=1)[:, 0]
    sigma = np.exp(np.take_along_axis(log_sigma, chosen, axis=1)[:, 0])
    return mu + sigma * eps * np.sqrt(tau).astype(np.float32)


def done_probability(mix: Mixture) -> np.ndarray:
    """Predicted probability (N,) that the next step ends the episode; raises if M has no done head."""
    if mix.done_logit is None:
        raise ValueError("this MDN-RNN has no done head (experiment.predict_done is False)")
    return _sigmoid(mix.done_logit)


def mixture_nll(mix: Mixture, z_next: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of z_next (N, z) under the mixture, per dimension: (N, z)."""
    y = z_next[..., None]
    log_normal = -0.5 * ((y - mix.mu) * np.exp(-mix.log_sigma)) ** 2 - mix.log_sigma
    log_normal -= 0.5 * np.log(2.0 * np.pi)
    joint = mix.log_pi + log_normal
    top = joint.max(axis=-1, keepdims=True)
    return -(top[..., 0] + np.log(np.exp(joint - top).sum(axis=-1)))
