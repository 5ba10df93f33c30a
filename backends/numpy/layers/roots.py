"""Quadratic (the roots task) in NumPy."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


@register(L.Quadratic)
class Quadratic(NpLayer):
    """y = a*x^2 + b*x + c on every row; dx_param = sum(dy) * (2*a*x + b); no gradient to the input."""

    def forward(self, x_in: np.ndarray, training: bool = False) -> np.ndarray:
        self.in_shape_seen = x_in.shape
        s, x = self.spec, self.params["x"]
        value = s.a * x * x + s.b * x + s.c
        return np.broadcast_to(value, (len(x_in), 1)).astype(self.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        s, x = self.spec, self.params["x"]
        self.grads["x"][...] = dy.sum() * (2 * s.a * x + s.b)
        return np.zeros(self.in_shape_seen, dtype=self.dtype)
