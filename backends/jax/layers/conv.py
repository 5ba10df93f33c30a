"""Conv2D (lax.conv_general_dilated, NHWC/HWIO: canonical) and pooling (lax.reduce_window)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from netparity.backends.jax.layers import ACTIVATIONS, Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> Apply:
    kernel, bias, act = ctx.name("kernel"), ctx.name("bias"), ACTIVATIONS[layer.activation]
    s = layer.stride

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        # lax 'SAME' is TF's: the extra padding pixel goes after (bottom/right), as canonical
        y = lax.conv_general_dilated(
            x, p[kernel], (s, s), layer.padding.upper(), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return act(y + p[bias] if layer.use_bias else y)

    return apply


def _pool(layer: L.MaxPool2D | L.AvgPool2D, x: jax.Array, init: float, op) -> jax.Array:
    window, step = (1, layer.pool, layer.pool, 1), (1, layer.step, layer.step, 1)
    # a Python scalar init: lax then sees the max/add monoid (reduce_window_max is differentiable, a generic reducer is not)
    return lax.reduce_window(x, init, op, window, step, "VALID")


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(layer, x, -jnp.inf, lax.max)


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(layer, x, 0.0, lax.add) / (layer.pool * layer.pool)
