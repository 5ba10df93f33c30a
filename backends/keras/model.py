"""The Keras model: keras.Sequential of native layers, compiled with a native loss and
optimizer; train_on_batch is the step, a GradientTape gives the gradients."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf
from netparity.backends.base import Batch, Binding, unique_natives
from netparity.backends.keras.layers import Ctx, build_layer, replacements
from netparity.backends.keras.layers.dropout import find_dropouts
from netparity.backends.keras.losses import describe_loss, make_loss
from netparity.backends.keras.optim import describe, epoch_callback, floatx, make_optimizer
from netparity.backends.tf.staging import TfStaging
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, output_activation

# a model without trainable weights (pooling and Flatten) is valid: nothing is trained, and
# forward and loss are compared; Keras says so on every train_on_batch
warnings.filterwarnings("ignore", message="The model does not have any trainable weights")


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
            self._load(params)
            f = np.float64 if dtype == "float64" else float
            self.loss_fn = make_loss(recipe.loss, f, output_activation(spec.layers) == "softmax")
            self.optimizer = make_optimizer(recipe.optimizer, dtype, recipe.lr_schedule, recipe.clip)
            self.net.compile(optimizer=self.optimizer, loss=self.loss_fn, jit_compile=False)
        self.implementation = {
            "layers": "keras.Sequential",
            "optimizer": describe(self.optimizer),
            "loss": describe_loss(self.loss_fn),
            **replacements(spec, dtype),
        }
        schedule = recipe.lr_schedule
        self.epoch_schedule = None
        if schedule is not None and schedule.per == "epoch":
            self.epoch_schedule = epoch_callback(schedule, recipe.optimizer.lr, dtype)
            self.epoch_schedule.set_model(self.net)
        if schedule is not None:
            what = type(self.optimizer._learning_rate if self.epoch_schedule is None else self.epoch_schedule).__name__
            where = "keras.callbacks." if self.epoch_schedule is not None else "keras.optimizers.schedules."
            self.implementation["lr_schedule"] = f"{where}{what}, per {schedule.per}"
        if recipe.clip is not None:
            c = recipe.clip
            arg = "clipvalue" if c.value is not None else "global_clipnorm" if c.scope == "global" else "clipnorm"
            self.implementation["clip"] = f"{'ClipEpsilon subclass' if c.epsilon and c.norm else arg}"

    def _load(self, params: dict[str, np.ndarray]) -> None:
        """Canonical values into the variables; a packed variable (a GRU's (2, 3H) bias) gets
        each of its parts before one assign."""
        values: dict[int, np.ndarray] = {}
        for b in self.bindings:
            native = b.layout.to_native(params[b.name]).astype(self.dtype)
            if b.part is None:
                values[id(b.native)] = native
            else:
                values.setdefault(id(b.native), np.array(b.native.numpy()))[b.part] = native
        for b in self.bindings:
            b.native.assign(values[id(b.native)])

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
        trainable = unique_natives(self.bindings, lambda b: b.trainable)
        self._load_masks(batch)
        with tf.device(self.device), tf.GradientTape() as tape:
            out = self.net(batch.x, training=True)
            loss = self.loss_fn(batch.y, out)
            if self.net.losses:  # regularization penalties, as fit() adds them
                loss = loss + tf.add_n(self.net.losses)
        grads = tape.gradient(loss, trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        by_var = {id(v): g for v, g in zip(trainable, grads, strict=True)}
        return float(loss), {b.name: _read(b, by_var[id(b.native)]) for b in self.bindings if b.trainable}

    def start_epoch(self, epoch: int) -> None:
        """Before each epoch's first step: a per-epoch schedule's callback sets the lr."""
        if self.epoch_schedule is not None:
            self.epoch_schedule.on_epoch_begin(epoch)

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses (a schedule evaluated at the optimizer's iterations)."""
        return float(np.asarray(self.optimizer.learning_rate))

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
