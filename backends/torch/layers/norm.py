"""BatchNorm as a torch module whose moving variance follows the spec (biased)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register
from netparity.spec import layers as L
from torch import nn


class BatchNormBiased(nn.BatchNorm2d):
    """nn.BatchNorm2d's parameters and buffers, normalized by F.batch_norm, but the running
    statistics follow the spec: running = m * running + (1 - m) * batch with the BIASED batch
    variance (torch's kernel would use the unbiased one, docs/semantics.md §6) and m the Keras momentum.

    Channels are dim 1 for NCHW images and (N, C) vectors; (N, T, C) sequences are permuted.
    """

    def __init__(self, channels: int, *, keras_momentum: float, eps: float, **kw) -> None:
        super().__init__(channels, eps=eps, momentum=1.0 - keras_momentum, **kw)
        self.keras_momentum = keras_momentum

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4):
            raise ValueError(f"BatchNorm expects 2-D, 3-D or 4-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (N, T, C) -> (N, C, T) and back
            return self._channels_first(x.transpose(1, 2)).transpose(1, 2)
        return self._channels_first(x)

    def _channels_first(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` with its channels at dim 1."""
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        dims = [d for d in range(x.dim()) if d != 1]
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=dims, correction=0)
            m = self.keras_momentum
            self.running_mean.copy_(self.running_mean * m + mean * (1.0 - m))
            self.running_var.copy_(self.running_var * m + var * (1.0 - m))
        if x.numel() == x.shape[1]:  # one value per channel (a last batch of one row): F.batch_norm refuses it
            shape = [1, -1] + [1] * (x.dim() - 2)
            var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
            return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(shape)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


@register(L.BatchNorm)
def batch_norm(layer: L.BatchNorm, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    bn = BatchNormBiased(
        ctx.in_shape[-1], keras_momentum=layer.momentum, eps=layer.epsilon, dtype=ctx.dtype, device=ctx.device
    )
    return bn, [
        bind(ctx, "gamma", bn.weight),
        bind(ctx, "beta", bn.bias),
        bind(ctx, "moving_mean", bn.running_mean, trainable=False),
        bind(ctx, "moving_var", bn.running_var, trainable=False),
    ]
