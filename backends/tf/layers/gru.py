"""GRU as raw TF ops on tf.Variables, both reset conventions (gates z, r, h: canonical)."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.spec import layers as L


@register(L.GRU)
def gru(layer: L.GRU, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    kernel, bk = ctx.variable("kernel")
    recurrent, br = ctx.variable("recurrent_kernel")
    bias, bb = ctx.variable("bias")
    binds = [bk, br, bb]
    if layer.reset_after:
        recurrent_bias, brb = ctx.variable("recurrent_bias")
        binds.append(brb)
    steps, units = ctx.in_shape[0], layer.units

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        # static loop over the (fixed) sequence length: unrolled inside the compiled step
        x_proj = tf.tensordot(x, kernel, 1) + bias
        h = tf.zeros((tf.shape(x)[0], units), ctx.dtype)
        outputs = []
        for t in range(steps):
            x_z, x_r, x_h = tf.split(x_proj[:, t], 3, axis=1)
            if layer.reset_after:
                h_z, h_r, h_h = tf.split(tf.matmul(h, recurrent) + recurrent_bias, 3, axis=1)
                z, r = tf.sigmoid(x_z + h_z), tf.sigmoid(x_r + h_r)
                n = tf.tanh(x_h + r * h_h)
            else:
                h_z, h_r = tf.split(tf.matmul(h, recurrent[:, : 2 * units]), 2, axis=1)
                z, r = tf.sigmoid(x_z + h_z), tf.sigmoid(x_r + h_r)
                n = tf.tanh(x_h + tf.matmul(r * h, recurrent[:, 2 * units :]))
            h = z * h + (1 - z) * n
            outputs.append(h)
        return tf.stack(outputs, axis=1) if layer.return_sequences else h

    return call, binds
