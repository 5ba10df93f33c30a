"""NumPy layers: each has ``forward(x, training)`` and ``backward(dy) -> dx`` side by side,
canonical parameters in ``params`` and their gradients in ``grads`` (same short names)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from spec.layers import Layer, Shape


class NpLayer:
    """Base: no parameters, identity in both directions."""

    def __init__(self, spec: Layer, in_shape: Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> None:
        self.spec, self.in_shape, self.dtype = spec, in_shape, dtype
        self.params: dict[str, np.ndarray] = params  # updated in place by the optimizer
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in params.items()}
        self.state: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy


LAYERS: dict[type[Layer], type[NpLayer]] = {}


def register(spec_type: type[Layer]) -> Callable[[type[NpLayer]], type[NpLayer]]:
    def wrap(cls: type[NpLayer]) -> type[NpLayer]:
        LAYERS[spec_type] = cls
        return cls

    return wrap


def build_layer(spec: Layer, in_shape: Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> NpLayer:
    """The NumPy layer for a spec layer; ``params`` maps short names (``kernel``) to arrays."""
    if type(spec) not in LAYERS:
        raise NotImplementedError(f"the numpy backend has no {type(spec).__name__} layer")
    return LAYERS[type(spec)](spec, in_shape, params, dtype)


from backends.numpy.layers import attention, conv, core, dropout, norm, roots, sequence  # noqa: E402,F401  (registers the layers)
