"""Conv2D, MaxPool2D and AvgPool2D as raw TF ops (NHWC images, HWIO filters: canonical)."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register, tf_activation
from netparity.spec import layers as L


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    kernel, bk = ctx.variable("kernel")
    binds, bias = [bk], None
    if layer.use_bias:
        bias, bb = ctx.variable("bias")
        binds.append(bb)
    act = tf_activation(layer, ctx.dtype)
    padding = layer.padding.upper()  # TF's own SAME: the extra pixel bottom/right

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        z = tf.nn.conv2d(x, kernel, strides=layer.stride, padding=padding)
        return act(tf.nn.bias_add(z, bias) if bias is not None else z)

    return call, binds


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return lambda x, training=False: tf.nn.max_pool2d(x, layer.pool, layer.step, "VALID"), []


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return lambda x, training=False: tf.nn.avg_pool2d(x, layer.pool, layer.step, "VALID"), []
