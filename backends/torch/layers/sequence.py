"""Embedding, PositionalEmbedding, LSTM and LayerNorm as native torch modules."""

from __future__ import annotations

import torch
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register
from netparity.spec import layers as L
from torch import nn


@register(L.Embedding)
def embedding(layer: L.Embedding, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    native = nn.Embedding(layer.vocab, layer.dim, dtype=ctx.dtype, device=ctx.device)
    return native, [bind(ctx, "embeddings", native.weight)]


class PositionalEmbedding(nn.Module):
    """x + E[:T] with a learned (max_len, D) table: torch has no module for it."""

    def __init__(self, max_len: int, dim: int, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.zeros(max_len, dim, dtype=dtype, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embeddings[: x.shape[1]]


@register(L.PositionalEmbedding)
def positional_embedding(layer: L.PositionalEmbedding, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    native = PositionalEmbedding(layer.max_len, ctx.in_shape[-1], ctx.dtype, ctx.device)
    return native, [bind(ctx, "embeddings", native.embeddings)]


class LSTM(nn.Module):
    """nn.LSTM(batch_first=True) returning the whole sequence or its last step."""

    def __init__(self, lstm: nn.LSTM, return_sequences: bool) -> None:
        super().__init__()
        self.lstm, self.return_sequences = lstm, return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return out if self.return_sequences else out[:, -1]


@register(L.LSTM)
def lstm(layer: L.LSTM, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    native = nn.LSTM(ctx.in_shape[-1], layer.units, batch_first=True, dtype=ctx.dtype, device=ctx.device)
    binds = [
        bind(ctx, "kernel", native.weight_ih_l0),
        bind(ctx, "recurrent_kernel", native.weight_hh_l0),
        bind(ctx, "bias", native.bias_ih_l0),
    ]
    if layer.recurrent_bias:  # torch's own two-bias LSTM: b_hh is the canonical recurrent_bias
        return LSTM(native, layer.return_sequences), [*binds, bind(ctx, "recurrent_bias", native.bias_hh_l0)]
    # torch adds two biases, b_ih + b_hh, that receive the same gradient: trained together they
    # would move twice as fast as the one canonical bias (docs/semantics.md §4). The canonical bias lives
    # in bias_ih; bias_hh is held at zero and frozen, so it neither trains nor gets a gradient.
    with torch.no_grad():
        native.bias_hh_l0.zero_()
    native.bias_hh_l0.requires_grad_(False)
    return LSTM(native, layer.return_sequences), binds


class ChannelsLastLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels of an image too: torch holds images NCHW, where the
    last axis is the width, so a 4-D input is normalized channels-last and permuted back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


@register(L.LayerNorm)
def layer_norm(layer: L.LayerNorm, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    native = ChannelsLastLayerNorm(ctx.in_shape[-1], eps=layer.epsilon, dtype=ctx.dtype, device=ctx.device)
    return native, [bind(ctx, "gamma", native.weight), bind(ctx, "beta", native.bias)]
