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

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        # positions sorted by token (stably), then one sum per run of equal tokens: a few
        # whole-array calls where np.add.at scatters element by element (3x slower)
        ids = self.ids.ravel()
        order = np.argsort(ids, kind="stable")
        tokens = ids[order]
        starts = np.flatnonzero(np.diff(tokens, prepend=-1))  # where each token's run begins
        grad = self.grads["embeddings"]
        grad[...] = 0
        grad[tokens[starts]] = np.add.reduceat(dy.reshape(-1, dy.shape[-1])[order], starts, axis=0)
        # token ids have no gradient
        return np.zeros(self.ids.shape, dtype=dy.dtype) if self.need_input_grad else None


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


def recurrent_output_gradient(dy: np.ndarray, dh: np.ndarray, return_sequences: bool) -> np.ndarray | None:
    """Start of a recurrent layer's backward: ``dh`` (H, N) set to the last step's output
    gradient, or to 0 with every step's gradient returned time-major (T, H, N) when the
    layer returns sequences (added step by step in the loop)."""
    if return_sequences:
        dh[...] = 0.0
        return np.ascontiguousarray(dy.transpose(1, 2, 0))
    dh[...] = dy.T
    return None


@register(L.LSTM)
class LSTM(NpLayer):
    """z = x_t W + h U + b (+ b_r) split into gates i, f, g, o; c = f*c + i*g; h = o*tanh(c); db = db_r = sum(dz).

    Inside, every step's arrays are feature-major, (features, N), so that each gate is a
    contiguous block of rows, and the gates are ordered o, i, f, g (``ORDER``): one tanh
    covers all four (the sigmoid gates' columns of W, U, b are pre-scaled by 1/2, exactly, as
    sigmoid(z) = (1 + tanh(z/2)) / 2) and one in-place affine turns three of them into
    sigmoids. ``acts[t]`` holds o, i, f, g of step t and then c_{t-1}, so that i*g and
    f*c_{t-1} are one product. The inputs' half of z for every step is one batched GEMM; each
    step is one small GEMM (h U + b: the bias through a row of ones under h) and eight
    whole-block ops, on buffers kept between calls; backward ends with one GEMM for all the
    weight gradients.
    Parameters and their gradients keep the canonical layout and order i, f, g, o. Backward
    is backpropagation through time.
    """

    ORDER = (3, 0, 1, 2)  # canonical gate blocks i, f, g, o -> internal o, i, f, g

    def internal(self, w: np.ndarray) -> np.ndarray:
        """w (..., 4H) with its gate blocks in the internal order (a copy)."""
        u = self.spec.units
        return w.reshape(*w.shape[:-1], 4, u)[..., list(self.ORDER), :].reshape(w.shape)

    def set_canonical(self, grad: np.ndarray, internal: np.ndarray) -> None:
        """grad (..., 4H, canonical order) = internal (..., 4H, internal order), in place."""
        u = self.spec.units
        for j, k in enumerate(self.ORDER):
            grad[..., k * u : (k + 1) * u] = internal[..., j * u : (j + 1) * u]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, steps, _ = x.shape
        u, p = self.spec.units, self.params
        bias = p["bias"] + p["recurrent_bias"] if "recurrent_bias" in p else p["bias"]
        halves = np.ones((4 * u, 1), dtype=x.dtype)
        halves[: 3 * u] = 0.5  # o, i, f enter tanh as z/2 (a power of two: exact)
        kernel_t = self.internal(p["kernel"]).T * halves  # (4H, D)
        recurrent_t = self.buffer("recurrent_t", (4 * u, u + 1))  # [U^T b] (4H, H + 1), times halves
        np.multiply(self.internal(p["recurrent_kernel"]).T, halves, out=recurrent_t[:, :u])
        np.multiply(self.internal(bias)[:, None], halves, out=recurrent_t[:, u:])
        self.x = x
        self.acts = acts = self.buffer("acts", (steps + 1, 5 * u, n))  # o, i, f, g, c_{t-1}
        self.h = h = self.buffer("h", (steps + 1, u + 1, n))  # h[t + 1] = [h_t; 1]; h[0] = [0; 1]
        self.tanh_c = tanh_c = self.buffer("tanh_c", (steps, u, n))
        z_h, products = self.buffer("z_h", (4 * u, n)), self.buffer("products", (2 * u, n))
        half = np.array(0.5, dtype=x.dtype)  # a 0-d array: a Python float costs ~0.3 us more per call
        # z's input half of every step at once: W^T x_t^T, one GEMM per step inside matmul
        np.matmul(kernel_t, x.transpose(1, 2, 0), out=acts[:steps, : 4 * u])
        acts[0, 4 * u :] = 0.0  # c_{-1}
        h[0, :u] = 0.0
        h[:, u] = 1.0  # the bias's row
        p_ig, p_fc = products[:u], products[u:]
        # per-step views made in one go (indexing inside the loop costs ~0.2 us a view)
        views = zip(
            acts[:steps, : 4 * u], acts[:steps, : 3 * u], acts[:steps, :u], acts[:steps, u : 3 * u],
            acts[:steps, 3 * u :], acts[1:, 4 * u :], tanh_c, h[:steps], h[1:, :u], strict=True,
        )  # fmt: skip
        for t, (z, sig, o, i_f, g_c, c, tanh_c_t, h_prev, h_t) in enumerate(views):
            if t:
                np.matmul(recurrent_t, h_prev, out=z_h)  # h U + b
                z += z_h
            else:  # h_{-1} = 0
                z += recurrent_t[:, u:]
            np.tanh(z, out=z)  # g = tanh(z_g); o, i, f hold tanh(z/2)
            np.multiply(sig, half, sig)  # sigmoid = (1 + tanh(z/2)) / 2 for o, i, f
            np.add(sig, half, sig)
            np.multiply(i_f, g_c, out=products)  # [i * g; f * c_{t-1}]
            np.add(p_ig, p_fc, out=c)
            np.tanh(c, out=tanh_c_t)
            np.multiply(o, tanh_c_t, out=h_t)
        out = h[1:, :u].transpose(2, 0, 1) if self.spec.return_sequences else h[-1, :u].T
        return np.ascontiguousarray(out)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        n, steps, _ = self.x.shape
        u, p = self.spec.units, self.params
        recurrent = self.internal(p["recurrent_kernel"])  # (H, 4H): dh = U dz
        acts = self.acts[:steps]
        o, i, f, g = (acts[:, k * u : (k + 1) * u] for k in range(4))
        # Local derivatives of every step at once, outside the sequential loop, so that
        # dz_o = dh * local_o and dz_{i,f,g} = dc * local_{i,f,g}, and dc += dh * dc_dh:
        # o: tanh(c) o(1-o); i: g i(1-i); f: c_{t-1} f(1-f); g: i (1-g^2); dc_dh = o (1-tanh(c)^2)
        local = self.buffer("local", (steps, 4 * u, n))
        sig = local[:, : 3 * u]
        np.subtract(1, acts[:, : 3 * u], out=sig)
        sig *= acts[:, : 3 * u]
        local[:, :u] *= self.tanh_c
        local[:, u : 3 * u] *= acts[:, 3 * u :]  # [g; c_{t-1}]
        local_g = local[:, 3 * u :]
        np.square(g, out=local_g)
        np.subtract(1, local_g, out=local_g)
        local_g *= i
        dc_dh = self.buffer("dc_dh", (steps, u, n))
        np.square(self.tanh_c, out=dc_dh)
        np.subtract(1, dc_dh, out=dc_dh)
        dc_dh *= o
        dh, dc, tmp = self.buffer("dh", (u, n)), self.buffer("dc", (u, n)), self.buffer("tmp", (u, n))
        dh_out = recurrent_output_gradient(dy, dh, self.spec.return_sequences)
        dc[...] = 0.0
        dz = self.buffer("dz", (steps, 4 * u, n))  # internal order o, i, f, g
        for t in reversed(range(steps)):
            if dh_out is not None:
                dh += dh_out[t]
            dz_t, local_t = dz[t], local[t]
            np.multiply(dh, local_t[:u], out=dz_t[:u])  # dz_o
            np.multiply(dh, dc_dh[t], out=tmp)
            dc += tmp
            np.multiply(dc, local_t[u:].reshape(3, u, n), out=dz_t[u:].reshape(3, u, n))  # dz_i, dz_f, dz_g
            if t:  # nothing flows into h_{-1}, c_{-1}
                dc *= f[t]
                np.matmul(recurrent, dz_t, out=dh)
        # the weight gradients of all steps in one GEMM over (step, example) pairs t*N + n:
        # [dW^T dU^T db] = dz [x_t h_{t-1} 1]
        dz2 = self.buffer("dz2", (4 * u, steps * n))
        dz2.reshape(4 * u, steps, n)[...] = dz.transpose(1, 0, 2)
        d = self.x.shape[-1]
        inputs = self.buffer("inputs", (steps, n, d + u + 1))
        inputs[:, :, :d] = self.x.transpose(1, 0, 2)
        inputs[:, :, d:] = self.h[:steps].transpose(0, 2, 1)
        grads = dz2 @ inputs.reshape(steps * n, -1)
        self.set_canonical(self.grads["kernel"], grads[:, :d].T)
        self.set_canonical(self.grads["recurrent_kernel"], grads[:, d : d + u].T)
        self.set_canonical(self.grads["bias"], grads[:, -1])
        if "recurrent_bias" in p:  # enters z like bias: the same gradient
            self.grads["recurrent_bias"][...] = self.grads["bias"]
        if not self.need_input_grad:
            return None
        dx = dz2.T @ self.internal(p["kernel"]).T  # (T*N, D)
        return np.ascontiguousarray(dx.reshape(steps, n, -1).transpose(1, 0, 2))
