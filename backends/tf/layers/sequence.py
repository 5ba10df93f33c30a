"""Embedding, PositionalEmbedding, LSTM and LayerNorm as raw TF ops on tf.Variables."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.spec import layers as L


@register(L.Embedding)
def embedding(layer: L.Embedding, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    table, binding = ctx.variable("embeddings")

    @tf.custom_gradient
    def lookup(values: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
        # tf.gather's own gradient is an IndexedSlices; the optimizers and the comparison
        # want the dense (vocab, dim) gradient every other backend produces.
        def grad(dy: tf.Tensor) -> tuple[tf.Tensor, None]:
            flat = tf.reshape(dy, (-1, layer.dim))
            return tf.math.unsorted_segment_sum(flat, tf.reshape(ids, (-1,)), layer.vocab), None

        return tf.gather(values, ids), grad

    return lambda x, training=False: lookup(tf.convert_to_tensor(table), x), [binding]


@register(L.PositionalEmbedding)
def positional_embedding(layer: L.PositionalEmbedding, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    table, binding = ctx.variable("embeddings")
    return lambda x, training=False: x + table[: tf.shape(x)[1]], [binding]


@register(L.LayerNorm)
def layer_norm(layer: L.LayerNorm, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    gamma, bg = ctx.variable("gamma")
    beta, bb = ctx.variable("beta")
    epsilon = tf.constant(layer.epsilon, ctx.dtype)

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)  # biased variance
        return (x - mean) * tf.math.rsqrt(var + epsilon) * gamma + beta

    return call, [bg, bb]


@register(L.LSTM)
def lstm(layer: L.LSTM, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    kernel, bk = ctx.variable("kernel")
    recurrent, br = ctx.variable("recurrent_kernel")
    bias, bb = ctx.variable("bias")
    binds = [bk, br, bb]
    recurrent_bias = None
    if layer.recurrent_bias:  # torch's b_hh, an extra variable: it enters z like bias
        recurrent_bias, brb = ctx.variable("recurrent_bias")
        binds.append(brb)
    steps, units = ctx.in_shape[0], layer.units

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        # static loop over the (fixed) sequence length: unrolled inside the compiled step
        x_proj = tf.tensordot(x, kernel, 1) + bias  # the input half of every step's z at once
        if recurrent_bias is not None:
            x_proj += recurrent_bias
        h = c = tf.zeros((tf.shape(x)[0], units), ctx.dtype)
        outputs = []
        for t in range(steps):
            z = x_proj[:, t] + tf.matmul(h, recurrent)
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            outputs.append(h)
        return tf.stack(outputs, axis=1) if layer.return_sequences else h

    return call, binds
