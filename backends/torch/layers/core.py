"""Dense, Activation, Flatten, LastStep and Residual as native torch modules."""

from __future__ import annotations

import torch
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, activation_module, bind, build_layer, register, with_activation
from netparity.spec import layers as L
from netparity.spec.walk import stack
from torch import nn


@register(L.Dense)
def dense(layer: L.Dense, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    lin = nn.Linear(ctx.in_shape[-1], layer.units, bias=layer.use_bias, dtype=ctx.dtype, device=ctx.device)
    binds = [bind(ctx, "kernel", lin.weight)] + ([bind(ctx, "bias", lin.bias)] if layer.use_bias else [])
    return with_activation(lin, layer, ctx), binds


@register(L.Activation)
def activation(layer: L.Activation, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    # torch holds images NCHW: softmax and log_softmax normalize the channels, dim 1
    return activation_module(layer, ctx, 1 if len(ctx.in_shape) == 3 else -1) or nn.Identity(), []


class FlattenChannelsLast(nn.Module):
    """Flatten in canonical (H, W, C) order: torch holds images NCHW, so permute first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        return x.flatten(1)


@register(L.Flatten)
def flatten(layer: L.Flatten, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return FlattenChannelsLast(), []


class LastStep(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


@register(L.LastStep)
def last_step(layer: L.LastStep, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return LastStep(), []


class Residual(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(x)


@register(L.Residual)
def residual(layer: L.Residual, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    modules, binds = [], []
    for site in stack(layer.layers, ctx.in_shape, ctx.prefix):
        module, b = build_layer(site.layer, Ctx(site.prefix, site.in_shape, ctx.dtype, ctx.device))
        modules.append(module)
        binds += b
    return Residual(nn.Sequential(*modules)), binds
