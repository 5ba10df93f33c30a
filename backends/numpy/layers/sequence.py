"""Embedding, PositionalEmbedding, LSTM and LayerNorm in NumPy (sequences are (N, T, D))."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.activations import sigmoid
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


@register(L.Embedding)
class Embedding(NpLayer):
    """y[n, t] = E[ids[n, t]]; dE[v] = sum of dy over the positions holding token v."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.ids = x
        return self.params["embeddings"][x]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        grad = self.grads["embeddings"]
        grad[...] = 0
        np.add.at(grad, self.ids, dy)
        return np.zeros(self.ids.shape, dtype=dy.dtype)  # token ids have no gradient


@register(L.PositionalEmbedding)
class PositionalEmbedding(NpLayer):
    """y[:, t] = x[:, t] + E[t]; dE[t] = sum over the batch of dy[:, t] (rows past T get 0)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x + self.params["embeddings"][: x.shape[1]]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        grad = self.grads["embeddings"]
        grad[...] = 0
        dy.sum(axis=0, out=grad[: dy.shape[1]])
        return dy


@register(L.LayerNorm)
class LayerNorm(NpLayer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis (biased var)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.dtype.type(self.spec.epsilon))
        self.x_hat = centered * self.inv_std
        return self.x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        d = dy.shape[-1]
        dy2, x_hat2 = dy.reshape(-1, d), self.x_hat.reshape(-1, d)
        (dy2 * x_hat2).sum(axis=0, out=self.grads["gamma"])
        dy2.sum(axis=0, out=self.grads["beta"])
        # dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * gamma
        g = dy * self.params["gamma"]
        mean_g = g.mean(axis=-1, keepdims=True)
        mean_gx = (g * self.x_hat).mean(axis=-1, keepdims=True)
        return self.inv_std * (g - mean_g - self.x_hat * mean_gx)


@register(L.LSTM)
class LSTM(NpLayer):
    """z = x_t W + h U + b (+ b_r) split into gates i, f, g, o; c = f*c + i*g; h = o*tanh(c); db = db_r = sum(dz).

    One fused (N, 4H) matmul per step; backward is backpropagation through time.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, steps, _ = x.shape
        units = self.spec.units
        kernel, recurrent = self.params["kernel"], self.params["recurrent_kernel"]
        self.x = x
        x_proj = x @ kernel + self.params["bias"]  # the input half of every step's z at once
        if "recurrent_bias" in self.params:
            x_proj += self.params["recurrent_bias"]
        self.gates = np.empty((n, steps, 4 * units), dtype=x.dtype)  # i, f, g, o after activation
        self.h = np.zeros((n, steps + 1, units), dtype=x.dtype)  # h[:, t + 1] is h_t; h[:, 0] = 0
        self.c = np.zeros((n, steps + 1, units), dtype=x.dtype)
        self.tanh_c = np.empty((n, steps, units), dtype=x.dtype)
        for t in range(steps):
            z = x_proj[:, t] + self.h[:, t] @ recurrent
            gates = self.gates[:, t]
            gates[:, : 2 * units] = sigmoid(z[:, : 2 * units])  # i, f
            gates[:, 2 * units : 3 * units] = np.tanh(z[:, 2 * units : 3 * units])  # g
            gates[:, 3 * units :] = sigmoid(z[:, 3 * units :])  # o
            i, f, g, o = np.split(gates, 4, axis=1)
            self.c[:, t + 1] = f * self.c[:, t] + i * g
            self.tanh_c[:, t] = np.tanh(self.c[:, t + 1])
            self.h[:, t + 1] = o * self.tanh_c[:, t]
        return self.h[:, 1:].copy() if self.spec.return_sequences else self.h[:, -1].copy()

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, steps, _ = self.x.shape
        units = self.spec.units
        recurrent = self.params["recurrent_kernel"]
        dh_out = dy if self.spec.return_sequences else None
        dz = np.empty((n, steps, 4 * units), dtype=dy.dtype)
        dh_next = np.zeros((n, units), dtype=dy.dtype)
        dc_next = np.zeros((n, units), dtype=dy.dtype)
        for t in reversed(range(steps)):
            dh = dh_next + (dh_out[:, t] if dh_out is not None else (dy if t == steps - 1 else 0))
            i, f, g, o = np.split(self.gates[:, t], 4, axis=1)
            tanh_c = self.tanh_c[:, t]
            dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
            dz_t = dz[:, t]
            dz_t[:, :units] = dc * g * i * (1 - i)
            dz_t[:, units : 2 * units] = dc * self.c[:, t] * f * (1 - f)
            dz_t[:, 2 * units : 3 * units] = dc * i * (1 - g * g)
            dz_t[:, 3 * units :] = dh * tanh_c * o * (1 - o)
            dc_next = dc * f
            dh_next = dz_t @ recurrent.T
        dz2 = dz.reshape(-1, 4 * units)
        np.matmul(self.x.reshape(-1, self.x.shape[-1]).T, dz2, out=self.grads["kernel"])
        np.matmul(self.h[:, :-1].reshape(-1, units).T, dz2, out=self.grads["recurrent_kernel"])
        dz2.sum(axis=0, out=self.grads["bias"])
        if "recurrent_bias" in self.params:  # enters z like bias: the same gradient
            self.grads["recurrent_bias"][...] = self.grads["bias"]
        return dz @ self.params["kernel"].T
