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

    groups = layer.groups

    def conv(x: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
        # tf.nn.convolution, not tf.nn.conv2d: for dilation > 1 it goes through space_to_batch
        # (TF's CPU filter-gradient kernel refuses dilations in float64)
        return tf.nn.convolution(x, k, strides=layer.stride_hw, padding=padding, dilations=layer.dilation_hw)

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if groups == 1:
            z = conv(x, kernel)
        else:  # one convolution per group: TF's CPU kernels have no gradient for grouped ones
            xs, ks = tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1)
            z = tf.concat([conv(xg, kg) for xg, kg in zip(xs, ks, strict=True)], axis=-1)
        return act(tf.nn.bias_add(z, bias) if bias is not None else z)

    return call, binds


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    padding = layer.padding.upper()
    return lambda x, training=False: tf.nn.max_pool2d(x, layer.pool_hw, layer.step_hw, padding), []


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    padding = layer.padding.upper()  # TF's SAME averages over the real pixels only: the spec's rule
    return lambda x, training=False: tf.nn.avg_pool2d(x, layer.pool_hw, layer.step_hw, padding), []
