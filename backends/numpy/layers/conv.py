"""Conv2D, MaxPool2D and AvgPool2D in NumPy, NHWC, vectorized with strided views.

A window is gathered as its taps: tap (i, j) is the strided view of the padded input that
holds window element (i, j) of every window, so forward and backward are one slice per tap
(kh*kw of them), never a loop over pixels or samples.
"""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


def tap(x: np.ndarray, i: int, j: int, out_hw: tuple[int, int], stride: tuple[int, int], dilation=(1, 1)) -> np.ndarray:
    """x[:, dh*i + sh*h, dw*j + sw*w] for every output pixel (h, w): window element (i, j) of
    every window, a strided view into x."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return x[:, dh * i : dh * i + sh * (ho - 1) + 1 : sh, dw * j : dw * j + sw * (wo - 1) + 1 : sw]


def taps(kernel_hw: tuple[int, int]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(kernel_hw[0]) for j in range(kernel_hw[1])]


def pad_image(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value) if any(map(any, pads)) else x


def crop(dxp: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The gradient of the unpadded input: the padded gradient without its padding."""
    (top, bottom), (left, right) = pads
    return dxp[:, top : dxp.shape[1] - bottom, left : dxp.shape[2] - right]


def window_geometry(spec, x: np.ndarray, kernel_hw, stride_hw, dilation_hw=(1, 1)):
    """(before, after) padding per axis and the output (height, width) for ``spec.padding``."""
    sizes = x.shape[1:3]
    pads = tuple(
        L.axis_padding(spec.padding, n, k, s, d)
        for n, k, s, d in zip(sizes, kernel_hw, stride_hw, dilation_hw, strict=True)
    )
    out = tuple(
        L.axis_output(spec.padding, n, k, s, d)
        for n, k, s, d in zip(sizes, kernel_hw, stride_hw, dilation_hw, strict=True)
    )
    return pads, out


