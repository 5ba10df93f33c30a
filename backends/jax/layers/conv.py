"""Conv2D and Conv1D (lax.conv_general_dilated in the canonical NHWC/HWIO and NWC/WIO
layouts) and pooling (lax.reduce_window), padding from the spec's own rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, activation, register
from netparity.spec import layers as L
from netparity.spec.layers import axis_padding


def _conv(layer, ctx: Ctx, kernels, strides, dilations, numbers, groups: int = 1) -> Apply:
    """y = act(conv(x, kernel) + bias) with explicit (before, after) padding per spatial axis
    (axis_padding: 'same' is TF's, extra after; 'causal' all before)."""
    kernel, bias = ctx.name("kernel"), ctx.name("bias")
    act = activation(layer.activation, layer.negative_slope)

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        sizes = x.shape[1:-1]
        pads = [
            axis_padding(layer.padding, n, k, s, d)
            for n, k, s, d in zip(sizes, kernels, strides, dilations, strict=True)
        ]
        y = lax.conv_general_dilated(
            x, p[kernel], strides, pads, rhs_dilation=dilations, dimension_numbers=numbers, feature_group_count=groups
        )
        return act(y + p[bias] if layer.use_bias else y)

    return apply


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> Apply:
    numbers = ("NHWC", "HWIO", "NHWC")
    return _conv(layer, ctx, layer.kernel_hw, layer.stride_hw, layer.dilation_hw, numbers, layer.groups)


@register(L.Conv1D)
def conv1d(layer: L.Conv1D, ctx: Ctx) -> Apply:
    numbers = ("NWC", "WIO", "NWC")
    return _conv(layer, ctx, (layer.kernel,), (layer.stride,), (layer.dilation,), numbers)


def _pool(x: jax.Array, windows, steps, padding: str, kind: str) -> jax.Array:
    """Max or mean over each window; 'same' pads with -inf for max (a pad never wins) and
    averages over the real values only (TF's rule)."""
    pads = [
        (0, 0),
        *(axis_padding(padding, n, w, s) for n, w, s in zip(x.shape[1:-1], windows, steps, strict=True)),
        (0, 0),
    ]
    window, stride = (1, *windows, 1), (1, *steps, 1)
    # Python scalar inits: lax then sees the max/add monoid (reduce_window_max is
    # differentiable, a generic reducer is not)
    if kind == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, window, stride, pads)
    total = lax.reduce_window(x, 0.0, lax.add, window, stride, pads)
    count = lax.reduce_window(jnp.ones(x.shape[1:-1], x.dtype)[None, ..., None], 0.0, lax.add, window, stride, pads)
    return total / count


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(x, layer.pool_hw, layer.step_hw, layer.padding, "max")


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(x, layer.pool_hw, layer.step_hw, layer.padding, "mean")


@register(L.MaxPool1D)
def max_pool1d(layer: L.MaxPool1D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(x, (layer.pool,), (layer.step,), layer.padding, "max")


@register(L.AvgPool1D)
def avg_pool1d(layer: L.AvgPool1D, ctx: Ctx) -> Apply:
    return lambda p, x, run: _pool(x, (layer.pool,), (layer.step,), layer.padding, "mean")


@register(L.GlobalAvgPool)
def global_avg_pool(layer: L.GlobalAvgPool, ctx: Ctx) -> Apply:
    return lambda p, x, run: jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))


@register(L.GlobalMaxPool)
def global_max_pool(layer: L.GlobalMaxPool, ctx: Ctx) -> Apply:
    return lambda p, x, run: jnp.max(x, axis=tuple(range(1, x.ndim - 1)))
