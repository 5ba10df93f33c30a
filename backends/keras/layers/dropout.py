"""Dropout as keras.layers.Dropout that applies the harness's shared mask when it has one."""

from __future__ import annotations

import keras
import tensorflow as tf

from backends.keras.layers import Binder, Ctx, register
from spec import layers as L


@keras.saving.register_keras_serializable("netparity")
class MaskedDropout(keras.layers.Dropout):
    """Training: y = x * mask with the shared mask (spec/dropout.py), or Keras's own random
    mask when none was given; inference: y = x.

    The mask sits in a tf.Variable of shape (None, *in_shape) (the Keras backend here is
    TensorFlow), assigned before each call, so train_on_batch's compiled step reads the
    current one; zero rows mean "no mask"."""

    def __init__(self, rate: float, canonical_name: str, in_shape: tuple[int, ...], **kw) -> None:
        super().__init__(rate, **kw)
        self.canonical_name = canonical_name
        self.empty = tf.zeros((0, *in_shape), kw.get("dtype") or "float32")
        self.mask = tf.Variable(self.empty, trainable=False, shape=tf.TensorShape([None, *in_shape]))

    def load(self, mask: tf.Tensor | None) -> None:
        self.mask.assign(self.empty if mask is None else mask)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        mask = self.mask.read_value()  # a tensor: cond's gradient cannot zero a (None, ...) variable
        return tf.cond(
            tf.shape(mask)[0] > 0,
            lambda: inputs * tf.reshape(mask, tf.shape(inputs)),
            lambda: super(MaskedDropout, self).call(inputs, training=True),
        )


@register(L.Dropout)
def dropout(layer: L.Dropout, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = MaskedDropout(layer.rate, ctx.prefix.rstrip("."), ctx.in_shape, dtype=ctx.dtype)
    return native, list


def find_dropouts(layers: list[keras.layers.Layer]) -> dict[str, MaskedDropout]:
    """Canonical name -> MaskedDropout among the model's layers (and Residual blocks' ``inner``)."""
    found = {}
    for layer in layers:
        if isinstance(layer, MaskedDropout):
            found[layer.canonical_name] = layer
        found.update(find_dropouts(getattr(layer, "inner", [])))
    return found
