"""SelfAttention as JAX functions (the canonical formula; there is no key bias)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> Apply:
    """q = x wq + bq, k = x wk, v = x wv + bv; heads of key_dim (q, k) and value_dim (v) columns;
    y = concat_h(softmax(q k^T / sqrt(key_dim) + causal mask) v) wo + bo (no biases: use_bias false)."""
    w = {k: ctx.name(k) for k in ("wq", "wk", "wv", "wo", "bq", "bv", "bo")}
    heads = layer.heads

    def project(p: Params, x: jax.Array, name: str) -> jax.Array:
        y = x @ p[w["w" + name]]
        return y + p[w["b" + name]] if layer.use_bias and name != "k" else y

    def split(a: jax.Array) -> jax.Array:  # (N, T, heads * dh) -> (N, heads, T, dh)
        n, steps, width = a.shape
        return a.reshape(n, steps, heads, width // heads).transpose(0, 2, 1, 3)

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        q, k, v = (split(project(p, x, name)) for name in "qkv")
        scale = np.asarray(1.0 / np.sqrt(q.shape[-1]), dtype=x.dtype)
        scores = (q @ jnp.swapaxes(k, -1, -2)) * scale
        if layer.causal:
            steps = x.shape[1]
            blocked = np.triu(np.ones((steps, steps), dtype=bool), 1)
            scores = jnp.where(blocked, -jnp.inf, scores)
        out = jax.nn.softmax(scores, axis=-1) @ v  # (N, heads, T, dh)
        n, _, steps, _ = out.shape
        return project(p, out.transpose(0, 2, 1, 3).reshape(n, steps, -1), "o")

    return apply
