"""The Keras model: keras.Sequential of native layers, compiled with a native loss and
optimizer. The same adapter serves every Keras engine; what differs per engine (tensors,
gradients, the step, Dropout masks) is in backends/keras/engines."""

from __future__ import annotations

import warnings

import keras
import numpy as np
from netparity.backends.base import Batch, Binding
from netparity.backends.keras.engines import Engine
from netparity.backends.keras.layers import Ctx, build_layer, replacements
from netparity.backends.keras.layers.dropout import find_dropouts
from netparity.backends.keras.losses import describe_loss, make_loss
from netparity.backends.keras.optim import describe, epoch_callback, floatx, make_optimizer
from netparity.spec.dropout import check_mask_names
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, output_activation

# a model without trainable weights (pooling and Flatten) is valid: nothing is trained, and
# forward and loss are compared; Keras says so on every train_on_batch
warnings.filterwarnings("ignore", message="The model does not have any trainable weights")


class KerasModel:
    def __init__(
        self,
        spec: ModelSpec,
        params: dict[str, np.ndarray],
        recipe: Recipe,
        dtype: str,
        device: str,
        engine: Engine,
        notes: dict[str, str] | None = None,
    ) -> None:
        self.spec, self.recipe, self.dtype, self.engine = spec, recipe, dtype, engine
        self.backend_name = "keras" if engine.name == "tensorflow" else f"keras-{engine.name}"
        # keras.device: tf.device on TF, the default device on JAX, and on torch the device
        # Keras creates and moves tensors to (it would pick CUDA whenever it sees one). No
        # ":0": Keras-torch moves each new Parameter with .to(device), and .to("cpu:0") of a CPU
        # tensor is a copy, no longer a leaf, so no variable would get a gradient (docs/semantics.md, Keras engines and JAX)
        self.device = "gpu" if device.startswith("cuda") else "cpu"
        natives, binders = [], []
        # floatx(dtype): Keras makes its loss, metric trackers and optimizer variables in floatx
        with keras.device(self.device), floatx(dtype):
            for info in spec.infer():
                native, binder = build_layer(info.layer, Ctx(info.name + ".", info.in_shape, dtype, recipe, engine))
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
            self.net.compile(optimizer=self.optimizer, loss=self.loss_fn, jit_compile=engine.jit_compile)
        self.implementation = {
            "layers": f"keras.Sequential on {engine.name}",
            "optimizer": describe(self.optimizer),
            "loss": describe_loss(self.loss_fn),
            **replacements(spec, dtype, engine.name),
            **(notes or {}),
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

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        masks = masks or {}
        check_mask_names(masks, self.dropouts, self.backend_name)
        convert = keras.ops.convert_to_tensor
        with keras.device(self.device):
            xt = convert(np.asarray(x), dtype="int64" if self.spec.integer_inputs else self.dtype)
            yt = None
            if y is not None:
                yt = convert(np.asarray(y), dtype="int64" if self.recipe.loss == "cross_entropy" else self.dtype)
            mt = {k: convert(np.asarray(m), dtype=self.dtype) for k, m in masks.items()}
        return Batch(xt, yt, len(x), mt)

    def _load_masks(self, batch: Batch) -> None:
        for name, dropout in self.dropouts.items():
            dropout.load(batch.masks.get(name))

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
        with keras.device(self.device):
            if not training:  # Keras's compiled inference path, as model.predict uses
                return self.engine.to_numpy(self.net.predict_on_batch(batch.x))
            self._load_masks(batch)
            try:
                return self.engine.to_numpy(self.net(batch.x, training=True))
            finally:
                self._load_masks(Batch(None))

    def activations(self, batch: Batch) -> list[np.ndarray]:
        outs, x = [], batch.x
        with keras.device(self.device):
            for layer in self.net.layers:
                x = layer(x, training=False)
                outs.append(self.engine.to_numpy(x))
        return outs

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        with keras.device(self.device):
            self._load_masks(batch)
            loss, grads = self.engine.loss_and_grads(self, batch)
        by_var = {id(v): g for v, g in zip(self.net.trainable_variables, grads, strict=True)}
        return loss, {b.name: self._read(b, by_var[id(b.native)]) for b in self.bindings if b.trainable}

    def start_epoch(self, epoch: int) -> None:
        """Before each epoch's first step: a per-epoch schedule's callback sets the lr."""
        if self.epoch_schedule is not None:
            self.epoch_schedule.on_epoch_begin(epoch)

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses (a schedule evaluated at the optimizer's iterations)."""
        return float(self.engine.to_numpy(self.optimizer.learning_rate))

    def train_step(self, batch: Batch) -> float:
        with keras.device(self.device):
            self._load_masks(batch)
            return self.engine.train_step(self, batch)

    def params(self) -> dict[str, np.ndarray]:
        return {b.name: self._read(b, b.native.value) for b in self.bindings}

    def _read(self, b: Binding, value) -> np.ndarray:
        return b.canonical(self.engine.to_numpy(value))
