"""Quadratic (the roots task) as a torch module with one nn.Parameter."""

from __future__ import annotations

import torch
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register
from netparity.spec import layers as L
from torch import nn


class Quadratic(nn.Module):
    """y = a*x^2 + b*x + c for every input row; x is the only parameter."""

    def __init__(self, spec: L.Quadratic, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.a, self.b, self.c = float(spec.a), float(spec.b), float(spec.c)
        self.x = nn.Parameter(torch.zeros(1, dtype=dtype, device=device))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        value = self.a * self.x * self.x + self.b * self.x + self.c
        return value.expand(inputs.shape[0], 1)


@register(L.Quadratic)
def quadratic(layer: L.Quadratic, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    module = Quadratic(layer, ctx.dtype, ctx.device)
    return module, [bind(ctx, "x", module.x)]
