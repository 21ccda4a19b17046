"""Controllers (C): flat parameter vectors <-> weights, and batched actions for many candidates.

CMA-ES optimises a flat vector per candidate; a population is an array (K, P). Every function here
works on the whole population at once: inputs (K, E, I) for E rollouts per candidate.

Modes (the paper's variants):
- ``zh``: a = tanh(W [z, h] + b) (carracing: 288 -> 3, 867 params), or [z, c, h] when the
  experiment feeds the cell state too (doomrnn: 1088 -> 1, no bias, 1088 params).
- ``z``: a = tanh(W z + b), V only.
- ``z_hidden``: a = tanh(W2 tanh(W1 z + b1) + b2) with 40 hidden units (carracing: 1443 params).

Flat layout: for each layer, W (I, O) row-major, then b (O) when the layer has a bias.

An optional action transform a -> clip(scale * a + offset, -1, 1) per output follows the last
tanh (:class:`ActionTransform`): M and the game's action map see the transformed action, so a
controller can be given a steering gain or a gas range while M keeps the meaning it learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldmodels.experiments import CONTROLLER_MODES, Experiment


@dataclass(frozen=True)
class ActionTransform:
    """a -> clip(scale * a + offset, -1, 1), per action: `scale` and `offset` (O,) each."""

    scale: tuple[float, ...]
    offset: tuple[float, ...]

    def __post_init__(self):
        values = np.asarray(self.scale + self.offset, dtype=np.float64)
        if len(self.scale) != len(self.offset) or not np.all(np.isfinite(values)) or \
                min(self.scale) <= 0:
            raise ValueError(f"action transform: scale {self.scale} (each > 0) and offset "
                             f"{self.offset} need one finite value per action")

    def __call__(self, action: np.ndarray) -> np.ndarray:
        """Transformed actions (..., O) from raw actions (..., O) in (-1, 1)."""
        scale, offset = np.asarray(self.scale, np.float32), np.asarray(self.offset, np.float32)
        return np.clip(action * scale + offset, -1.0, 1.0)


@dataclass(frozen=True)
class ControllerSpec:
    """Shape of a controller: layer sizes, which layers carry a bias, and the action transform
    after the last layer (None: the raw tanh outputs, the paper's)."""

    layer_sizes: tuple[int, ...]  # (input, [hidden,] output)
    biases: tuple[bool, ...]  # one per layer
    transform: ActionTransform | None = None

    def __post_init__(self):
        if self.transform is not None and len(self.transform.scale) != self.output_size:
            raise ValueError(f"action transform of {len(self.transform.scale)} actions for a "
                             f"controller of {self.output_size}")

    @property
    def input_size(self) -> int:
        """Width of the controller's input vector."""
        return self.layer_sizes[0]

    @property
    def output_size(self) -> int:
        """Number of continuous actions the controller emits."""
        return self.layer_sizes[-1]

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        total = 0
        for (n_in, n_out), bias in zip(self._layers(), self.biases, strict=True):
            total += n_in * n_out + (n_out if bias else 0)
        return total

    def _layers(self) -> list[tuple[int, int]]:
        return list(zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True))


def controller_spec(exp: Experiment, mode: str = "zh",
                    transform: ActionTransform | None = None) -> ControllerSpec:
    """The controller of experiment `exp` in `mode` ('zh', 'z' or 'z_hidden'), with an optional
    action transform."""
    if mode not in CONTROLLER_MODES:
        raise ValueError(f"unknown controller mode {mode!r}; known: {', '.join(CONTROLLER_MODES)}")
    if mode == "zh":
        n_in = exp.z_size + exp.rnn_size * (2 if exp.controller_uses_cell else 1)
        return ControllerSpec((n_in, exp.action_size), (exp.controller_bias,), transform)
    if mode == "z":
        return ControllerSpec((exp.z_size, exp.action_size), (exp.controller_bias,), transform)
    return ControllerSpec(
        (exp.z_size, exp.controller_hidden, exp.action_size), (True, exp.controller_bias), transform
    )


def controller_input(
    spec: ControllerSpec, z: np.ndarray, h: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Assemble the controller's input (..., I) from z (..., Z) and LSTM state h, c (..., H).

    Uses [z] for z-only controllers, [z, h] or [z, c, h] otherwise, chosen by the input width.
    """
    z_size = z.shape[-1]
    if spec.input_size == z_size:
        return z
    if spec.input_size == z_size + h.shape[-1]:
        return np.concatenate([z, h], axis=-1)
    return np.concatenate([z, c, h], axis=-1)


class Controller:
    """A population of K controllers built from flat parameters (K, P) (or one vector (P,))."""

    def __init__(self, spec: ControllerSpec, params: np.ndarray):
        params = np.asarray(params, dtype=np.float32)
        if params.ndim == 1:
            params = params[None]
        if params.ndim != 2 or params.shape[1] != spec.num_params:
            raise ValueError(
                f"controller expects parameters (K, {spec.num_params}), got {params.shape}"
            )
        self.spec = spec
        self.layers = unflatten(spec, params)

    @property
    def population(self) -> int:
        """Number of candidates K."""
        return self.layers[0][0].shape[0]

    def act(self, x: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] (after the spec's transform, if any): x (K, E, I) -> (K, E, O);
        candidate k acts on x[k]."""
        for weight, bias in self.layers:
            x = np.matmul(x, weight)
            if bias is not None:
                x += bias[:, None, :]
            x = np.tanh(x)
        return self._transformed(x)

    def act_rows(self, x: np.ndarray, candidate: np.ndarray) -> np.ndarray:
        """Actions as :meth:`act` for rows of mixed candidates: x (N, I), candidate (N,) ints ->
        (N, O)."""
        for weight, bias in self.layers:
            x = np.einsum("ni,nio->no", x, weight[candidate])
            if bias is not None:
                x = x + bias[candidate]
            x = np.tanh(x)
        return self._transformed(x)

    def _transformed(self, action: np.ndarray) -> np.ndarray:
        transform = self.spec.transform
        return action if transform is None else transform(action).astype(action.dtype)


def unflatten(
    spec: ControllerSpec, params: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Flat parameters (K, P) -> per layer (W (K, I, O), b (K, O) or None), as views."""
    layers: list[tuple[np.ndarray, np.ndarray | None]] = []
    k, offset = params.shape[0], 0
    for (n_in, n_out), has_bias in zip(spec._layers(), spec.biases, strict=True):
        weight = params[:, offset : offset + n_in * n_out].reshape(k, n_in, n_out)
        offset += n_in * n_out
        bias = None
        if has_bias:
            bias = params[:, offset : offset + n_out]
            offset += n_out
        layers.append((weight, bias))
    return layers


def flatten(layers: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Inverse of :func:`unflatten`: per-layer (W (K, I, O), b (K, O) or None) -> (K, P)."""
    parts = []
    for weight, bias in layers:
        parts.append(weight.reshape(weight.shape[0], -1))
        if bias is not None:
            parts.append(bias)
    return np.concatenate(parts, axis=1)
