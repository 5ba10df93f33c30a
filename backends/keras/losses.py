"""The recipe's loss (spec.recipe.Loss) as a keras.losses object.

Made under floatx(dtype) by the model; every float hyper-parameter is handed over in the
run's precision (``f``), since Keras casts Python floats through float32 (docs/semantics.md §1.8).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops
from netparity.spec.recipe import Loss


class SparseLabelSmoothingCrossentropy(keras.losses.CategoricalCrossentropy):
    """keras.losses.CategoricalCrossentropy(label_smoothing) on integer labels turned one-hot
    (Keras's SparseCategoricalCrossentropy has no label_smoothing)."""

    def call(self, y_true, y_pred):
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return super().call(labels, y_pred)


def make_loss(loss: Loss, f: Callable[[float], float], ends_in_softmax: bool = False) -> keras.losses.Loss:
    """mse: MeanSquaredError; mae: MeanAbsoluteError; huber: Huber(delta) (torch's HuberLoss,
    not SmoothL1Loss); bce: BinaryCrossentropy(from_logits) (on probabilities Keras clips p to
    [1e-7, 1 - 1e-7], and takes the logits back when p comes straight from a sigmoid);
    cross_entropy: SparseCategoricalCrossentropy(from_logits=True), or the one-hot
    CategoricalCrossentropy with label_smoothing."""
    if loss.name == "mse":
        return keras.losses.MeanSquaredError()
    if loss.name == "mae":
        return keras.losses.MeanAbsoluteError()
    if loss.name == "huber":
        return keras.losses.Huber(delta=f(loss.delta))
    if loss.name == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=loss.from_logits)
    if not loss.from_logits:  # on a final softmax Keras takes its logits: the exact -log p[label]
        return keras.losses.SparseCategoricalCrossentropy(from_logits=False)
    if loss.label_smoothing:
        return SparseLabelSmoothingCrossentropy(from_logits=True, label_smoothing=f(loss.label_smoothing))
    if ends_in_softmax:
        return OutputAsGivenCrossentropy(from_logits=True)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class OutputAsGivenCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    """Cross-entropy on logits of the model's output exactly as given. On a final softmax,
    Keras's own loss notices the Softmax op and takes its input instead, whatever
    ``from_logits`` says (keras/src/backend/tensorflow/nn.py ``_get_logits``): the spec
    means softmax applied twice, so the output passes through an exact ``+ 0`` first (a new
    tensor of another op, on every Keras backend)."""

    def call(self, y_true, y_pred):
        return super().call(y_true, keras.ops.add(y_pred, keras.ops.zeros_like(y_pred)))


def describe_loss(fn: keras.losses.Loss) -> str:
    cls = type(fn)
    if cls is OutputAsGivenCrossentropy:
        return "keras subclass OutputAsGivenCrossentropy of keras.losses.SparseCategoricalCrossentropy (output + 0)"
    if cls.__module__ == __name__:
        return f"keras subclass {cls.__name__} of keras.losses.CategoricalCrossentropy"
    return f"keras.losses.{cls.__name__}"
