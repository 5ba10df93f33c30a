"""Embedding, PositionalEmbedding, LSTM and LayerNorm in NumPy (sequences are (N, T, D))."""

from __future__ import annotations

import numpy as np
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


def sigmoid_in_place(z: np.ndarray) -> None:
    """z = 1 / (1 + e^-z), evaluated as (1 + tanh(z/2)) / 2: the same function in four in-place
    whole-array ops, bounded for any z (activations.sigmoid allocates seven arrays a call)."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


@register(L.LSTM)
class LSTM(NpLayer):
    """z = x_t W + h U + b (+ b_r) split into gates i, f, g, o; c = f*c + i*g; h = o*tanh(c); db = db_r = sum(dz).

    The inputs' half of z for every step is one GEMM; each step is then one small GEMM and
    in-place elementwise ops on time-major buffers. Inside, the gate blocks are ordered
    i, f, o, g (``ORDER``) so that one sigmoid covers three of them; parameters and their
    gradients keep the canonical i, f, g, o. Backward is backpropagation through time.
    """

    ORDER = (0, 1, 3, 2)  # canonical gate blocks i, f, g, o -> internal i, f, o, g

    def _order(self) -> np.ndarray:
        """Column permutation from the canonical (i, f, g, o) layout to the internal one."""
        u = self.spec.units
        return np.concatenate([np.arange(k * u, (k + 1) * u) for k in self.ORDER])

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, steps, _ = x.shape
        u = self.spec.units
        order = self._order()
        bias = (
            self.params["bias"] + self.params["recurrent_bias"]
            if "recurrent_bias" in self.params
            else self.params["bias"]
        )
        self.x = x
        self.recurrent = self.params["recurrent_kernel"][:, order]  # (H, 4H), internal order
        # z's input half for every step at once, time-major: (T, N, 4H)
        x_proj = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(steps * n, -1) @ self.params["kernel"][:, order]
        x_proj = (x_proj + bias[order]).reshape(steps, n, 4 * u)
        self.gates = x_proj  # activated in place below: i, f, o (sigmoid), g (tanh)
        self.h = np.zeros((steps + 1, n, u), dtype=x.dtype)  # h[t + 1] is h_t; h[0] = 0
        self.c = np.zeros((steps + 1, n, u), dtype=x.dtype)
        self.tanh_c = np.empty((steps, n, u), dtype=x.dtype)
        ig = np.empty((n, u), dtype=x.dtype)
        for t in range(steps):
            z = self.gates[t]
            z += self.h[t] @ self.recurrent
            sigmoid_in_place(z[:, : 3 * u])
            np.tanh(z[:, 3 * u :], out=z[:, 3 * u :])
            i, f, o, g = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
            np.multiply(f, self.c[t], out=self.c[t + 1])
            np.multiply(i, g, out=ig)
            self.c[t + 1] += ig
            np.tanh(self.c[t + 1], out=self.tanh_c[t])
            np.multiply(o, self.tanh_c[t], out=self.h[t + 1])
        h = self.h[1:].transpose(1, 0, 2) if self.spec.return_sequences else self.h[-1]
        return np.ascontiguousarray(h)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, steps, _ = self.x.shape
        u = self.spec.units
        recurrent_t = np.ascontiguousarray(self.recurrent.T)  # (4H, H)
        dh_out = dy.transpose(1, 0, 2) if self.spec.return_sequences else None
        dz = np.empty((steps, n, 4 * u), dtype=dy.dtype)  # internal order i, f, o, g
        dh = np.zeros((n, u), dtype=dy.dtype)
        dc = np.zeros((n, u), dtype=dy.dtype)
        tmp = np.empty((n, u), dtype=dy.dtype)
        # the local derivatives of every step at once, outside the sequential loop:
        # sigmoid' = s (1 - s) for i, f, o; tanh' = 1 - g^2; dh -> dc through o (1 - tanh(c)^2)
        sig = self.gates[:, :, : 3 * u]
        d_sig = sig * (1 - sig)
        d_g = 1 - np.square(self.gates[:, :, 3 * u :])
        d_c = self.gates[:, :, 2 * u : 3 * u] * (1 - np.square(self.tanh_c))
        for t in reversed(range(steps)):
            if dh_out is not None:
                dh += dh_out[t]
            elif t == steps - 1:
                dh += dy
            gates, dz_t = self.gates[t], dz[t]
            i, f, g = gates[:, :u], gates[:, u : 2 * u], gates[:, 3 * u :]
            di, df, do, dg = dz_t[:, :u], dz_t[:, u : 2 * u], dz_t[:, 2 * u : 3 * u], dz_t[:, 3 * u :]
            np.multiply(dh, self.tanh_c[t], out=do)  # d(o) = dh * tanh(c)
            np.multiply(dh, d_c[t], out=tmp)
            dc += tmp
            np.multiply(dc, g, out=di)  # d(i) = dc * g
            np.multiply(dc, self.c[t], out=df)  # d(f) = dc * c_{t-1}
            dz_t[:, : 3 * u] *= d_sig[t]  # through the three sigmoids at once
            np.multiply(dc, i, out=dg)  # dz_g = dc * i * (1 - g^2)
            dg *= d_g[t]
            dc *= f  # flows to step t - 1
            np.matmul(dz_t, recurrent_t, out=dh)
        order = self._order()
        dz2 = dz.reshape(-1, 4 * u)
        x2 = self.x.transpose(1, 0, 2).reshape(-1, self.x.shape[-1])
        self.grads["kernel"][:, order] = x2.T @ dz2
        self.grads["recurrent_kernel"][:, order] = self.h[:-1].reshape(-1, u).T @ dz2
        self.grads["bias"][order] = dz2.sum(axis=0)
        if "recurrent_bias" in self.params:  # enters z like bias: the same gradient
            self.grads["recurrent_bias"][...] = self.grads["bias"]
        dx = (dz2 @ self.params["kernel"][:, order].T).reshape(steps, n, -1)
        return np.ascontiguousarray(dx.transpose(1, 0, 2))
