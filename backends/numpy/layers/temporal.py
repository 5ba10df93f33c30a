"""Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool and GlobalMaxPool in NumPy on (N, T, C).

A 1-D window is gathered as its ``k`` taps: tap i is the strided slice of the padded input
that holds window element i of every window, so forward and backward are one slice per
tap (never a loop over steps or samples).
"""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


def tap(x: np.ndarray, i: int, steps: int, stride: int, dilation: int = 1) -> np.ndarray:
    """x[:, d*i + s*t] for t < steps: element i of every window (a view into x)."""
    start = i * dilation
    return x[:, start : start + stride * (steps - 1) + 1 : stride]


def pad_steps(x: np.ndarray, pad: tuple[int, int], value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), pad, (0, 0)), constant_values=value) if any(pad) else x


@register(L.Conv1D)
class Conv1D(NpLayer):
    """y = act(sum over (i, c) of xpad[n, s*t + d*i, c] * kernel[i, c, o] + bias[o]).

    dkernel[i] = tap_i(xpad)^T dz, dbias = sum(dz), dxpad += dz kernel[i]^T at tap i.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        s = self.spec
        self.pad = L.axis_padding(s.padding, x.shape[1], s.kernel, s.stride, s.dilation)
        self.xp = pad_steps(x, self.pad)
        self.steps = L.axis_output(s.padding, x.shape[1], s.kernel, s.stride, s.dilation)
        cols = np.stack([tap(self.xp, i, self.steps, s.stride, s.dilation) for i in range(s.kernel)], axis=2)
        self.cols = cols.reshape(-1, s.kernel * x.shape[2])  # (N * To, k * C), im2col
        kernel = self.params["kernel"]
        z = (self.cols @ kernel.reshape(-1, s.filters)).reshape(len(x), self.steps, s.filters)
        if "bias" in self.params:
            z += self.params["bias"]
        return self.activate(z)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        s, kernel = self.spec, self.params["kernel"]
        dz2 = self.activation_grad(dy).reshape(-1, s.filters)
        self.grads["kernel"][...] = (self.cols.T @ dz2).reshape(kernel.shape)
        if "bias" in self.params:
            dz2.sum(axis=0, out=self.grads["bias"])
        if not self.need_input_grad:
            return None
        n, channels = self.xp.shape[0], self.xp.shape[2]
        dcols = (dz2 @ kernel.reshape(-1, s.filters).T).reshape(n, self.steps, s.kernel, channels)
        dxp = np.zeros(self.xp.shape, dtype=dy.dtype)
        for i in range(s.kernel):
            tap(dxp, i, self.steps, s.stride, s.dilation)[...] += dcols[:, :, i]
        before, after = self.pad
        return dxp[:, before : dxp.shape[1] - after]


@register(L.MaxPool1D)
class MaxPool1D(NpLayer):
    """y[t] = max over window t (padding is -inf, never the max); dx routes dy to the first maximum."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        s = self.spec
        self.pad = L.axis_padding(s.padding, x.shape[1], s.pool, s.step)
        self.padded_shape = (x.shape[0], x.shape[1] + sum(self.pad), x.shape[2])
        self.steps = L.axis_output(s.padding, x.shape[1], s.pool, s.step)
        xp = pad_steps(x, self.pad, -np.inf)
        best = tap(xp, 0, self.steps, s.step).copy()
        self.argmax = np.zeros(best.shape, dtype=np.intp)
        for i in range(1, s.pool):
            t = tap(xp, i, self.steps, s.step)
            better = t > best  # strict: the first maximum wins, as torch and TF route the gradient
            np.copyto(best, t, where=better)
            self.argmax[better] = i
        return best

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dxp = np.zeros(self.padded_shape, dtype=dy.dtype)
        for i in range(self.spec.pool):
            tap(dxp, i, self.steps, self.spec.step)[...] += np.where(self.argmax == i, dy, 0)
        before, after = self.pad
        return dxp[:, before : dxp.shape[1] - after]


@register(L.AvgPool1D)
class AvgPool1D(NpLayer):
    """y[t] = sum over window t / count of real (unpadded) steps in it; dx[t'] = sum of dy / count over its windows."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        s = self.spec
        self.pad = L.axis_padding(s.padding, x.shape[1], s.pool, s.step)
        self.steps = L.axis_output(s.padding, x.shape[1], s.pool, s.step)
        xp = pad_steps(x, self.pad)
        real = pad_steps(np.ones((1, x.shape[1], 1), dtype=x.dtype), self.pad)
        self.count = sum(tap(real, i, self.steps, s.step) for i in range(s.pool))  # (1, To, 1)
        self.padded_shape = xp.shape
        return sum(tap(xp, i, self.steps, s.step) for i in range(s.pool)) / self.count

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dxp = np.zeros(self.padded_shape, dtype=dy.dtype)
        share = dy / self.count
        for i in range(self.spec.pool):
            tap(dxp, i, self.steps, self.spec.step)[...] += share
        before, after = self.pad
        return dxp[:, before : dxp.shape[1] - after]


def _inner_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the batch and the channels."""
    return tuple(range(1, x.ndim - 1))


@register(L.GlobalAvgPool)
class GlobalAvgPool(NpLayer):
    """y[n, c] = mean of x[n, ..., c]; dx = dy / count, broadcast over the pooled axes."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.shape = x.shape
        return x.mean(axis=_inner_axes(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        count = int(np.prod(self.shape[1:-1]))
        pooled = (self.shape[0],) + (1,) * (len(self.shape) - 2) + (self.shape[-1],)
        return np.broadcast_to((dy / count).reshape(pooled), self.shape).copy()


@register(L.GlobalMaxPool)
class GlobalMaxPool(NpLayer):
    """y[n, c] = max of x[n, ..., c]; dx = dy shared evenly by the positions that attain it (torch's and TF's rule for ties)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        axes = _inner_axes(x)
        y = x.max(axis=axes, keepdims=True)
        self.winners = x == y
        self.ties = self.winners.sum(axis=axes, keepdims=True)
        return y.reshape(len(x), -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        pooled = dy.reshape(self.ties.shape)
        return np.where(self.winners, pooled / self.ties, 0).astype(dy.dtype)
