"""Dropout as keras.layers.Dropout that applies the harness's shared mask when it has one."""

from __future__ import annotations

import keras
import tensorflow as tf
from netparity.backends.keras.layers import Binder, Ctx, register
from netparity.backends.tf.staging import MaskSlot
from netparity.backends.tf.staging import find_dropouts as _find
from netparity.spec import layers as L


@keras.saving.register_keras_serializable("netparity")
class MaskedDropout(keras.layers.Dropout):
    """Training: y = x * mask with the shared mask (a MaskSlot: the Keras backend here is
    TensorFlow), or Keras's own random mask when none was given; inference: y = x."""

    def __init__(self, rate: float, canonical_name: str, in_shape: tuple[int, ...], **kw) -> None:
        super().__init__(rate, **kw)
        self.canonical_name = canonical_name
        self.slot = MaskSlot(in_shape, kw.get("dtype") or "float32")

    def load(self, mask: tf.Tensor | None) -> None:
        self.slot.load(mask)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return self.slot.apply(inputs, lambda: super(MaskedDropout, self).call(inputs, training=True))


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = MaskedDropout(layer.rate, ctx.prefix.rstrip("."), ctx.in_shape, dtype=ctx.dtype)
    return native, list


def find_dropouts(layers: list[keras.layers.Layer]) -> dict[str, MaskedDropout]:
    return _find(layers, MaskedDropout)
