"""Quadratic (the roots task) as a JAX function."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.Quadratic)
def quadratic(layer: L.Quadratic, ctx: Ctx) -> Apply:
    """y = a*x^2 + b*x + c on every input row; x is the one parameter."""
    name = ctx.name("x")

    def apply(p: Params, x_in: jax.Array, run: Run) -> jax.Array:
        x = p[name]
        value = layer.a * x * x + layer.b * x + layer.c  # Python floats: weakly typed, x's dtype
        return jnp.zeros((x_in.shape[0], 1), x.dtype) + value

    return apply
