"""BatchNorm and LayerNorm as JAX functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.BatchNorm)
def batch_norm(layer: L.BatchNorm, ctx: Ctx) -> Apply:
    """Training: biased batch statistics over all but the last axis, and moving = m*moving +
    (1-m)*batch written to run.new_state; inference: the moving statistics."""
    gamma, beta = ctx.name("gamma"), ctx.name("beta")
    mean_name, var_name = ctx.name("moving_mean"), ctx.name("moving_var")
    m, eps = layer.momentum, layer.epsilon

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        axes = tuple(range(x.ndim - 1))
        if run.training:
            mean, var = jnp.mean(x, axis=axes), jnp.var(x, axis=axes)
            run.new_state[mean_name] = run.state[mean_name] * m + mean * (1.0 - m)
            run.new_state[var_name] = run.state[var_name] * m + var * (1.0 - m)
        else:
            mean, var = run.state[mean_name], run.state[var_name]
        return (x - mean) * jax.lax.rsqrt(var + eps) * p[gamma] + p[beta]

    return apply


@register(L.LayerNorm)
def layer_norm(layer: L.LayerNorm, ctx: Ctx) -> Apply:
    gamma, beta = ctx.name("gamma"), ctx.name("beta")

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)  # biased, as canonical
        return (x - mean) * jax.lax.rsqrt(var + layer.epsilon) * p[gamma] + p[beta]

    return apply
