"""Multi-head scaled dot-product self-attention in NumPy, optionally causal."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.activations import softmax
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


@register(L.SelfAttention)
class SelfAttention(NpLayer):
    """q = x wq + bq, k = x wk, v = x wv + bv; heads split the last axis; y = concat_h(softmax(q k^T / sqrt(dh) + mask) v) wo + bo.

    The causal mask blocks keys after the query (score -inf, weight exactly 0).
    """

    def _split(self, a: np.ndarray) -> np.ndarray:
        """(N, T, heads * dh) -> (N, heads, T, dh)."""
        n, steps, _ = a.shape
        return a.reshape(n, steps, self.spec.heads, -1).transpose(0, 2, 1, 3)

    def _project(self, x: np.ndarray, name: str) -> np.ndarray:
        """x w_name (+ b_name): a projection split into heads."""
        out = x @ self.params[f"w{name}"]
        if f"b{name}" in self.params:
            out += self.params[f"b{name}"]
        return out

    @staticmethod
    def _merge(a: np.ndarray) -> np.ndarray:
        """(N, heads, T, dh) -> (N, T, heads * dh)."""
        n, heads, steps, dh = a.shape
        return a.transpose(0, 2, 1, 3).reshape(n, steps, heads * dh)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x
        self.q = self._split(self._project(x, "q"))
        self.k = self._split(self._project(x, "k"))  # no key bias (see spec.layers.SelfAttention)
        self.v = self._split(self._project(x, "v"))
        self.scale = self.dtype.type(1.0 / np.sqrt(self.q.shape[-1]))
        scores = (self.q @ self.k.swapaxes(-1, -2)) * self.scale  # (N, heads, T, T)
        if self.spec.causal:
            steps = x.shape[1]
            blocked = np.triu(np.ones((steps, steps), dtype=bool), 1)
            scores = np.where(blocked, -np.inf, scores)
        self.weights = softmax(scores)
        self.heads_out = self._merge(self.weights @ self.v)
        return self._project(self.heads_out, "o")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        p, g = self.params, self.grads
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
        np.matmul(flat(self.heads_out).T, flat(dy), out=g["wo"])
        if "bo" in g:
            flat(dy).sum(axis=0, out=g["bo"])
        d_heads = self._split(dy @ p["wo"].T)
        d_weights = d_heads @ self.v.swapaxes(-1, -2)
        dv = self.weights.swapaxes(-1, -2) @ d_heads
        # softmax backward; blocked entries have weight 0, so their score gradient is 0
        d_scores = self.weights * (d_weights - (d_weights * self.weights).sum(axis=-1, keepdims=True))
        dq = (d_scores @ self.k) * self.scale
        dk = (d_scores.swapaxes(-1, -2) @ self.q) * self.scale
        dx = np.zeros_like(self.x)
        for name, d_proj in (("q", dq), ("k", dk), ("v", dv)):
            d_proj = flat(self._merge(d_proj))
            np.matmul(flat(self.x).T, d_proj, out=g[f"w{name}"])
            if f"b{name}" in g:
                d_proj.sum(axis=0, out=g[f"b{name}"])
            dx += (d_proj @ p[f"w{name}"].T).reshape(self.x.shape)
        return dx
