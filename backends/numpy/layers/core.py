"""Dense, Activation, Flatten, LastStep and Residual in NumPy."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, build_layer, register
from netparity.spec import layers as L
from netparity.spec.walk import stack


@register(L.Activation)
class Activation(NpLayer):
    """y = f(x); dx = f'(x) dy."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.activate(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.activation_grad(dy)


@register(L.Dense)
class Dense(NpLayer):
    """y = act(x @ W + b); dW = x^T dz, db = sum(dz), dx = dz W^T (over the last axis)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x
        z = x @ self.params["kernel"]
        if "bias" in self.params:
            z += self.params["bias"]
        return self.activate(z)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dz = self.activation_grad(dy)
        n_in = self.x.shape[-1]
        x2, dz2 = self.x.reshape(-1, n_in), dz.reshape(-1, dz.shape[-1])
        np.matmul(x2.T, dz2, out=self.grads["kernel"])
        if "bias" in self.params:
            dz2.sum(axis=0, out=self.grads["bias"])
        return dz @ self.params["kernel"].T if self.need_input_grad else None


@register(L.Flatten)
class Flatten(NpLayer):
    """y = x.reshape(batch, -1) (channels-last order)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.shape)


@register(L.LastStep)
class LastStep(NpLayer):
    """y = x[:, -1]; dx is dy at the last step, zero elsewhere."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.shape = x.shape
        return x[:, -1]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.zeros(self.shape, dtype=dy.dtype)
        dx[:, -1] = dy
        return dx


@register(L.Residual)
class Residual(NpLayer):
    """y = x + f(x); dx = dy + f'(x)^T dy."""

    def __init__(self, spec: L.Residual, in_shape: L.Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> None:
        super().__init__(spec, in_shape, params, dtype)
        self.inner: list[NpLayer] = []
        self.grads, self.state = {}, {}
        for site in stack(spec.layers, in_shape):
            own = {k[len(site.prefix) :]: v for k, v in params.items() if k.startswith(site.prefix)}
            inner = build_layer(site.layer, site.in_shape, own, dtype)
            self.inner.append(inner)
            # share the inner layer's gradient and state arrays under prefixed names
            self.grads.update({site.prefix + k: g for k, g in inner.grads.items()})
            self.state.update({site.prefix + k: s for k, s in inner.state.items()})

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = x
        for layer in self.inner:
            y = layer.forward(y, training)
        return x + y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d = dy
        for layer in reversed(self.inner):
            d = layer.backward(d)
        return dy + d
