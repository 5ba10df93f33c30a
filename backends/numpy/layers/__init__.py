"""NumPy layers: each has ``forward(x, training)`` and ``backward(dy) -> dx`` side by side,
canonical parameters in ``params`` and their gradients in ``grads`` (same short names)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from netparity.backends.base import LayerRegistry
from netparity.backends.numpy.activations import activation
from netparity.spec.layers import Layer, Shape


class NpLayer:
    """Base: no parameters, identity in both directions."""

    def __init__(self, spec: Layer, in_shape: Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> None:
        self.spec, self.in_shape, self.dtype = spec, in_shape, dtype
        self.params: dict[str, np.ndarray] = params  # updated in place by the optimizer
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in params.items()}
        self.state: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # see ``buffer``

    #: False on the model's first layer: nothing consumes the gradient w.r.t. the data, so
    #: layers with a costly input gradient (Dense, Conv2D) skip it and return None
    need_input_grad: bool = True

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialized work array of the layer's dtype kept from call to call (a new one
        only when the shape changes): large temporaries allocated afresh every step cost page
        faults every step. Never return one to the caller: the next call overwrites it."""
        buf = self.buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self.buffers[name] = np.empty(shape, dtype=self.dtype)
        return buf

    def activate(self, z: np.ndarray) -> np.ndarray:
        """y = act(z) with the spec's activation, keeping z and y for ``activation_grad``."""
        self.z = z
        self.y = activation(self.spec)[0](z)
        return self.y

    def activation_grad(self, dy: np.ndarray) -> np.ndarray:
        """dz = dy * act'(z)."""
        return activation(self.spec)[1](self.z, self.y, dy)


REGISTRY = LayerRegistry("numpy")
register: Callable[[type[Layer]], Callable[[type[NpLayer]], type[NpLayer]]] = REGISTRY.register


def build_layer(spec: Layer, in_shape: Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> NpLayer:
    """The NumPy layer for a spec layer; ``params`` maps short names (``kernel``) to arrays."""
    return REGISTRY.build(spec, in_shape, params, dtype)


from netparity.backends.numpy.layers import attention, conv, core, dropout, gru, norm, roots, sequence, temporal  # noqa: E402,F401  (registers the layers)
