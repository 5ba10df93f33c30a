"""The Keras model: keras.Sequential of native layers, compiled with a native loss and
optimizer; train_on_batch is the step, a GradientTape gives the gradients."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf
from netparity.backends.base import Batch, Binding
from netparity.backends.keras.layers import Ctx, build_layer
from netparity.backends.keras.layers.dropout import find_dropouts
from netparity.backends.keras.optim import describe, floatx, make_optimizer
from netparity.backends.tf.staging import TfStaging
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, output_activation

# a model without trainable weights (pooling and Flatten) is valid: nothing is trained, and
# forward and loss are compared; Keras says so on every train_on_batch
warnings.filterwarnings("ignore", message="The model does not have any trainable weights")


class OutputAsGivenCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    """Cross-entropy on logits of the model's output exactly as given. On a final softmax,
    Keras's own loss notices the Softmax op and takes its input instead, whatever
    ``from_logits`` says (keras/src/backend/tensorflow/nn.py ``_get_logits``): the spec
    means softmax applied twice, so the output passes through ``tf.identity`` first."""

    def call(self, y_true, y_pred):
        return super().call(y_true, tf.identity(y_pred))


def make_loss(recipe: Recipe, spec: ModelSpec) -> keras.losses.Loss:
    """Keras's own loss, except on a final softmax under from_logits (OutputAsGivenCrossentropy).
    With from_logits False and a final softmax, Keras takes the softmax's logits: the same
    -log p[label], computed stably (and without its 1e-7 clip, which only applies to other outputs)."""
    if recipe.loss.name == "mse":
        return keras.losses.MeanSquaredError()
    if recipe.loss.from_logits and output_activation(spec.layers) == "softmax":
        return OutputAsGivenCrossentropy(from_logits=True)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=recipe.loss.from_logits)


class KerasModel(TfStaging):
    backend_name = "keras"

    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str, device: str) -> None:
        self.spec, self.recipe, self.dtype = spec, recipe, dtype
        self.device = "/GPU:0" if device.startswith("cuda") else "/CPU:0"
        natives, binders = [], []
        # floatx(dtype): Keras makes its loss, metric trackers and optimizer variables in floatx
        with tf.device(self.device), floatx(dtype):
            for info in spec.infer():
                native, binder = build_layer(info.layer, Ctx(info.name + ".", info.in_shape, dtype, recipe))
                natives.append(native)
                binders.append(binder)
            in_dtype = "int64" if spec.integer_inputs else dtype
            self.net = keras.Sequential([keras.Input(shape=spec.input_shape, dtype=in_dtype), *natives])
            self.bindings: list[Binding] = [b for binder in binders for b in binder()]
            self.dropouts = find_dropouts(natives)
            for b in self.bindings:
                b.native.assign(b.layout.to_native(params[b.name]).astype(dtype))
            self.loss_fn = make_loss(recipe, spec)
            self.optimizer = make_optimizer(recipe.optimizer, dtype)
            self.net.compile(optimizer=self.optimizer, loss=self.loss_fn, jit_compile=False)
        self.implementation = {
            "layers": "keras.Sequential",
            "optimizer": describe(self.optimizer),
            "loss": type(self.loss_fn).__name__,
        }

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        with tf.device(self.device):
            if not training:  # Keras's compiled inference path, as model.predict uses
                return np.asarray(self.net.predict_on_batch(batch.x))
            self._load_masks(batch)
            return np.asarray(self.net(batch.x, training=True))

    def activations(self, batch: Batch) -> list[np.ndarray]:
        outs, x = [], batch.x
        with tf.device(self.device):
            for layer in self.net.layers:
                x = layer(x, training=False)
                outs.append(np.asarray(x))
        return outs

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        trainable = [b.native for b in self.bindings if b.trainable]
        self._load_masks(batch)
        with tf.device(self.device), tf.GradientTape() as tape:
            out = self.net(batch.x, training=True)
            loss = self.loss_fn(batch.y, out)
            if self.net.losses:  # regularization penalties, as fit() adds them
                loss = loss + tf.add_n(self.net.losses)
        grads = tape.gradient(loss, trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        by_var = {id(v): g for v, g in zip(trainable, grads, strict=True)}
        return float(loss), {b.name: _read(b, by_var[id(b.native)]) for b in self.bindings if b.trainable}

    def train_step(self, batch: Batch) -> float:
        with tf.device(self.device):
            self._load_masks(batch)
            return float(self.net.train_on_batch(batch.x, batch.y))

    def params(self) -> dict[str, np.ndarray]:
        return {b.name: _read(b, b.native) for b in self.bindings}


def _read(b: Binding, value) -> np.ndarray:
    if isinstance(value, tf.IndexedSlices):  # an Embedding's gradient: make it the dense (vocab, dim) array
        value = tf.convert_to_tensor(value)
    return b.canonical(np.asarray(value))
