"""Dense, Activation, Flatten, LastStep and Residual as Keras 3 layers."""

from __future__ import annotations

import keras
from netparity.backends.keras.layers import Binder, Ctx, build_layer, keras_activation, register, regularizer
from netparity.spec import layers as L
from netparity.spec.walk import stack


@register(L.Dense)
def dense(layer: L.Dense, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = keras.layers.Dense(
        layer.units,
        activation=keras_activation(layer, ctx.dtype),
        use_bias=layer.use_bias,
        kernel_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=ctx.prefix.rstrip(".").replace(".", "_"),
    )

    def binder():
        return [ctx.bind("kernel", native.kernel)] + ([ctx.bind("bias", native.bias)] if layer.use_bias else [])

    return native, binder


@register(L.Activation)
def activation(layer: L.Activation, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return keras.layers.Activation(keras_activation(layer, ctx.dtype), dtype=ctx.dtype), list


@register(L.Flatten)
def flatten(layer: L.Flatten, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return keras.layers.Flatten(dtype=ctx.dtype), list


@keras.saving.register_keras_serializable("netparity")
class LastStep(keras.layers.Layer):
    """x[:, -1]: Keras has no layer for it."""

    def call(self, x):
        return x[:, -1]


@register(L.LastStep)
def last_step(layer: L.LastStep, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return LastStep(dtype=ctx.dtype), list


@keras.saving.register_keras_serializable("netparity")
class Residual(keras.layers.Layer):
    """x + f(x) for an inner stack of Keras layers (a Sequential cannot branch)."""

    def __init__(self, inner: list[keras.layers.Layer], **kw) -> None:
        super().__init__(**kw)
        self.inner = inner

    def build(self, input_shape) -> None:
        shape = input_shape
        for layer in self.inner:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def compute_output_shape(self, input_shape):
        """x + f(x) has x's shape (an outer Residual asks while building its inner stack)."""
        return input_shape

    def call(self, x, training=None):
        y = x
        for layer in self.inner:
            y = layer(y, training=training)
        return x + y


@register(L.Residual)
def residual(layer: L.Residual, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    natives, binders = [], []
    for site in stack(layer.layers, ctx.in_shape, ctx.prefix):
        native, binder = build_layer(site.layer, Ctx(site.prefix, site.in_shape, ctx.dtype, ctx.recipe, ctx.engine))
        natives.append(native)
        binders.append(binder)
    return Residual(natives, dtype=ctx.dtype), lambda: [b for binder in binders for b in binder()]
