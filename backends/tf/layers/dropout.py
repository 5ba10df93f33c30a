"""Dropout on raw TF ops; the shared mask lives in a variable so compiled steps see each new one."""

from __future__ import annotations

import tensorflow as tf

from backends.base import Binding
from backends.tf.layers import Ctx, TfLayer, register
from spec import layers as L


class MaskedDropout:
    """Training: y = x * mask with the shared mask (spec/dropout.py), or tf.nn.dropout's own
    random mask when none was given; inference: y = x.

    ``mask`` is a variable of shape (None, *in_shape) assigned before each call, so the
    tf.function-compiled step reads the current one; zero rows mean "no mask"."""

    def __init__(self, layer: L.Dropout, ctx: Ctx) -> None:
        self.rate, self.canonical_name = layer.rate, ctx.prefix.rstrip(".")
        self.empty = tf.zeros((0, *ctx.in_shape), ctx.dtype)
        self.mask = tf.Variable(self.empty, trainable=False, shape=tf.TensorShape([None, *ctx.in_shape]))

    def load(self, mask: tf.Tensor | None) -> None:
        self.mask.assign(self.empty if mask is None else mask)

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        if not training or self.rate == 0:
            return x
        mask = self.mask.read_value()  # a tensor: cond's gradient cannot zero a (None, ...) variable
        return tf.cond(
            tf.shape(mask)[0] > 0,
            lambda: x * tf.reshape(mask, tf.shape(x)),
            lambda: tf.nn.dropout(x, self.rate),
        )


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return MaskedDropout(layer, ctx), []


def find_dropouts(calls: list[TfLayer]) -> dict[str, MaskedDropout]:
    """Canonical name -> MaskedDropout among the model's layers (and Residual blocks' ``inner``)."""
    found = {}
    for call in calls:
        if isinstance(call, MaskedDropout):
            found[call.canonical_name] = call
        found.update(find_dropouts(getattr(call, "inner", [])))
    return found
