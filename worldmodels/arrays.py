"""Named weight arrays, shared by the model twins: picking the ones a model needs, as float32."""

from __future__ import annotations

import numpy as np


def float32_weights(weights: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                    model: str) -> dict[str, np.ndarray]:
    """The arrays of `weights` named in `shapes`, as float32 (other entries are left out).

    Raises ValueError naming `model` and the names `weights` lacks.
    """
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise ValueError(f"{model} weights lack {', '.join(missing)}")
    return {name: np.asarray(weights[name], np.float32) for name in shapes}
