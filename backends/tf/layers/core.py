"""Dense, Activation, Flatten, LastStep and Residual as raw TF ops on tf.Variables."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, build_layer, register, tf_activation
from netparity.spec import layers as L
from netparity.spec.walk import stack


@register(L.Dense)
def dense(layer: L.Dense, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    kernel, bk = ctx.variable("kernel")
    binds = [bk]
    bias = None
    if layer.use_bias:
        bias, bb = ctx.variable("bias")
        binds.append(bb)
    act = tf_activation(layer, ctx.dtype)

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        z = tf.matmul(x, kernel) if x.shape.rank == 2 else tf.tensordot(x, kernel, 1)
        return act(z + bias if bias is not None else z)

    return call, binds


@register(L.Activation)
def activation(layer: L.Activation, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    act = tf_activation(layer, ctx.dtype)
    return lambda x, training=False: act(x), []


@register(L.Flatten)
def flatten(layer: L.Flatten, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    size = 1
    for d in ctx.in_shape:
        size *= d
    return lambda x, training=False: tf.reshape(x, (-1, size)), []


@register(L.LastStep)
def last_step(layer: L.LastStep, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return lambda x, training=False: x[:, -1], []


@register(L.Residual)
def residual(layer: L.Residual, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    calls, binds = [], []
    for site in stack(layer.layers, ctx.in_shape, ctx.prefix):
        call, b = build_layer(site.layer, Ctx(site.prefix, site.in_shape, ctx.dtype, ctx.params))
        calls.append(call)
        binds += b

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        y = x
        for c in calls:
            y = c(y, training)
        return x + y

    call.inner = calls  # lets the model find the Dropout layers inside
    return call, binds
