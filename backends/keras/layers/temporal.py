"""Conv1D, MaxPooling1D, AveragePooling1D and global pooling as Keras 3 layers ((N, T, C), kernels (k, in, out): canonical)."""

from __future__ import annotations

import keras
from netparity.backends.keras.layers import Binder, Ctx, keras_activation, register, regularizer
from netparity.backends.keras.layers.conv import AveragePoolingTFSame
from netparity.spec import layers as L


def _name(ctx: Ctx) -> str:
    return ctx.prefix.rstrip(".").replace(".", "_")


@register(L.Conv1D)
def conv1d(layer: L.Conv1D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = keras.layers.Conv1D(
        layer.filters,
        layer.kernel,
        strides=layer.stride,
        padding=layer.padding,  # 'same' is TF SAME, 'causal' pads (k - 1) * dilation before: the spec's
        dilation_rate=layer.dilation,
        activation=keras_activation(layer, ctx.dtype),
        use_bias=layer.use_bias,
        kernel_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=_name(ctx),
    )

    def binder():
        return [ctx.bind("kernel", native.kernel)] + ([ctx.bind("bias", native.bias)] if layer.use_bias else [])

    return native, binder


@register(L.MaxPool1D)
def max_pool1d(layer: L.MaxPool1D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return keras.layers.MaxPooling1D(layer.pool, strides=layer.step, padding=layer.padding, dtype=ctx.dtype), list


@register(L.AvgPool1D)
def avg_pool1d(layer: L.AvgPool1D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    if layer.padding == "same" and ctx.engine.name == "torch":
        return AveragePoolingTFSame((layer.pool,), (layer.step,), ctx.in_shape[:-1], dtype=ctx.dtype), list
    pool = keras.layers.AveragePooling1D(layer.pool, strides=layer.step, padding=layer.padding, dtype=ctx.dtype)
    return pool, list


@register(L.GlobalAvgPool)
def global_avg_pool(layer: L.GlobalAvgPool, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    cls = keras.layers.GlobalAveragePooling2D if len(ctx.in_shape) == 3 else keras.layers.GlobalAveragePooling1D
    return cls(dtype=ctx.dtype), list


@register(L.GlobalMaxPool)
def global_max_pool(layer: L.GlobalMaxPool, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    cls = keras.layers.GlobalMaxPooling2D if len(ctx.in_shape) == 3 else keras.layers.GlobalMaxPooling1D
    return cls(dtype=ctx.dtype), list
