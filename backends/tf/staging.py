"""Staging shared by the tf and keras models: both are fed TensorFlow tensors."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from backends.base import Batch
from spec.dropout import check_mask_names


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
                yt = tf.constant(np.asarray(y), dtype=tf.int64 if self.recipe.loss == "cross_entropy" else self.dtype)
            mt = {k: tf.constant(np.asarray(m), dtype=self.dtype) for k, m in masks.items()}
        return Batch(xt, yt, len(x), mt)

    def _load_masks(self, batch: Batch) -> None:
        for name, dropout in self.dropouts.items():
            dropout.load(batch.masks.get(name))
