"""ConvVAE (V): the architecture, and its batched numpy twin used by every rollout.

The Keras model that trains these weights is :class:`worldmodels.keras_models.ConvVAE`; both share
the layer names and weight shapes defined here, so weights move between them as a dict of arrays.
This module never imports TensorFlow.

Architecture (the reference's, for both experiments): encoder convolutions 32/64/128/256 filters,
kernel 4, stride 2, ReLU, VALID padding -> 2x2x256 -> dense mu and dense logvar; decoder dense 1024
(linear) -> 1x1x1024 -> transposed convolutions 128 (k5), 64 (k5), 32 (k6), 3 (k6, sigmoid), all stride 2.
"""

from __future__ import annotations

import numpy as np

from worldmodels.arrays import float32_weights

ENCODER_CONVS: tuple[tuple[int, int], ...] = ((32, 4), (64, 4), (128, 4), (256, 4))
DECODER_DECONVS: tuple[tuple[int, int], ...] = ((128, 5), (64, 5), (32, 6), (3, 6))
STRIDE = 2
ENCODED_SIZE = 2 * 2 * 256  # flattened encoder output for 64x64 frames
FRAME_SHAPE = (64, 64, 3)
ENCODE_CHUNK = 16  # frames per encoder pass (benchmarks/carracing_speed.py measures batch sizes)


def vae_weight_shapes(z_size: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every V weight array (Keras layout: conv kernels (k, k, in, out), transposed
    conv kernels (k, k, out, in), dense kernels (in, out))."""
    shapes: dict[str, tuple[int, ...]] = {}
    channels = FRAME_SHAPE[2]
    for i, (filters, k) in enumerate(ENCODER_CONVS, 1):
        shapes[f"enc_conv{i}/kernel"] = (k, k, channels, filters)
        shapes[f"enc_conv{i}/bias"] = (filters,)
        channels = filters
    for name in ("enc_fc_mu", "enc_fc_log_var"):
        shapes[f"{name}/kernel"] = (ENCODED_SIZE, z_size)
        shapes[f"{name}/bias"] = (z_size,)
    shapes["dec_fc/kernel"] = (z_size, 4 * 256)
    shapes["dec_fc/bias"] = (4 * 256,)
    channels = 4 * 256
    for i, (filters, k) in enumerate(DECODER_DECONVS, 1):
        shapes[f"dec_deconv{i}/kernel"] = (k, k, filters, channels)
        shapes[f"dec_deconv{i}/bias"] = (filters,)
        channels = filters
    return shapes


def frames_to_float(frames: np.ndarray) -> np.ndarray:
    """uint8 frames (..., 64, 64, 3) in 0..255 -> float32 in [0, 1]."""
    return np.asarray(frames, dtype=np.float32) * np.float32(1.0 / 255.0)


def conv2d_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """VALID 2-D convolution (Keras semantics) of x (N, H, W, C) with kernel (k, k, C, F).

    Returns (N, Ho, Wo, F) with Ho = (H - k) // stride + 1, computed as one im2col matmul. The
    patches are a strided view of x in (ki, kj, c) order, so the copy that feeds the matmul moves
    contiguous runs of k*C values (a window row) rather than gathering single values.
    """
    k = kernel.shape[0]
    n, h, w, c = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    sn, sh, sw, sc = x.strides
    windows = np.lib.stride_tricks.as_strided(
        x, (n, ho, wo, k, k, c), (sn, stride * sh, stride * sw, sh, sw, sc), writeable=False)
    out = windows.reshape(n * ho * wo, k * k * c) @ kernel.reshape(-1, kernel.shape[3])
    out += bias
    return out.reshape(n, ho, wo, -1)


def conv2d_transpose_valid(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int
) -> np.ndarray:
    """VALID transposed convolution (Keras semantics) of x (N, H, W, C) with kernel (k, k, F, C).

    Returns (N, (H-1)*stride + k, (W-1)*stride + k, F): every input pixel scatters kernel-weighted
    copies of itself; done as one matmul, then k*k strided adds.
    """
    n, h, w, c = x.shape
    k, _, f, _ = kernel.shape
    # (N*H*W, C) @ (C, k*k*F): every input pixel's contribution to each kernel offset at once.
    spread = x.reshape(-1, c) @ kernel.transpose(3, 0, 1, 2).reshape(c, -1)
    spread = spread.reshape(n, h, w, k, k, f)
    out = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, f), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            out[:, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (w - 1) + 1 : stride] += (
                spread[:, :, :, i, j]
            )
    return out + bias


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free form of 1 / (1 + exp(-x))


class VAE:
    """Numpy twin of the ConvVAE for inference, batched over frames.

    `weights` maps the names of :func:`vae_weight_shapes` to arrays (as loaded by
    :func:`worldmodels.weights.load_weights`); they are kept as float32.
    """

    def __init__(self, weights: dict[str, np.ndarray], z_size: int):
        self.z_size = z_size
        self.w = float32_weights(weights, vae_weight_shapes(z_size), "VAE")

    def encode(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames (N, 64, 64, 3), uint8 0..255 or float in [0, 1] -> (mu, logvar), each (N, z).

        Large batches go through in chunks of ENCODE_CHUNK frames: the patch matrices of a chunk
        stay in cache, so frames per second do not fall as the batch grows."""
        if len(frames) > ENCODE_CHUNK:
            parts = [self.encode(frames[i:i + ENCODE_CHUNK]) for i in range(0, len(frames), ENCODE_CHUNK)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        x = frames_to_float(frames) if frames.dtype == np.uint8 else frames.astype(np.float32)
        for i in range(1, len(ENCODER_CONVS) + 1):
            x = _relu(conv2d_valid(x, self.w[f"enc_conv{i}/kernel"], self.w[f"enc_conv{i}/bias"],
                                   STRIDE))
        x = x.reshape(x.shape[0], -1)
        mu = x @ self.w["enc_fc_mu/kernel"] + self.w["enc_fc_mu/bias"]
        logvar = x @ self.w["enc_fc_log_var/kernel"] + self.w["enc_fc_log_var/bias"]
        return mu, logvar

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latents (N, z) -> reconstructed frames (N, 64, 64, 3), float32 in [0, 1]."""
        x = np.asarray(z, np.float32) @ self.w["dec_fc/kernel"] + self.w["dec_fc/bias"]
        x = x.reshape(-1, 1, 1, x.shape[1])
        last = len(DECODER_DECONVS)
        for i in range(1, last + 1):
            x = conv2d_transpose_valid(
                x, self.w[f"dec_deconv{i}/kernel"], self.w[f"dec_deconv{i}/bias"], STRIDE
            )
            x = _sigmoid(x) if i == last else _relu(x)
        return x

    def reconstruction_error(self, frames: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Per-frame sum of squared errors (N,) between frames (N, 64, 64, 3) uint8 and their
        reconstructions from mu, pixels in [0, 1]: the units of the training loss's r_loss."""
        errors = []
        for i in range(0, len(frames), chunk):
            part = frames_to_float(frames[i:i + chunk])
            errors.append(((self.decode(self.encode(part)[0]) - part) ** 2).sum(axis=(1, 2, 3)))
        return np.concatenate(errors) if errors else np.zeros(0, np.float32)


def sample_z(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reparameterised sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1); shapes (N, z)."""
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    return mu + np.exp(0.5 * logvar) * eps
