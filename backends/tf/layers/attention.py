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
    heads, (key_dim, value_dim) = layer.heads, layer.head_dims(d)
    weights, binds = {}, []
    names = ("wq", "bq", "wk", "wv", "bv", "wo", "bo") if layer.use_bias else ("wq", "wk", "wv", "wo")
    for name in names:  # no key bias (spec.layers.SelfAttention)
        weights[name], b = ctx.variable(name)
        binds.append(b)
    scale = tf.constant(1.0 / np.sqrt(key_dim), ctx.dtype)
    allowed = tf.constant(np.tril(np.ones((steps, steps), dtype=bool)))  # query t sees keys <= t

    def split(a: tf.Tensor, head_dim: int) -> tf.Tensor:  # (N, T, heads * head_dim) -> (N, heads, T, head_dim)
        return tf.transpose(tf.reshape(a, (tf.shape(a)[0], steps, heads, head_dim)), (0, 2, 1, 3))

    def project(a: tf.Tensor, name: str) -> tf.Tensor:
        out = tf.tensordot(a, weights[f"w{name}"], 1)
        return out + weights[f"b{name}"] if f"b{name}" in weights else out

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        q = split(project(x, "q"), key_dim)
        k = split(project(x, "k"), key_dim)
        v = split(project(x, "v"), value_dim)
        scores = tf.matmul(q, k, transpose_b=True) * scale
        if layer.causal:
            scores = tf.where(allowed, scores, tf.constant(-np.inf, ctx.dtype))
        out = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
        out = tf.reshape(tf.transpose(out, (0, 2, 1, 3)), (tf.shape(x)[0], steps, heads * value_dim))
        return project(out, "o")

    return call, binds
