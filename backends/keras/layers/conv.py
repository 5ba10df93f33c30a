"""Conv2D, MaxPooling2D and AveragePooling2D as Keras 3 layers (NHWC, HWIO kernels: canonical)."""

from __future__ import annotations

import keras
from netparity.backends.keras.layers import Binder, Ctx, keras_activation, register, regularizer
from netparity.spec import layers as L


def _name(ctx: Ctx) -> str:
    return ctx.prefix.rstrip(".").replace(".", "_")


@register(L.Conv2D)
def conv2d(layer: L.Conv2D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = keras.layers.Conv2D(
        layer.filters,
        layer.kernel_hw,
        strides=layer.stride_hw,
        padding=layer.padding,  # Keras 'same' is TF SAME (extra pixel bottom/right), strided too
        dilation_rate=layer.dilation_hw,
        groups=layer.groups,  # kernel (kh, kw, in / groups, out): canonical
        activation=keras_activation(layer, ctx.dtype),
        use_bias=layer.use_bias,
        kernel_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=_name(ctx),
    )

    def binder():
        return [ctx.bind("kernel", native.kernel)] + ([ctx.bind("bias", native.bias)] if layer.use_bias else [])

    return native, binder


@register(L.MaxPool2D)
def max_pool2d(layer: L.MaxPool2D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return keras.layers.MaxPooling2D(layer.pool_hw, strides=layer.step_hw, padding=layer.padding, dtype=ctx.dtype), list


@register(L.AvgPool2D)
def avg_pool2d(layer: L.AvgPool2D, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    pool = keras.layers.AveragePooling2D(layer.pool_hw, strides=layer.step_hw, padding=layer.padding, dtype=ctx.dtype)
    return pool, list
