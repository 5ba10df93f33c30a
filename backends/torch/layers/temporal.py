"""Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool and GlobalMaxPool as torch modules.

Sequences stay (N, T, C) between layers (as for LSTM, batch_first); the 1-D modules move
the channels to dim 1 for torch's NCT kernels and back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register, with_activation
from netparity.spec import layers as L
from torch import nn


class Conv1dChannelsLast(nn.Conv1d):
    """nn.Conv1d on (N, T, C) with explicit (before, after) padding: TF's 'same' (extra step
    after; torch's padding='same' refuses stride > 1) and 'causal' (all before), which torch lacks."""

    def __init__(self, *args, pad: tuple[int, int], **kw) -> None:
        super().__init__(*args, padding=0, **kw)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x).transpose(1, 2)


@register(L.Conv1D)
def conv1d(layer: L.Conv1D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    steps, channels = ctx.in_shape
    conv = Conv1dChannelsLast(
        channels,
        layer.filters,
        layer.kernel,
        stride=layer.stride,
        dilation=layer.dilation,
        bias=layer.use_bias,
        pad=L.axis_padding(layer.padding, steps, layer.kernel, layer.stride, layer.dilation),
        dtype=ctx.dtype,
        device=ctx.device,
    )
    binds = [bind(ctx, "kernel", conv.weight)] + ([bind(ctx, "bias", conv.bias)] if layer.use_bias else [])
    return with_activation(conv, layer, ctx), binds


class MaxPool1dChannelsLast(nn.MaxPool1d):
    """nn.MaxPool1d on (N, T, C); 'same' pads with -inf (never the maximum) before and after."""

    def __init__(self, pool: int, stride: int, pad: tuple[int, int]) -> None:
        super().__init__(pool, stride)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        if any(self.pad):
            x = F.pad(x, self.pad, value=-torch.inf)
        return super().forward(x).transpose(1, 2)


class AvgPool1dTFSame(nn.Module):
    """TF's 'same' average pooling on (N, T, C): the mean over the real steps of each window.

    nn.AvgPool1d(count_include_pad=False) pads both sides equally; TF puts the odd step
    after. So sum(window) / count(real steps) is avg_pool1d of the zero-padded input over
    avg_pool1d of the zero-padded ones (both scale by 1/pool, which cancels)."""

    def __init__(self, pool: int, stride: int, pad: tuple[int, int], steps: int) -> None:
        super().__init__()
        self.pool, self.stride, self.pad = pool, stride, pad
        self.register_buffer("real", torch.ones(1, 1, steps), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = F.avg_pool1d(F.pad(self.real.to(x.dtype), self.pad), self.pool, self.stride)
        return (F.avg_pool1d(F.pad(x.transpose(1, 2), self.pad), self.pool, self.stride) / real).transpose(1, 2)


class AvgPool1dChannelsLast(nn.AvgPool1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


@register(L.MaxPool1D)
def max_pool1d(layer: L.MaxPool1D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    pad = L.axis_padding(layer.padding, ctx.in_shape[0], layer.pool, layer.step)
    return MaxPool1dChannelsLast(layer.pool, layer.step, pad), []


@register(L.AvgPool1D)
def avg_pool1d(layer: L.AvgPool1D, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    pad = L.axis_padding(layer.padding, ctx.in_shape[0], layer.pool, layer.step)
    if any(pad):
        return AvgPool1dTFSame(layer.pool, layer.step, pad, ctx.in_shape[0]), []
    return AvgPool1dChannelsLast(layer.pool, layer.step), []


class GlobalPool(nn.Module):
    """torch.mean or torch.amax over every dim but batch and channels (dims 2, 3 of NCHW
    images, dim 1 of (N, T, C) sequences). amax shares a tied maximum's gradient evenly, as
    TF does; nn.AdaptiveMaxPool would route it to one position."""

    def __init__(self, reduce, image: bool) -> None:
        super().__init__()
        self.reduce, self.dims = reduce, ((2, 3) if image else (1,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(x, dim=self.dims)


@register(L.GlobalAvgPool)
def global_avg_pool(layer: L.GlobalAvgPool, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return GlobalPool(torch.mean, len(ctx.in_shape) == 3), []


@register(L.GlobalMaxPool)
def global_max_pool(layer: L.GlobalMaxPool, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return GlobalPool(torch.amax, len(ctx.in_shape) == 3), []
