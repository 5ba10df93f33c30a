"""SelfAttention as raw TF ops: multi-head scaled dot-product attention with a causal mask."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.spec import layers as L


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    steps, d = ctx.in_shape
    heads, head_dim = layer.heads, d // layer.heads
    weights, binds = {}, []
    for name in ("wq", "bq", "wk", "wv", "bv", "wo", "bo"):  # no key bias (spec.layers.SelfAttention)
        weights[name], b = ctx.variable(name)
        binds.append(b)
    scale = tf.constant(1.0 / np.sqrt(head_dim), ctx.dtype)
    allowed = tf.constant(np.tril(np.ones((steps, steps), dtype=bool)))  # query t sees keys <= t

    def split(a: tf.Tensor) -> tf.Tensor:  # (N, T, d) -> (N, heads, T, head_dim)
        return tf.transpose(tf.reshape(a, (tf.shape(a)[0], steps, heads, head_dim)), (0, 2, 1, 3))

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        q = split(tf.tensordot(x, weights["wq"], 1) + weights["bq"])
        k = split(tf.tensordot(x, weights["wk"], 1))
        v = split(tf.tensordot(x, weights["wv"], 1) + weights["bv"])
        scores = tf.matmul(q, k, transpose_b=True) * scale
        if layer.causal:
            scores = tf.where(allowed, scores, tf.constant(-np.inf, ctx.dtype))
        out = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
        out = tf.reshape(tf.transpose(out, (0, 2, 1, 3)), (tf.shape(x)[0], steps, d))
        return tf.tensordot(out, weights["wo"], 1) + weights["bo"]

    return call, binds
