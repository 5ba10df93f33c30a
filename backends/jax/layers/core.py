"""Dense, Activation, Flatten, LastStep, Dropout and Residual as JAX functions."""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, activation, build_layer, register
from netparity.spec import layers as L


@register(L.Dense)
def dense(layer: L.Dense, ctx: Ctx) -> Apply:
    kernel, bias = ctx.name("kernel"), ctx.name("bias")
    act = activation(layer.activation, layer.negative_slope)

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        y = x @ p[kernel]
        return act(y + p[bias] if layer.use_bias else y)

    return apply


@register(L.Activation)
def activation_layer(layer: L.Activation, ctx: Ctx) -> Apply:
    act = activation(layer.name, layer.negative_slope)
    return lambda p, x, run: act(x)


@register(L.Flatten)
def flatten(layer: L.Flatten, ctx: Ctx) -> Apply:
    return lambda p, x, run: x.reshape(x.shape[0], -1)


@register(L.LastStep)
def last_step(layer: L.LastStep, ctx: Ctx) -> Apply:
    return lambda p, x, run: x[:, -1]


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> Apply:
    """Training: y = x * mask with the shared mask, else jax.random's own mask; inference: y = x."""
    name = ctx.prefix.rstrip(".")
    ctx.dropouts.append(name)
    stream = zlib.crc32(name.encode())

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        if not run.training or layer.rate == 0:
            return x
        if name in run.masks:
            return x * run.masks[name]
        keep = jax.random.bernoulli(jax.random.fold_in(run.key, stream), 1.0 - layer.rate, x.shape)
        return jnp.where(keep, x / (1.0 - layer.rate), 0).astype(x.dtype)

    return apply


@register(L.Residual)
def residual(layer: L.Residual, ctx: Ctx) -> Apply:
    inner = [
        build_layer(sub, Ctx(f"{ctx.prefix}{j}.{sub.kind}.", shape, ctx.dtype, ctx.dropouts))
        for j, (sub, shape) in enumerate(zip(layer.layers, layer.inner_shapes(ctx.in_shape), strict=True))
    ]

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        y = x
        for f in inner:
            y = f(p, y, run)
        return x + y

    return apply
