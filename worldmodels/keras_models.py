"""Keras 3 models that train V and M. Only the training stages import this module (TensorFlow).

Rollouts use the numpy twins in :mod:`worldmodels.vae` and :mod:`worldmodels.mdnrnn`; weights move
between the two as dicts of arrays named as in `vae_weight_shapes` / `rnn_weight_shapes`.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from worldmodels.experiments import Experiment  # noqa: E402
from worldmodels.vae import DECODER_DECONVS, ENCODER_CONVS, FRAME_SHAPE, STRIDE  # noqa: E402

LOG_2PI = float(np.log(2.0 * np.pi))


def vae_loss(
    x: keras.KerasTensor, recon: keras.KerasTensor, mu: keras.KerasTensor,
    logvar: keras.KerasTensor, kl_tolerance: float,
) -> tuple[keras.KerasTensor, keras.KerasTensor, keras.KerasTensor]:
    """The reference's VAE loss for a batch of frames (N, 64, 64, 3) in [0, 1] and latents (N, z).

    Returns (total, reconstruction, kl): reconstruction is the per-image sum of squared errors,
    kl the per-image KL divergence floored at kl_tolerance * z_size; both averaged over the batch.
    """
    z_size = mu.shape[-1]
    r_loss = ops.mean(ops.sum(ops.square(x - recon), axis=(1, 2, 3)))
    kl = -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar), axis=1)
    kl_loss = ops.mean(ops.maximum(kl, kl_tolerance * z_size))
    return r_loss + kl_loss, r_loss, kl_loss


VAE_LOSS_NAMES = ("loss", "r_loss", "kl_loss")


class _LossTracking:
    """Mixin for a keras.Model whose `compute_loss` reports named losses: Keras shows their running
    means as the model's metrics and resets them at each epoch. The model creates
    `loss_trackers` ({name: keras.metrics.Mean}) in its `__init__`."""

    loss_trackers: dict[str, keras.metrics.Mean]

    def track_losses(self, names: tuple[str, ...], values: tuple[keras.KerasTensor, ...]) -> None:
        """Add this batch's scalar loss `values` to the running means called `names`."""
        for name, value in zip(names, values, strict=True):
            self.loss_trackers[name].update_state(value)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras hook: report the running mean of every tracked loss."""
        return {name: t.result() for name, t in self.loss_trackers.items()}

    @property
    def metrics(self):
        """Metric objects reset by Keras at each epoch."""
        return list(self.loss_trackers.values())


class ConvVAE(_LossTracking, keras.Model):
    """The reference ConvVAE: `encode(x) -> (mu, logvar)`, `decode(z) -> frames`.

    Calling the model on frames (N, 64, 64, 3) float32 in [0, 1] returns (reconstruction, mu, logvar)
    with a reparameterised sample z = mu + exp(logvar / 2) * eps in between. `fit` on a dataset of
    frames trains it with :func:`vae_loss`.
    """

    def __init__(self, z_size: int, kl_tolerance: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.z_size = z_size
        self.kl_tolerance = kl_tolerance
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.enc_convs = [
            layers.Conv2D(f, k, strides=STRIDE, activation="relu", name=f"enc_conv{i}")
            for i, (f, k) in enumerate(ENCODER_CONVS, 1)
        ]
        self.enc_fc_mu = layers.Dense(z_size, name="enc_fc_mu")
        self.enc_fc_log_var = layers.Dense(z_size, name="enc_fc_log_var")
        self.dec_fc = layers.Dense(4 * 256, name="dec_fc")
        last = len(DECODER_DECONVS)
        self.dec_deconvs = [
            layers.Conv2DTranspose(
                f, k, strides=STRIDE, activation="sigmoid" if i == last else "relu",
                name=f"dec_deconv{i}",
            )
            for i, (f, k) in enumerate(DECODER_DECONVS, 1)
        ]
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in VAE_LOSS_NAMES}
        self.build((None, *FRAME_SHAPE))

    def build(self, input_shape: tuple) -> None:
        """Create all weights for frames of `input_shape` (N, 64, 64, 3)."""
        self.decode(self.encode(keras.KerasTensor(input_shape))[0])
        self.built = True

    def encode(self, x: keras.KerasTensor) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        """Frames (N, 64, 64, 3) in [0, 1] -> (mu, logvar), each (N, z)."""
        for conv in self.enc_convs:
            x = conv(x)
        x = ops.reshape(x, (-1, int(np.prod(x.shape[1:]))))
        return self.enc_fc_mu(x), self.enc_fc_log_var(x)

    def decode(self, z: keras.KerasTensor) -> keras.KerasTensor:
        """Latents (N, z) -> frames (N, 64, 64, 3) in [0, 1]."""
        x = ops.reshape(self.dec_fc(z), (-1, 1, 1, 4 * 256))
        for deconv in self.dec_deconvs:
            x = deconv(x)
        return x

    def call(self, x, training=False):
        """Frames (N, 64, 64, 3) in [0, 1] -> (reconstruction, mu, logvar)."""
        mu, logvar = self.encode(x)
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return self.decode(mu + ops.exp(0.5 * logvar) * eps), mu, logvar

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras hook: :func:`vae_loss` of the frames `x` and the model's output `y_pred`."""
        recon, mu, logvar = y_pred
        losses = vae_loss(x, recon, mu, logvar, self.kl_tolerance)
        self.track_losses(VAE_LOSS_NAMES, losses)
        return losses[0]

    def weight_dict(self) -> dict[str, np.ndarray]:
        """All weights as a dict named as :func:`worldmodels.vae.vae_weight_shapes`."""
        return _dense_like_weights(
            [*self.enc_convs, self.enc_fc_mu, self.enc_fc_log_var, self.dec_fc, *self.dec_deconvs]
        )

    def set_weight_dict(self, weights: dict[str, np.ndarray]) -> None:
        """Load weights from a dict named as :func:`worldmodels.vae.vae_weight_shapes`."""
        for layer in [*self.enc_convs, self.enc_fc_mu, self.enc_fc_log_var, self.dec_fc,
                      *self.dec_deconvs]:
            layer.set_weights([weights[f"{layer.name}/kernel"], weights[f"{layer.name}/bias"]])


