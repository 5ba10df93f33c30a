"""Conv2D, MaxPool2D and AvgPool2D in NumPy, NHWC, vectorized with stride tricks.

Windows come from ``sliding_window_view`` (a view, no copy); the backward passes scatter
the window gradients back with one strided add per kernel tap (kh*kw of them), never a
loop over pixels or samples.
"""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """(N, H, W, C) -> (N, Ho, Wo, kh, kw, C) view of every window at the given stride."""
    w = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return w.transpose(0, 1, 2, 4, 5, 3)


def scatter_windows(dwin: np.ndarray, in_shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Adjoint of ``windows``: add each window's gradient (N, Ho, Wo, kh, kw, C) back onto the input."""
    _, ho, wo, kh, kw, _ = dwin.shape
    dx = np.zeros(in_shape, dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride] += dwin[:, :, :, i, j]
    return dx


@register(L.Conv2D)
class Conv2D(NpLayer):
    """y = act(sum over (i, j, c) of xpad[n, s*h+i, s*w+j, c] * kernel[i, j, c, o] + bias[o]) (im2col matmul).

    dkernel = cols^T dz, dbias = sum(dz), dcols = dz kernel^T scattered back to the padded input.
    """

    def pads(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        (kh, kw), s = self.spec.kernel_hw, self.spec.stride
        if self.spec.padding == "valid":
            return (0, 0), (0, 0)
        return L.same_padding(h, kh, s), L.same_padding(w, kw, s)  # TF SAME: extra pixel after

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        (kh, kw), s = self.spec.kernel_hw, self.spec.stride
        self.pad_hw = self.pads(x.shape[1], x.shape[2])
        self.xp = np.pad(x, ((0, 0), *self.pad_hw, (0, 0))) if any(map(any, self.pad_hw)) else x
        cols = windows(self.xp, kh, kw, s)  # (N, Ho, Wo, kh, kw, C)
        self.cols_shape = cols.shape
        self.cols = cols.reshape(-1, kh * kw * x.shape[3])  # copies: the im2col matrix
        kernel = self.params["kernel"]
        z = (self.cols @ kernel.reshape(-1, kernel.shape[3])).reshape(*cols.shape[:3], kernel.shape[3])
        if "bias" in self.params:
            z += self.params["bias"]
        return self.activate(z)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dz = self.activation_grad(dy)
        kernel = self.params["kernel"]
        dz2 = dz.reshape(-1, kernel.shape[3])
        self.grads["kernel"][...] = (self.cols.T @ dz2).reshape(kernel.shape)
        if "bias" in self.params:
            dz2.sum(axis=0, out=self.grads["bias"])
        if not self.need_input_grad:
            return None
        dcols = (dz2 @ kernel.reshape(-1, kernel.shape[3]).T).reshape(self.cols_shape)
        dxp = scatter_windows(dcols, self.xp.shape, self.spec.stride)
        (top, bottom), (left, right) = self.pad_hw
        return dxp[:, top : dxp.shape[1] - bottom, left : dxp.shape[2] - right]


@register(L.MaxPool2D)
class MaxPool2D(NpLayer):
    """y = max over each pool x pool window; dx routes dy to the first maximum of each window."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # One pass per window tap (p*p strided slices), not an argmax along a strided window
        # axis: profiled at 45% of the `image` step before. Strict '>' keeps the first maximum
        # of a window, as torch and TF route the gradient.
        self.in_shape_n = x.shape
        best, self.argmax = None, None
        for k, tap in enumerate(self._taps(x)):
            if best is None:
                best, self.argmax = tap.copy(), np.zeros(tap.shape, dtype=np.intp)
                continue
            better = tap > best
            np.copyto(best, tap, where=better)
            self.argmax[better] = k
        return best

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.zeros(self.in_shape_n, dtype=dy.dtype)
        for k, tap in enumerate(self._taps(dx)):
            tap += np.where(self.argmax == k, dy, 0)  # tap is a view into dx
        return dx

    def _taps(self, x: np.ndarray):
        """The p*p strided views x[:, i::s, j::s] that hold window element (i, j) of every window."""
        p, s = self.spec.pool, self.spec.step
        ho, wo = (x.shape[1] - p) // s + 1, (x.shape[2] - p) // s + 1
        for i in range(p):
            for j in range(p):
                yield x[:, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]


@register(L.AvgPool2D)
class AvgPool2D(NpLayer):
    """y = mean over each pool x pool window; dx = dy / pool^2 spread over the window."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        p, s = self.spec.pool, self.spec.step
        win = windows(x, p, p, s)
        self.in_shape_n, self.win_shape = x.shape, win.shape
        return win.mean(axis=(3, 4))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        p = self.spec.pool
        dwin = np.broadcast_to((dy / (p * p))[:, :, :, None, None, :], self.win_shape)
        return scatter_windows(dwin, self.in_shape_n, self.spec.step)
