"""What the tf and keras models share: both are fed TensorFlow tensors, and both hold the
harness's Dropout masks in variables that their compiled steps read."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from netparity.backends.base import Batch
from netparity.spec.dropout import check_mask_names


class TfStaging:
    """``stage`` (inputs, targets and Dropout masks to tensors on the model's device, once)
    and ``_load_masks`` (masks into the Dropout layers' variables: compiled steps and
    train_on_batch take only (x, y)). Expects spec, recipe, dtype, device and dropouts."""

    backend_name = "tf"

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        masks = masks or {}
        check_mask_names(masks, self.dropouts, self.backend_name)
        with tf.device(self.device):
            xt = tf.constant(np.asarray(x), dtype=tf.int64 if self.spec.integer_inputs else self.dtype)
            yt = None
            if y is not None:
                yt = tf.constant(np.asarray(y), dtype=tf.int64 if self.recipe.loss.integer_targets else self.dtype)
            mt = {k: tf.constant(np.asarray(m), dtype=self.dtype) for k, m in masks.items()}
        return Batch(xt, yt, len(x), mt)

    def _load_masks(self, batch: Batch) -> None:
        for name, dropout in self.dropouts.items():
            dropout.load(batch.masks.get(name))


class MaskSlot:
    """The shared Dropout mask (spec/dropout.py) of one layer, in a variable of shape
    (None, *in_shape) assigned before each call so that a compiled step reads the current
    one; zero rows mean "no mask"."""

    def __init__(self, in_shape: tuple[int, ...], dtype) -> None:
        self.empty = tf.zeros((0, *in_shape), dtype)
        self.mask = tf.Variable(self.empty, trainable=False, shape=tf.TensorShape([None, *in_shape]))

    def load(self, mask: tf.Tensor | None) -> None:
        self.mask.assign(self.empty if mask is None else mask)

    def apply(self, x: tf.Tensor, own_dropout) -> tf.Tensor:
        """y = x * mask, or ``own_dropout()`` (the framework's random mask) when none is loaded."""
        mask = self.mask.read_value()  # a tensor: cond's gradient cannot zero a (None, ...) variable
        return tf.cond(tf.shape(mask)[0] > 0, lambda: x * tf.reshape(mask, tf.shape(x)), own_dropout)
