"""BatchNorm as raw TF ops: tf.nn.moments, tf.nn.batch_normalization, assigned moving stats."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.spec import layers as L


@register(L.BatchNorm)
def batch_norm(layer: L.BatchNorm, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    gamma, bg = ctx.variable("gamma")
    beta, bb = ctx.variable("beta")
    moving_mean, bm = ctx.variable("moving_mean", trainable=False)
    moving_var, bv = ctx.variable("moving_var", trainable=False)
    axes = list(range(len(ctx.in_shape)))  # every axis but the channels (batch included)
    m, eps = layer.momentum, layer.epsilon

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if training:  # biased batch statistics, moving = m * moving + (1 - m) * batch
            mean, var = tf.nn.moments(x, axes)
            moving_mean.assign(moving_mean * m + mean * (1.0 - m))
            moving_var.assign(moving_var * m + var * (1.0 - m))
        else:
            mean, var = moving_mean, moving_var
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, eps)

    return call, [bg, bb, bm, bv]
