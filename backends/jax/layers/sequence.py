"""Embedding, PositionalEmbedding and LSTM (lax.scan over time) as JAX functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.Embedding)
def embedding(layer: L.Embedding, ctx: Ctx) -> Apply:
    table = ctx.name("embeddings")  # jax.grad of take is the dense (vocab, dim) scatter-add
    return lambda p, x, run: jnp.take(p[table], x, axis=0)


@register(L.PositionalEmbedding)
def positional_embedding(layer: L.PositionalEmbedding, ctx: Ctx) -> Apply:
    table = ctx.name("embeddings")
    return lambda p, x, run: x + p[table][: x.shape[1]]


@register(L.LSTM)
def lstm(layer: L.LSTM, ctx: Ctx) -> Apply:
    """z = x_t @ kernel + h @ recurrent_kernel + bias (+ recurrent_bias); gates i, f, g, o; c = f*c + i*g;
    h = o*tanh(c). The input projection of all steps is one matmul, the recurrence a scan."""
    kernel, recurrent, bias = ctx.name("kernel"), ctx.name("recurrent_kernel"), ctx.name("bias")
    rbias = ctx.name("recurrent_bias")  # torch's b_hh, when the spec has it

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        r = p[recurrent]
        b = p[bias] + p[rbias] if layer.recurrent_bias else p[bias]

        def step(carry: tuple[jax.Array, jax.Array], xz: jax.Array):
            h, c = carry
            i, f, g, o = jnp.split(xz + h @ r, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((x.shape[0], layer.units), x.dtype)
        xz = jnp.swapaxes(x @ p[kernel] + b, 0, 1)  # (T, N, 4H): scan runs over time
        (h, _), hs = lax.scan(step, (zeros, zeros), xz)
        return jnp.swapaxes(hs, 0, 1) if layer.return_sequences else h

    return apply
