"""SelfAttention as nn.MultiheadAttention (packed q, k, v in-projection)."""

from __future__ import annotations

import torch
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


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    steps, d = ctx.in_shape
    mha = nn.MultiheadAttention(d, layer.heads, batch_first=True, dtype=ctx.dtype, device=ctx.device)
    # in_proj_weight (3d, d) packs q, k, v as Linear weights (out, in): canonical wq is rows [0, d) transposed
    binds = []
    for j, p in enumerate("qkv"):
        rows = slice(j * d, (j + 1) * d)
        binds.append(bind(ctx, f"w{p}", mha.in_proj_weight, part=(rows, slice(None))))
        if p != "k":
            binds.append(bind(ctx, f"b{p}", mha.in_proj_bias, part=(rows,)))
    # The packed in_proj_bias has a key part the canonical layer lacks (spec.layers.SelfAttention):
    # hold it at zero by zeroing its gradient, so no optimizer moves it (m = v = 0 in Adam).
    key_rows = slice(d, 2 * d)
    with torch.no_grad():
        mha.in_proj_bias[key_rows] = 0
    mha.in_proj_bias.register_hook(lambda g: torch.cat([g[:d], torch.zeros_like(g[key_rows]), g[2 * d :]]))
    binds += [bind(ctx, "wo", mha.out_proj.weight), bind(ctx, "bo", mha.out_proj.bias)]
    return SelfAttention(mha, steps, layer.causal), binds