def _dense_like_weights(layer_list: list[layers.Layer]) -> dict[str, np.ndarray]:
    out = {}
    for layer in layer_list:
        kernel, bias = layer.get_weights()
        out[f"{layer.name}/kernel"], out[f"{layer.name}/bias"] = kernel, bias
    return out


class RestartLSTMCell(layers.LSTMCell):
    """An LSTM cell whose state is zeroed before every step whose restart flag (the last input
    column) is 1, so one sequence can span several episodes (doomrnn's training windows)."""

    def call(self, inputs, states, training=False):
        """One step: inputs (N, I) with the restart flag last; states [h, c] each (N, H)."""
        keep = 1.0 - inputs[:, -1:]
        return super().call(inputs, [s * keep for s in states], training=training)


def mdn_loss(
    exp: Experiment, out: keras.KerasTensor, z_next: keras.KerasTensor,
    done_next: keras.KerasTensor | None = None, reward_next: keras.KerasTensor | None = None,
) -> tuple[keras.KerasTensor, keras.KerasTensor, keras.KerasTensor, keras.KerasTensor]:
    """M's loss for head outputs (N, T, rnn_output_size) and targets z_next (N, T, z).

    Returns (total, z_loss, done_loss, reward_loss). z_loss is the mean over every sample, step
    and z dimension of -log sum_k pi_k N(z; mu_k, sigma_k). For experiments that predict done,
    done_loss is the mean sigmoid cross-entropy of the done logit against done_next (N, T) with
    done frames weighted by `exp.done_weight`; when M predicts reward, reward_loss is the mean
    squared error against reward_next (N, T). Absent heads contribute 0.
    """
    k, z_size = exp.num_mixture, exp.z_size
    params = ops.reshape(out[..., : z_size * 3 * k], (*ops.shape(out)[:-1], z_size, 3, k))
    log_pi = params[..., 0, :] - ops.logsumexp(params[..., 0, :], axis=-1, keepdims=True)
    mu, log_sigma = params[..., 1, :], params[..., 2, :]
    y = ops.expand_dims(z_next, -1)
    log_normal = -0.5 * ops.square((y - mu) * ops.exp(-log_sigma)) - log_sigma - 0.5 * LOG_2PI
    z_loss = ops.mean(-ops.logsumexp(log_pi + log_normal, axis=-1))
    done_loss = reward_loss = ops.zeros_like(z_loss)
    col = z_size * 3 * k
    if exp.predict_done:
        logit, target = out[..., col], ops.cast(done_next, out.dtype)
        # weighted sigmoid cross-entropy: w * t * softplus(-x) + (1 - t) * softplus(x)
        done_loss = ops.mean(exp.done_weight * target * ops.softplus(-logit)
                             + (1.0 - target) * ops.softplus(logit))
    if exp.predict_reward:
        predicted = out[..., col + int(exp.predict_done)]
        reward_loss = ops.mean(ops.square(predicted - ops.cast(reward_next, out.dtype)))
    return z_loss + done_loss + reward_loss, z_loss, done_loss, reward_loss


