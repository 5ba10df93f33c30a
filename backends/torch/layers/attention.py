"""SelfAttention as nn.MultiheadAttention (packed q, k, v in-projection)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from netparity.backends.base import Binding
from netparity.backends.torch.layers import Ctx, bind, register
from netparity.spec import layers as L
from torch import nn


class SelfAttention(nn.Module):
    """mha(x, x, x) with a boolean causal mask (torch: True = blocked)."""

    def __init__(self, mha: nn.MultiheadAttention, steps: int, causal: bool) -> None:
        super().__init__()
        self.mha = mha
        blocked = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1) if causal else None
        self.register_buffer("blocked", blocked, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocked = self.blocked[: x.shape[1], : x.shape[1]] if self.blocked is not None else None
        return self.mha(x, x, x, attn_mask=blocked, need_weights=False)[0]


class SelfAttentionHeadDims(nn.Module):
    """Self-attention with key_dim/value_dim of the user's choice: nn.MultiheadAttention ties
    every head to embed_dim / heads (its kdim/vdim are input widths, not head sizes), so
    this named module runs nn.Linear projections and F.scaled_dot_product_attention."""

    def __init__(self, d: int, layer: L.SelfAttention, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        key_dim, value_dim = layer.head_dims(d)
        self.heads, self.causal = layer.heads, layer.causal
        kw = {"dtype": dtype, "device": device}
        self.q = nn.Linear(d, layer.heads * key_dim, bias=layer.use_bias, **kw)
        self.k = nn.Linear(d, layer.heads * key_dim, bias=False, **kw)  # no key bias (spec.layers.SelfAttention)
        self.v = nn.Linear(d, layer.heads * value_dim, bias=layer.use_bias, **kw)
        self.o = nn.Linear(layer.heads * value_dim, d, bias=layer.use_bias, **kw)

    def _split(self, a: torch.Tensor) -> torch.Tensor:
        return a.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (N, T, h * dh) -> (N, h, T, dh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # scale 1/sqrt(key_dim)
        return self.o(out.transpose(1, 2).flatten(2))


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    steps, d = ctx.in_shape
    if layer.head_dims(d) != (d // layer.heads, d // layer.heads) or d % layer.heads:
        module = SelfAttentionHeadDims(d, layer, ctx.dtype, ctx.device)
        binds = [bind(ctx, f"w{p}", getattr(module, p).weight) for p in "qkvo"]
        if layer.use_bias:
            binds += [bind(ctx, f"b{p}", getattr(module, p).bias) for p in "qvo"]
        return module, binds
    mha = nn.MultiheadAttention(
        d, layer.heads, bias=layer.use_bias, batch_first=True, dtype=ctx.dtype, device=ctx.device
    )
    # in_proj_weight (3d, d) packs q, k, v as Linear weights (out, in): canonical wq is rows [0, d) transposed
    binds = []
    for j, p in enumerate("qkv"):
        rows = slice(j * d, (j + 1) * d)
        binds.append(bind(ctx, f"w{p}", mha.in_proj_weight, part=(rows, slice(None))))
        if p != "k" and layer.use_bias:
            binds.append(bind(ctx, f"b{p}", mha.in_proj_bias, part=(rows,)))
    binds.append(bind(ctx, "wo", mha.out_proj.weight))
    if layer.use_bias:
        # The packed in_proj_bias has a key part the canonical layer lacks (spec.layers.SelfAttention):
        # hold it at zero by zeroing its gradient, so no optimizer moves it (m = v = 0 in Adam).
        key_rows = slice(d, 2 * d)
        with torch.no_grad():
            mha.in_proj_bias[key_rows] = 0
        mha.in_proj_bias.register_hook(lambda g: torch.cat([g[:d], torch.zeros_like(g[key_rows]), g[2 * d :]]))
        binds.append(bind(ctx, "bo", mha.out_proj.bias))
    return SelfAttention(mha, steps, layer.causal), binds