@register(L.Conv2D)
class Conv2D(NpLayer):
    """y = act(sum over (i, j, c in the filter's group) of xpad[n, sh*h + dh*i, sw*w + dw*j, c] * kernel[i, j, c, o] + bias[o]).

    im2col: the kh*kw taps of the padded input side by side, one matmul per group.
    dkernel = cols^T dz, dbias = sum(dz); dxpad = dz correlated with the flipped kernel
    (stride 1, one group: one matmul), else dcols = dz kernel^T added back tap by tap.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        s, kernel = self.spec, self.params["kernel"]
        self.pads, self.out_hw = window_geometry(s, x, s.kernel_hw, s.stride_hw, s.dilation_hw)
        self.xp = pad_image(x, self.pads)
        cols = np.stack([tap(self.xp, i, j, self.out_hw, s.stride_hw, s.dilation_hw) for i, j in taps(s.kernel_hw)], 3)
        self.cols = cols.reshape(-1, cols.shape[3], x.shape[3])  # (N*Ho*Wo, kh*kw, C)
        products = [c @ k for c, k in zip(self._group_cols(), self._group_kernels(kernel), strict=True)]
        z = (products[0] if s.groups == 1 else np.concatenate(products, axis=1)).reshape(
            len(x), *self.out_hw, s.filters
        )
        if "bias" in self.params:
            z += self.params["bias"]
        return self.activate(z)

    def _group_cols(self) -> list[np.ndarray]:
        """Each group's (N*Ho*Wo, kh*kw*C/groups) im2col matrix."""
        cg = self.cols.shape[2] // self.spec.groups
        return [self.cols[:, :, g * cg : (g + 1) * cg].reshape(len(self.cols), -1) for g in range(self.spec.groups)]

    def _group_kernels(self, kernel: np.ndarray) -> list[np.ndarray]:
        """Each group's (kh*kw*C/groups, filters/groups) kernel matrix."""
        fg = self.spec.filters // self.spec.groups
        return [kernel[..., g * fg : (g + 1) * fg].reshape(-1, fg) for g in range(self.spec.groups)]

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        s, kernel = self.spec, self.params["kernel"]
        groups, fg = s.groups, s.filters // s.groups
        dz2 = self.activation_grad(dy).reshape(-1, s.filters)
        dz_groups = [dz2[:, g * fg : (g + 1) * fg] for g in range(groups)]
        if groups == 1:  # straight into the gradient's own array
            np.matmul(self._group_cols()[0].T, dz2, out=self.grads["kernel"].reshape(-1, s.filters))
        for g, (c, dz) in enumerate(zip(self._group_cols(), dz_groups, strict=True)):
            if groups > 1:
                self.grads["kernel"][..., g * fg : (g + 1) * fg] = (c.T @ dz).reshape(*kernel.shape[:3], fg)
        if "bias" in self.params:
            dz2.sum(axis=0, out=self.grads["bias"])
        if not self.need_input_grad:
            return None
        # the im2col of dz holds kh*kw*filters numbers a pixel, the scatter adds kh*kw*channels:
        # the correlation is the cheaper one only when filters <= channels (measured: 2x
        # slower at 16 filters on 1 channel, even at 32 on 16; notes/issue-18)
        if s.stride_hw == (1, 1) and groups == 1 and s.filters <= kernel.shape[2]:
            return self._full_correlation(dz2.reshape(len(dy), *self.out_hw, s.filters), kernel)
        n_taps, cg = self.cols.shape[1], self.cols.shape[2] // groups
        products = [
            (dz @ k.T).reshape(-1, n_taps, cg) for dz, k in zip(dz_groups, self._group_kernels(kernel), strict=True)
        ]
        dcols = (products[0] if groups == 1 else np.concatenate(products, axis=2)).reshape(
            len(dy), *self.out_hw, n_taps, -1
        )
        dxp = np.zeros(self.xp.shape, dtype=dy.dtype)
        for t, (i, j) in enumerate(taps(s.kernel_hw)):
            tap(dxp, i, j, self.out_hw, s.stride_hw, s.dilation_hw)[...] += dcols[:, :, :, t]
        return crop(dxp, self.pads)

    def _full_correlation(self, dz: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """dx[n, a, b, c] = sum over (i, j, o) of dzpad[n, top + a + dh*(kh-1-i), left + b + dw*(kw-1-j), o] * kernel[i, j, c, o].

        Stride 1: the input's gradient is the output gradient, padded by the kernel's span,
        correlated with the flipped kernel over the unpadded input's pixels only: one
        im2col of it and one matmul, where the strided path adds kh*kw shifted copies."""
        (kh, kw), (dh, dw) = self.spec.kernel_hw, self.spec.dilation_hw
        (top, bottom), (left, right) = self.pads
        ph, pw = dh * (kh - 1), dw * (kw - 1)
        dzp = np.pad(dz, ((0, 0), (ph - top, ph - bottom), (pw - left, pw - right), (0, 0)))
        h, w = self.xp.shape[1] - top - bottom, self.xp.shape[2] - left - right
        flipped = [tap(dzp, kh - 1 - i, kw - 1 - j, (h, w), (1, 1), (dh, dw)) for i, j in taps((kh, kw))]
        cols = np.stack(flipped, 3).reshape(-1, kh * kw * kernel.shape[3])  # (N*H*W, kh*kw*O)
        kernel_t = kernel.transpose(0, 1, 3, 2).reshape(-1, kernel.shape[2])  # (kh*kw*O, C)
        return (cols @ kernel_t).reshape(len(dz), h, w, kernel.shape[2])


@register(L.MaxPool2D)
class MaxPool2D(NpLayer):
    """y = max over each window (padding is -inf, never the max); dx routes dy to the first maximum of each window."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # One pass per window tap, not an argmax along a window axis: profiled at 45% of
        # the `image` step before. Strict '>' keeps the first maximum of a window, as torch
        # and TF route the gradient.
        s = self.spec
        self.pads, self.out_hw = window_geometry(s, x, s.pool_hw, s.step_hw)
        xp = pad_image(x, self.pads, -np.inf)
        self.padded_shape = xp.shape
        if self._tiles():
            # windows tile the input: one copy puts each tap in its own contiguous block, so
            # the passes below run on whole arrays instead of short strided rows
            (ph, pw), (ho, wo), (n, _, _, c) = s.pool_hw, self.out_hw, xp.shape
            window_taps = list(
                xp.reshape(n, ho, ph, wo, pw, c).transpose(2, 4, 0, 1, 3, 5).reshape(ph * pw, n, ho, wo, c)
            )
        else:
            window_taps = [tap(xp, i, j, self.out_hw, s.step_hw) for i, j in taps(s.pool_hw)]
        # masked writes (np.copyto/np.where with a mask) measured 20x slower than these
        # whole-array ops: tap k wins where it is strictly greater, and since k only grows,
        # the winner's index is the running maximum of k * better
        best = window_taps[0].copy()
        index_type = np.min_scalar_type(len(window_taps))
        self.argmax = np.zeros(best.shape, dtype=index_type)
        better, index = np.empty(best.shape, dtype=bool), np.empty(best.shape, dtype=index_type)
        for k, t in enumerate(window_taps[1:], 1):
            np.greater(t, best, out=better)
            np.maximum(best, t, out=best)
            np.multiply(better, index_type.type(k), out=index)
            np.maximum(self.argmax, index, out=self.argmax)
        return best

    def _tiles(self) -> bool:
        """Whether the windows cover the padded input exactly once (stride = pool, no remainder)."""
        (ph, pw), (ho, wo) = self.spec.pool_hw, self.out_hw
        return self.spec.step_hw == self.spec.pool_hw and self.padded_shape[1:3] == (ho * ph, wo * pw)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        s = self.spec
        (ph, pw), (ho, wo) = s.pool_hw, self.out_hw
        n, _, _, c = self.padded_shape
        if self._tiles():
            # windows tile the input exactly: dx, seen as (N, Ho, ph, Wo, pw, C), is dy times
            # the one-hot of each window's first maximum, in two whole-array ops
            dxp = np.empty(self.padded_shape, dtype=dy.dtype)
            window_ids = np.arange(ph * pw, dtype=self.argmax.dtype).reshape(1, 1, ph, 1, pw, 1)
            first_max = self.argmax[:, :, None, :, None, :] == window_ids
            np.multiply(first_max, dy[:, :, None, :, None, :], out=dxp.reshape(n, ho, ph, wo, pw, c))
            return crop(dxp, self.pads)
        dxp = np.zeros(self.padded_shape, dtype=dy.dtype)
        for k, (i, j) in enumerate(taps(s.pool_hw)):
            tap(dxp, i, j, self.out_hw, s.step_hw)[...] += np.where(self.argmax == k, dy, 0)
        return crop(dxp, self.pads)


@register(L.AvgPool2D)
class AvgPool2D(NpLayer):
    """y = sum over each window / count of its real (unpadded) pixels; dx = dy / count spread over the window."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        s = self.spec
        self.pads, self.out_hw = window_geometry(s, x, s.pool_hw, s.step_hw)
        xp = pad_image(x, self.pads)
        real = pad_image(np.ones((1, *x.shape[1:3], 1), dtype=x.dtype), self.pads)
        self.count = sum(tap(real, i, j, self.out_hw, s.step_hw) for i, j in taps(s.pool_hw))  # (1, Ho, Wo, 1)
        self.padded_shape = xp.shape
        return sum(tap(xp, i, j, self.out_hw, s.step_hw) for i, j in taps(s.pool_hw)) / self.count

    def backward(self, dy: np.ndarray) -> np.ndarray:
        s = self.spec
        dxp = np.zeros(self.padded_shape, dtype=dy.dtype)
        share = dy / self.count
        for i, j in taps(s.pool_hw):
            tap(dxp, i, j, self.out_hw, s.step_hw)[...] += share
        return crop(dxp, self.pads)
