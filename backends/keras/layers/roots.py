"""Quadratic (the roots task) as a small custom Keras layer: Keras has none."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from netparity.backends.keras.layers import Binder, Ctx, register
from netparity.spec import layers as L


@keras.saving.register_keras_serializable("netparity")
class Quadratic(keras.layers.Layer):
    """y = a*x^2 + b*x + c for every input row; x is the only weight."""

    def __init__(self, a: float, b: float, c: float, **kw) -> None:
        super().__init__(**kw)
        self.a, self.b, self.c = a, b, c

    def build(self, input_shape) -> None:
        self.x = self.add_weight(shape=(1,), initializer="zeros", name="x")

    def call(self, inputs):
        # coefficients converted straight to the weight's dtype (never through float32)
        a, b, c = (ops.convert_to_tensor(np.asarray(v, dtype=self.x.dtype)) for v in (self.a, self.b, self.c))
        value = a * self.x * self.x + b * self.x + c
        return ops.zeros_like(inputs[:, :1]) + value

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "a": self.a, "b": self.b, "c": self.c}


@register(L.Quadratic)
def quadratic(layer: L.Quadratic, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = Quadratic(float(layer.a), float(layer.b), float(layer.c), dtype=ctx.dtype)
    return native, lambda: [ctx.bind("x", native.x)]
