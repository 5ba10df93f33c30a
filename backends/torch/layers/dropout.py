"""Dropout as nn.Dropout that applies the harness's shared mask when it has one."""

from __future__ import annotations

import torch
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, register
from netparity.spec import layers as L
from torch import nn


class MaskedDropout(nn.Dropout):
    """Training: y = x * mask with the shared mask (spec/dropout.py), else nn.Dropout's own
    random mask; inference: y = x."""

    def __init__(self, rate: float, name: str) -> None:
        super().__init__(rate)
        self.canonical_name = name
        self.mask: torch.Tensor | None = None  # set by the model from Batch.masks before each call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.p > 0 and self.mask is not None:
            return x * self.mask
        return super().forward(x)


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return MaskedDropout(layer.rate, ctx.prefix.rstrip(".")), []
