"""Conv2D, MaxPool2D and AvgPool2D as native torch modules on NCHW tensors (TF SAME padding explicit)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register, with_activation
from netparity.spec import layers as L
from torch import nn


class Conv2dTFSame(nn.Conv2d):
    """nn.Conv2d with TF 'SAME' padding: the extra row/column goes bottom/right (docs/semantics.md §3).

    torch's own padding='same' refuses stride > 1, and symmetric integer padding puts the
    odd pixel on both sides, so the input is padded explicitly with F.pad."""

    def __init__(self, *args, pad: tuple[int, int, int, int], **kw) -> None:
        super().__init__(*args, padding=0, **kw)
        self.pad = pad  # F.pad order: (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


def _pads(layer, in_shape, kernel_hw, stride_hw, dilation_hw=(1, 1)) -> tuple[int, int, int, int]:
    """The spec's padding for F.pad: (left, right, top, bottom)."""
    (h, w, _), (kh, kw), (sh, sw), (dh, dw) = in_shape, kernel_hw, stride_hw, dilation_hw
    (top, bottom), (left, right) = (
        L.axis_padding(layer.padding, h, kh, sh, dh),
        L.axis_padding(layer.padding, w, kw, sw, dw),
    )
    return (left, right, top, bottom)


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    conv = Conv2dTFSame(
        ctx.in_shape[-1],
        layer.filters,
        layer.kernel_hw,
        stride=layer.stride_hw,
        dilation=layer.dilation_hw,
        groups=layer.groups,  # weight (out, in / groups, kh, kw): the canonical kernel permuted, as ungrouped
        bias=layer.use_bias,
        pad=_pads(layer, ctx.in_shape, layer.kernel_hw, layer.stride_hw, layer.dilation_hw),
        dtype=ctx.dtype,
        device=ctx.device,
    )
    binds = [bind(ctx, "kernel", conv.weight)] + ([bind(ctx, "bias", conv.bias)] if layer.use_bias else [])
    return with_activation(conv, layer, ctx, dim=1), binds  # softmax over the channels: dim 1 in NCHW


class MaxPool2dTFSame(nn.MaxPool2d):
    """nn.MaxPool2d after F.pad with -inf (never the maximum): TF's 'same' windows, the extra
    row/column bottom/right (nn.MaxPool2d's own padding is symmetric and at most half the window)."""

    def __init__(self, pool: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int, int, int]) -> None:
        super().__init__(pool, stride)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad, value=-torch.inf) if any(self.pad) else x)


class AvgPool2dTFSame(nn.Module):
    """TF's 'same' average pooling: the mean over each window's real pixels. nn.AvgPool2d's
    count_include_pad=False pads symmetrically only, so: avg_pool2d of the zero-padded input
    over avg_pool2d of the zero-padded ones (their common 1/window cancels)."""

    def __init__(self, pool: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int, int, int], hw) -> None:
        super().__init__()
        self.pool, self.stride, self.pad = pool, stride, pad
        self.register_buffer("real", torch.ones(1, 1, *hw), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = F.avg_pool2d(F.pad(self.real.to(x.dtype), self.pad), self.pool, self.stride)
        return F.avg_pool2d(F.pad(x, self.pad), self.pool, self.stride) / real


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    pad = _pads(layer, ctx.in_shape, layer.pool_hw, layer.step_hw)
    return MaxPool2dTFSame(layer.pool_hw, layer.step_hw, pad) if any(pad) else nn.MaxPool2d(
        layer.pool_hw, layer.step_hw
    ), []


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    pad = _pads(layer, ctx.in_shape, layer.pool_hw, layer.step_hw)
    if any(pad):
        return AvgPool2dTFSame(layer.pool_hw, layer.step_hw, pad, ctx.in_shape[:2]), []
    return nn.AvgPool2d(layer.pool_hw, stride=layer.step_hw), []
