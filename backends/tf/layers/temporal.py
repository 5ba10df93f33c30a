"""Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool and GlobalMaxPool as raw TF ops on (N, T, C)."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.tf.layers import Ctx, TfLayer, register, tf_activation
from netparity.spec import layers as L


@register(L.Conv1D)
def conv1d(layer: L.Conv1D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    kernel, bk = ctx.variable("kernel")  # (k, in, out): TF's own 1-D filter layout
    binds, bias = [bk], None
    if layer.use_bias:
        bias, bb = ctx.variable("bias")
        binds.append(bb)
    act = tf_activation(layer, ctx.dtype)
    # TF's SAME is the spec's 'same'; 'causal' is explicit zeros before, then VALID (as Keras does)
    causal = (layer.kernel - 1) * layer.dilation if layer.padding == "causal" else 0
    padding = "SAME" if layer.padding == "same" else "VALID"

    def call(x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if causal:
            x = tf.pad(x, [[0, 0], [causal, 0], [0, 0]])
        # tf.nn.convolution, not tf.nn.conv1d: with dilation > 1 it goes through space_to_batch,
        # since TF's CPU Conv2DBackpropFilter kernel refuses dilations in float64
        z = tf.nn.convolution(x, kernel, strides=layer.stride, padding=padding, dilations=layer.dilation)
        return act(tf.nn.bias_add(z, bias) if bias is not None else z)

    return call, binds


@register(L.MaxPool1D)
def max_pool1d(layer: L.MaxPool1D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    padding = layer.padding.upper()
    return lambda x, training=False: tf.nn.max_pool1d(x, layer.pool, layer.step, padding), []


@register(L.AvgPool1D)
def avg_pool1d(layer: L.AvgPool1D, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    padding = layer.padding.upper()  # TF's SAME averages over the real steps only: the spec's rule
    return lambda x, training=False: tf.nn.avg_pool1d(x, layer.pool, layer.step, padding), []


def _inner_axes(ctx: Ctx) -> list[int]:
    return list(range(1, len(ctx.in_shape)))  # every axis but batch and channels


@register(L.GlobalAvgPool)
def global_avg_pool(layer: L.GlobalAvgPool, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    axes = _inner_axes(ctx)
    return lambda x, training=False: tf.reduce_mean(x, axis=axes), []


@register(L.GlobalMaxPool)
def global_max_pool(layer: L.GlobalMaxPool, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    axes = _inner_axes(ctx)
    return lambda x, training=False: tf.reduce_max(x, axis=axes), []
