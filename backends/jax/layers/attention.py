"""SelfAttention as JAX functions (the canonical formula; there is no key bias)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> Apply:
    """q = x wq + bq, k = x wk, v = x wv + bv; heads split the last axis;
    y = concat_h(softmax(q k^T / sqrt(dh) + causal mask) v) wo + bo."""
    w = {k: ctx.name(k) for k in ("wq", "wk", "wv", "wo", "bq", "bv", "bo")}
    heads = layer.heads

    def split(a: jax.Array) -> jax.Array:  # (N, T, d) -> (N, heads, T, dh)
        n, steps, d = a.shape
        return a.reshape(n, steps, heads, d // heads).transpose(0, 2, 1, 3)

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        q = split(x @ p[w["wq"]] + p[w["bq"]])
        k = split(x @ p[w["wk"]])
        v = split(x @ p[w["wv"]] + p[w["bv"]])
        scale = np.asarray(1.0 / np.sqrt(q.shape[-1]), dtype=x.dtype)
        scores = (q @ jnp.swapaxes(k, -1, -2)) * scale
        if layer.causal:
            steps = x.shape[1]
            blocked = np.triu(np.ones((steps, steps), dtype=bool), 1)
            scores = jnp.where(blocked, -jnp.inf, scores)
        out = jax.nn.softmax(scores, axis=-1) @ v  # (N, heads, T, dh)
        n, _, steps, _ = out.shape
        return out.transpose(0, 2, 1, 3).reshape(n, steps, -1) @ p[w["wo"]] + p[w["bo"]]

    return apply