MDN_LOSS_NAMES = ("loss", "z_loss", "done_loss", "reward_loss")


class MDNRNN(_LossTracking, keras.Model):
    """The MDN-RNN for training: inputs (N, T, rnn_input_size) -> (head outputs (N, T, out), h, c).

    `fit(x, y)` with y = (z_next (N, T, z), done_next (N, T), reward_next (N, T)) (or z_next alone)
    trains it with :func:`mdn_loss`;
    gradient clipping by value belongs to the optimizer (`clipvalue=exp.rnn_grad_clip`).
    """

    def __init__(self, exp: Experiment, **kwargs):
        super().__init__(**kwargs)
        self.exp = exp
        if exp.use_restart:
            self.lstm = layers.RNN(RestartLSTMCell(exp.rnn_size), return_sequences=True,
                                   return_state=True, name="lstm")
        else:
            self.lstm = layers.LSTM(exp.rnn_size, return_sequences=True, return_state=True,
                                    name="lstm")
        self.mdn = layers.Dense(exp.rnn_output_size, name="mdn")
        self.loss_trackers = {n: keras.metrics.Mean(name=n) for n in MDN_LOSS_NAMES}
        self.build((None, None, exp.rnn_input_size))

    def build(self, input_shape: tuple) -> None:
        """Create all weights for inputs of `input_shape` (N, T, rnn_input_size)."""
        self.lstm.build(input_shape)
        self.mdn.build((None, self.exp.rnn_size))
        self.built = True

    def call(self, inputs, initial_state=None, training=False):
        """inputs (N, T, I), optional initial [h, c] -> (outputs (N, T, O), h (N, H), c (N, H))."""
        seq, h, c = self.lstm(inputs, initial_state=initial_state, training=training)
        return self.mdn(seq), h, c

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras hook: :func:`mdn_loss` of the head output against y = (z_next, done, reward)."""
        targets = list(y) if isinstance(y, (tuple, list)) else [y]
        losses = mdn_loss(self.exp, y_pred[0], *targets)
        self.track_losses(MDN_LOSS_NAMES, losses)
        return losses[0]

    def weight_dict(self) -> dict[str, np.ndarray]:
        """All weights as a dict named as :func:`worldmodels.mdnrnn.rnn_weight_shapes`."""
        cell = self.lstm.cell
        kernel, recurrent, bias = (np.asarray(w) for w in
                                   (cell.kernel, cell.recurrent_kernel, cell.bias))
        mdn_kernel, mdn_bias = self.mdn.get_weights()
        return {"lstm/kernel": kernel, "lstm/recurrent_kernel": recurrent, "lstm/bias": bias,
                "mdn/kernel": mdn_kernel, "mdn/bias": mdn_bias}

    def set_weight_dict(self, weights: dict[str, np.ndarray]) -> None:
        """Load weights from a dict named as :func:`worldmodels.mdnrnn.rnn_weight_shapes`."""
        cell = self.lstm.cell
        cell.kernel.assign(weights["lstm/kernel"])
        cell.recurrent_kernel.assign(weights["lstm/recurrent_kernel"])
        cell.bias.assign(weights["lstm/bias"])
        self.mdn.set_weights([weights["mdn/kernel"], weights["mdn/bias"]])


class OffsetExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's M learning rate: (lr - min_lr) * decay_rate ** step + min_lr."""

    def __init__(self, learning_rate: float, min_learning_rate: float, decay_rate: float):
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.decay_rate = decay_rate

    def __call__(self, step):
        """Learning rate at optimiser step `step` (a scalar tensor)."""
        span = self.learning_rate - self.min_learning_rate
        # exp(step * log(rate)) with the log taken in float64: float32 0.99999 ** 24400 is 0.1% off.
        log_rate = float(np.log(self.decay_rate))
        return span * ops.exp(ops.cast(step, "float32") * log_rate) + self.min_learning_rate

    def get_config(self) -> dict:
        """Keras serialisation hook."""
        return {"learning_rate": self.learning_rate, "min_learning_rate": self.min_learning_rate,
                "decay_rate": self.decay_rate}


