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
    cls = (
        ChannelsFirstConv2D
        if needs_channels_first_conv(layer, ctx.in_shape, ctx.dtype, ctx.engine.name)
        else keras.layers.Conv2D
    )
    native = cls(
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


def needs_channels_first_conv(layer: L.Conv2D, in_shape: tuple[int, ...], dtype: str, engine: str) -> bool:
    """Where Keras on torch cannot differentiate its own Conv2D: torch 2.13's float64 CPU
    convolution (slow_conv2d) raises "grad_weight must be contiguous" for a channels_last
    weight of one filter over several input channels and a kernel larger than 1x1, and Keras
    on torch makes every channels_last weight channels_last (docs/semantics.md, Keras engines and JAX)."""
    in_channels = in_shape[-1]
    return (
        engine == "torch"
        and dtype == "float64"
        and layer.filters == 1
        and layer.groups == 1
        and in_channels > 1
        and layer.kernel_hw != (1, 1)
    )


@keras.saving.register_keras_serializable("netparity")
class ChannelsFirstConv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D (Keras on torch only) whose convolution runs ``keras.ops.conv`` on
    the input copied to contiguous NCHW (data_format="channels_first"), then transposes back:
    the same sum, with no channels_last tensor for torch to allocate grad_weight after, so
    torch's float64 backward runs."""

    def convolution_op(self, inputs, kernel):
        nchw = keras.ops.transpose(inputs, (0, 3, 1, 2)).contiguous()  # a torch.Tensor here
        out = keras.ops.conv(
            nchw,
            kernel,
            strides=list(self.strides),
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format="channels_first",
        )
        return keras.ops.transpose(out, (0, 2, 3, 1))


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
