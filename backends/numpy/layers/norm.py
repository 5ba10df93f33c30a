"""BatchNorm in NumPy: batch statistics in training, moving statistics in inference."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


@register(L.BatchNorm)
class BatchNorm(NpLayer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over all but the last (channel) axis.

    Training: biased batch mean/var, then moving = m * moving + (1 - m) * batch (the spec's
    convention, biased variance too). dx = gamma/std * (dy - mean(dy) - xhat * mean(dy * xhat))
    in training (the statistics depend on x), dx = gamma/std * dy in inference.
    """

    def __init__(self, spec: L.BatchNorm, in_shape: L.Shape, params: dict[str, np.ndarray], dtype: np.dtype) -> None:
        super().__init__(spec, in_shape, params, dtype)
        channels = (in_shape[-1],)
        self.state = {"moving_mean": np.zeros(channels, dtype), "moving_var": np.ones(channels, dtype)}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        axes = tuple(range(x.ndim - 1))
        eps, m = self.spec.epsilon, self.spec.momentum
        self.training = training
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            for name, stat in (("moving_mean", mean), ("moving_var", var)):
                self.state[name][...] = self.state[name] * m + stat * (1.0 - m)
        else:
            mean, var = self.state["moving_mean"], self.state["moving_var"]
        self.inv_std = 1.0 / np.sqrt(var + eps)
        self.xhat = (x - mean) * self.inv_std
        return self.xhat * self.params["gamma"] + self.params["beta"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        axes = tuple(range(dy.ndim - 1))
        self.grads["gamma"][...] = (dy * self.xhat).sum(axis=axes)
        self.grads["beta"][...] = dy.sum(axis=axes)
        dxhat = dy * self.params["gamma"]
        if not self.training:
            return dxhat * self.inv_std
        mean_dxhat = dxhat.mean(axis=axes)
        mean_dxhat_xhat = (dxhat * self.xhat).mean(axis=axes)
        return self.inv_std * (dxhat - mean_dxhat - self.xhat * mean_dxhat_xhat)
