"""Conv2D, MaxPooling2D and AveragePooling2D as Keras 3 layers (NHWC, HWIO kernels: canonical)."""

from __future__ import annotations

import keras
import numpy as np
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
    if layer.padding == "same" and ctx.engine.name == "torch":
        return AveragePoolingTFSame(layer.pool_hw, layer.step_hw, ctx.in_shape[:-1], dtype=ctx.dtype), list
    pool = keras.layers.AveragePooling2D(layer.pool_hw, strides=layer.step_hw, padding=layer.padding, dtype=ctx.dtype)
    return pool, list


class AveragePoolingTFSame(keras.layers.Layer):
    """'same' average pooling by TF's rule, mean over the window's real (unpadded) inputs:
    sum(x) / count through ``keras.ops.average_pool`` of the zero-padded input and of a
    padded mask of ones. Keras on torch averages 'same' windows differently (0.15-0.37 off
    TF's rule, measured on the issue-14 cases; docs/semantics.md, Keras engines and JAX)."""

    def __init__(self, pool: tuple[int, ...], strides: tuple[int, ...], spatial: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool, self.strides = tuple(pool), tuple(strides)
        pads = [L.axis_padding("same", n, k, s) for n, k, s in zip(spatial, pool, strides, strict=True)]
        self.pads = [(0, 0), *pads, (0, 0)]
        ones = np.ones((1, *spatial, 1), dtype=self.dtype)
        self.count = keras.ops.average_pool(np.pad(ones, self.pads), self.pool, self.strides, padding="valid")

    def call(self, x):
        summed = keras.ops.average_pool(keras.ops.pad(x, self.pads), self.pool, self.strides, padding="valid")
        return summed / keras.ops.cast(self.count, x.dtype)
