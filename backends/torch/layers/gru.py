"""GRU as nn.GRU (reset_after=True) or, for reset_after=False, a hand-written cell on nn.GRU's parameters."""

from __future__ import annotations

import torch
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register
from netparity.spec import layers as L
from torch import nn


class GRU(nn.Module):
    """nn.GRU(batch_first=True) returning the whole sequence or its last step."""

    def __init__(self, gru: nn.Module, return_sequences: bool) -> None:
        super().__init__()
        self.gru, self.return_sequences = gru, return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return out if self.return_sequences else out[:, -1]


class GRUResetBefore(nn.Module):
    """The reset-before GRU (Keras reset_after=False), which nn.GRU does not offer, on nn.GRU's
    parameter names and layout (weight_ih_l0 (3H, in), weight_hh_l0 (3H, H), gates r, z, n):
    n = tanh(W_in x + b_in + W_hn (r * h)), h' = (1 - z) * n + z * h. No hidden bias: Keras
    has one bias in this convention."""

    def __init__(self, n_in: int, units: int, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.units = units
        self.weight_ih_l0 = nn.Parameter(torch.zeros(3 * units, n_in, dtype=dtype, device=device))
        self.weight_hh_l0 = nn.Parameter(torch.zeros(3 * units, units, dtype=dtype, device=device))
        self.bias_ih_l0 = nn.Parameter(torch.zeros(3 * units, dtype=dtype, device=device))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        w_hr, w_hz, w_hn = self.weight_hh_l0.split(self.units)
        x_proj = x @ self.weight_ih_l0.T + self.bias_ih_l0  # every step's input half at once
        h = x.new_zeros(x.shape[0], self.units)
        outputs = []
        for t in range(x.shape[1]):
            x_r, x_z, x_n = x_proj[:, t].split(self.units, dim=1)
            r = torch.sigmoid(x_r + h @ w_hr.T)
            z = torch.sigmoid(x_z + h @ w_hz.T)
            n = torch.tanh(x_n + (r * h) @ w_hn.T)
            h = (1 - z) * n + z * h
            outputs.append(h)
        return torch.stack(outputs, dim=1), None


@register(L.GRU)
def gru(layer: L.GRU, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    n_in = ctx.in_shape[-1]
    if layer.reset_after:
        native = nn.GRU(n_in, layer.units, batch_first=True, dtype=ctx.dtype, device=ctx.device)
        extra = [bind(ctx, "recurrent_bias", native.bias_hh_l0)]
    else:
        native, extra = GRUResetBefore(n_in, layer.units, ctx.dtype, ctx.device), []
    binds = [
        bind(ctx, "kernel", native.weight_ih_l0),
        bind(ctx, "recurrent_kernel", native.weight_hh_l0),
        bind(ctx, "bias", native.bias_ih_l0),
        *extra,
    ]
    return GRU(native, layer.return_sequences), binds
