"""Dropout as keras.layers.Dropout that applies the harness's shared mask when it has one."""

from __future__ import annotations

import keras
from netparity.backends.base import find_dropouts as find_by_type
from netparity.backends.keras.layers import Binder, Ctx, register
from netparity.spec import layers as L


@keras.saving.register_keras_serializable("netparity")
class MaskedDropout(keras.layers.Dropout):
    """Training: y = x * mask with the shared mask (held by the engine's slot: a variable on
    TensorFlow, an attribute on torch and JAX), or Keras's own random mask when none was given;
    inference: y = x."""

    def __init__(self, rate: float, canonical_name: str, slot, **kw) -> None:
        super().__init__(rate, **kw)
        self.canonical_name = canonical_name
        self.slot = slot

    def load(self, mask) -> None:
        self.slot.load(mask)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return self.slot.apply(inputs, lambda: super(MaskedDropout, self).call(inputs, training=True))


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    slot = ctx.engine.mask_slot(ctx.in_shape, ctx.dtype)
    native = MaskedDropout(layer.rate, ctx.prefix.rstrip("."), slot, dtype=ctx.dtype)
    return native, list


def find_dropouts(layers: list[keras.layers.Layer]) -> dict[str, MaskedDropout]:
    return find_by_type(layers, MaskedDropout)
