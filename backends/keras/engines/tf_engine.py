"""Keras on TensorFlow: tf.GradientTape for the gradients, train_on_batch (a tf.function)
for the step, Dropout masks in MaskSlot variables (that compiled step takes only (x, y)),
and an Embedding subclass with a dense gradient.

float64 care (docs/semantics.md §1.8): floatx, np.float64 hyper-parameters and the MHA
scale as np.float64 (backends/keras): TF's ``ops.cast(python_float, dtype)`` makes a
float32 tensor first."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from netparity.backends.base import Batch
from netparity.backends.tf.staging import MaskSlot
from netparity.backends.tf.threads import require_device, set_tf32


@tf.custom_gradient
def _dense_gradient(table: tf.Tensor) -> tf.Tensor:
    """Identity whose gradient is always a dense tensor (an IndexedSlices is summed into one)."""
    return tf.identity(table), lambda dy: tf.convert_to_tensor(dy)


@keras.saving.register_keras_serializable("netparity")
class DenseGradientEmbedding(keras.layers.Embedding):
    """keras.layers.Embedding with a dense (vocab, dim) gradient for its table.

    On TensorFlow the stock layer's gradient is an IndexedSlices of the rows used, and Keras's
    optimizers update only those rows: Adam's moments of unused rows are then not decayed,
    unlike torch's dense update and the canonical formula (docs/semantics.md §11; measured:
    0.1 relative loss difference after 400 Adam steps on `sequence`).
    """

    def call(self, inputs):
        return keras.ops.take(_dense_gradient(tf.convert_to_tensor(self.embeddings)), inputs, axis=0)


class TfEngine:
    name = "tensorflow"
    jit_compile = False

    def prepare(self, dtype: str, device: str) -> dict[str, str]:
        require_device(device)
        set_tf32(False)
        return {}  # TF's result_type keeps float64 already

    def mask_slot(self, in_shape: tuple[int, ...], dtype: str) -> MaskSlot:
        return MaskSlot(in_shape, dtype)

    def embedding_class(self) -> type:
        return DenseGradientEmbedding

    def attention_class(self, dtype: str) -> type:
        import keras

        return keras.layers.MultiHeadAttention

    def loss_and_grads(self, model, batch: Batch) -> tuple[float, list]:
        trainable = model.net.trainable_variables
        with tf.GradientTape() as tape:
            out = model.net(batch.x, training=True)
            loss = model.loss_fn(batch.y, out)
            if model.net.losses:  # regularization penalties, as fit() adds them
                loss = loss + tf.add_n(model.net.losses)
        grads = tape.gradient(loss, trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return float(loss), grads

    def train_step(self, model, batch: Batch) -> float:
        return float(model.net.train_on_batch(batch.x, batch.y))

    def to_numpy(self, value) -> np.ndarray:
        if isinstance(value, tf.IndexedSlices):  # an Embedding's gradient: the dense (vocab, dim) array
            value = tf.convert_to_tensor(value)
        return np.asarray(value)


ENGINE = TfEngine()
