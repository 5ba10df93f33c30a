"""Conv2D, MaxPool2D and AvgPool2D as native torch modules on NCHW tensors."""

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


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    (h, w, c), (kh, kw) = ctx.in_shape, layer.kernel_hw
    (top, bottom), (left, right) = ((0, 0), (0, 0))
    if layer.padding == "same":
        (top, bottom), (left, right) = L.same_padding(h, kh, layer.stride), L.same_padding(w, kw, layer.stride)
    conv = Conv2dTFSame(
        c,
        layer.filters,
        (kh, kw),
        stride=layer.stride,
        bias=layer.use_bias,
        pad=(left, right, top, bottom),
        dtype=ctx.dtype,
        device=ctx.device,
    )
    binds = [bind(ctx, "kernel", conv.weight)] + ([bind(ctx, "bias", conv.bias)] if layer.use_bias else [])
    return with_activation(conv, layer, ctx.dtype, dim=1), binds  # softmax over the channels: dim 1 in NCHW


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return nn.MaxPool2d(layer.pool, stride=layer.step), []


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return nn.AvgPool2d(layer.pool, stride=layer.step), []
