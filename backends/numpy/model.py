"""The NumPy model: a list of hand-written layers, a loss, an optimizer."""

from __future__ import annotations

import numpy as np
from netparity.backends.base import Batch
from netparity.backends.numpy.layers import NpLayer, build_layer
from netparity.backends.numpy.layers.dropout import find_dropouts
from netparity.backends.numpy.losses import make_loss
from netparity.backends.numpy.optim import Scheduler, clip_gradients, describe, make_optimizer
from netparity.spec.dropout import check_mask_names
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, l2_applies


class NumpyModel:
    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str) -> None:
        self.spec, self.recipe, self.dtype = spec, recipe, np.dtype(dtype)
        self.layers: list[NpLayer] = []
        self._params: dict[str, np.ndarray] = {}  # full name -> the very array a layer uses
        self._grads: dict[str, np.ndarray] = {}
        self._state: dict[str, np.ndarray] = {}
        for info in spec.infer():
            prefix = info.name + "."
            own = {k[len(prefix) :]: np.array(params[k], dtype=self.dtype, order="C") for k in info.params}
            layer = build_layer(info.layer, info.in_shape, own, self.dtype)
            for key, store in ((layer.params, self._params), (layer.grads, self._grads), (layer.state, self._state)):
                store.update({prefix + k: v for k, v in key.items()})
            for k in info.state:  # load canonical initial state into the layer's own arrays
                layer.state[k[len(prefix) :]][...] = params[k]
            self.layers.append(layer)
        has_params_before = False  # a layer needs its input gradient only if a layer before it learns
        for layer in self.layers:
            layer.need_input_grad = has_params_before
            has_params_before = has_params_before or bool(layer.params)
        self.dropouts = find_dropouts(spec, self.layers)
        self.loss_fn = make_loss(recipe.loss)
        self.optimizer = make_optimizer(recipe.optimizer)
        self.scheduler = Scheduler(recipe.lr_schedule, recipe.optimizer.lr)
        self.implementation = {"layers": "hand-written NumPy", "optimizer": describe(self.optimizer)}
        if recipe.lr_schedule is not None:
            self.implementation["lr_schedule"] = "numpy: spec.recipe.Schedule.lr_at"
        if recipe.clip is not None:
            self.implementation["clip"] = "numpy: clip_gradients"

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        x = np.asarray(x, dtype=np.int64 if self.spec.integer_inputs else self.dtype)
        if y is not None:
            y = np.asarray(y, dtype=np.int64 if self.recipe.loss.integer_targets else self.dtype)
        masks = masks or {}
        check_mask_names(masks, self.dropouts, "numpy")
        return Batch(x, y, len(x), {k: np.asarray(v, dtype=self.dtype) for k, v in masks.items()})

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        for name, layer in self.dropouts.items():
            layer.mask = batch.masks.get(name)
        x = batch.x
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def activations(self, batch: Batch) -> list[np.ndarray]:
        outs, x = [], batch.x
        for layer in self.layers:
            x = layer.forward(x, False)
            outs.append(x.copy())
        return outs

    def _backprop(self, batch: Batch) -> float:
        out = self.forward(batch, training=True)
        loss, d = self.loss_fn(out, batch.y)
        for layer in reversed(self.layers):
            d = layer.backward(d)
            if not layer.need_input_grad:  # no earlier layer has parameters: stop here
                break
        if self.recipe.l2:  # loss += l2 * sum(w^2); grad += 2 * l2 * w
            for name, w in self._params.items():
                if l2_applies(name):
                    loss += self.recipe.l2 * float(np.sum(w * w))
                    self._grads[name] += (2 * self.recipe.l2) * w
        return loss

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        loss = self._backprop(batch)
        return loss, {k: v.copy() for k, v in self._grads.items()}

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of every epoch (a per-epoch schedule moves on)."""
        self.scheduler.epoch = epoch

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses."""
        return self.scheduler.lr(self.optimizer.t)

    def train_step(self, batch: Batch) -> float:
        loss = self._backprop(batch)
        self.optimizer.lr = self.learning_rate()
        self.optimizer.step(self._params, clip_gradients(self.recipe.clip, self._grads))
        return loss

    def params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in {**self._params, **self._state}.items()}