def vae_optimizer(exp: Experiment) -> keras.optimizers.Optimizer:
    """Adam at the experiment's V learning rate (1e-4), no clipping, as the reference."""
    return keras.optimizers.Adam(exp.vae_learning_rate)


def rnn_optimizer(exp: Experiment) -> keras.optimizers.Optimizer:
    """Adam with the experiment's M learning-rate schedule and gradients clipped by value."""
    schedule = OffsetExponentialDecay(exp.rnn_learning_rate, exp.rnn_min_learning_rate,
                                      exp.rnn_decay_rate)
    return keras.optimizers.Adam(schedule, clipvalue=exp.rnn_grad_clip)


def save_training_checkpoint(path, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                             meta: dict) -> None:
    """Atomically save the model's and optimizer's variables plus `meta` (JSON) to an .npz.

    Refuses to save non-finite weights, so a checkpoint is always a good state to resume from.
    """
    import json

    from worldmodels.fileio import atomic_savez

    arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
    arrays |= {f"opt_{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)}
    if not all(np.all(np.isfinite(a)) for a in arrays.values() if a.dtype.kind == "f"):
        raise ValueError(f"refusing to checkpoint non-finite weights to {path}")
    atomic_savez(path, compressed=False, **arrays, meta=np.array(json.dumps(meta)))


def load_training_checkpoint(path, model: keras.Model,
                             optimizer: keras.optimizers.Optimizer) -> dict:
    """Restore what :func:`save_training_checkpoint` wrote into `model` and `optimizer`; returns
    its `meta` dict. The optimizer is built for the model's trainable variables first.

    A checkpoint that cannot be read or does not fit the model raises
    :class:`~worldmodels.data.DataFileError` with one line saying so and what to do.
    """
    import json

    from worldmodels.data import DataFileError, read_npz

    advice = "remove it to start this training from the beginning"
    optimizer.build(model.trainable_variables)
    try:
        arrays = read_npz(path)
        meta = json.loads(str(arrays["meta"]))
    except (DataFileError, KeyError, ValueError) as err:
        reason = str(err).removeprefix(f"{path}: ")
        raise DataFileError(f"{path}: training checkpoint {reason}; {advice}") from None
    n_model = sum(k.startswith("model_") for k in arrays)
    n_opt = sum(k.startswith("opt_") for k in arrays)
    if n_model != len(model.variables) or n_opt != len(optimizer.variables) or \
            not isinstance(meta, dict):
        raise DataFileError(f"{path}: training checkpoint does not fit this model (other sizes?); "
                            f"{advice}")
    try:
        for i, v in enumerate(model.variables):
            v.assign(arrays[f"model_{i}"])
        for i, v in enumerate(optimizer.variables):
            v.assign(arrays[f"opt_{i}"])
    except (KeyError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise DataFileError(f"{path}: training checkpoint does not fit this model ({reason}); "
                            f"{advice}") from None
    return meta
