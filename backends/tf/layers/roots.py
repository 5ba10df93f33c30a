"""Quadratic (the roots task) in raw TF ops on one tf.Variable."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.spec import layers as L


@register(L.Quadratic)
def quadratic(layer: L.Quadratic, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    x, bx = ctx.variable("x")
    a, b, c = (tf.constant(v, ctx.dtype) for v in (layer.a, layer.b, layer.c))

    def call(inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        value = a * x * x + b * x + c  # shape (1,)
        return tf.zeros_like(inputs[:, :1]) + value

    return call, [bx]
