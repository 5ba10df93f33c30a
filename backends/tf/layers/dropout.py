"""Dropout on raw TF ops; the shared mask lives in a MaskSlot so compiled steps see each new one."""

from __future__ import annotations

import tensorflow as tf
from netparity.backends.base import Binding
from netparity.backends.base import find_dropouts as _find
from netparity.backends.tf.layers import Ctx, TfLayer, register
from netparity.backends.tf.staging import MaskSlot
from netparity.spec import layers as L


class MaskedDropout:
    """Training: y = x * mask with the shared mask, or tf.nn.dropout's own random mask when
    none was given; inference: y = x."""

    def __init__(self, layer: L.Dropout, ctx: Ctx) -> None:
        self.rate, self.canonical_name = layer.rate, ctx.prefix.rstrip(".")
        self.slot = MaskSlot(ctx.in_shape, ctx.dtype)
        self.load = self.slot.load

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if not training or self.rate == 0:
            return x
        return self.slot.apply(x, lambda: tf.nn.dropout(x, self.rate))


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return MaskedDropout(layer, ctx), []


def find_dropouts(calls: list[TfLayer]) -> dict[str, MaskedDropout]:
    return _find(calls, MaskedDropout)
