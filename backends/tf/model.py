"""The tf.Module model: raw tf.Variables, tf.GradientTape, steps compiled with tf.function."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from netparity.backends.base import Batch, Binding, unique_natives
from netparity.backends.tf.layers import Ctx, build_layer, replaced_activations
from netparity.backends.tf.layers.dropout import find_dropouts
from netparity.backends.tf.losses import make_loss
from netparity.backends.tf.optim import clip_gradients, describe, describe_clip, make_optimizer
from netparity.backends.tf.staging import TfStaging
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, l2_applies


class TfModel(TfStaging, tf.Module):
    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str, device: str) -> None:
        super().__init__(name="netparity")
        self.spec, self.recipe = spec, recipe
        self.dtype = tf.as_dtype(dtype)
        self.device = "/GPU:0" if device.startswith("cuda") else "/CPU:0"
        self.calls, self.bindings = [], []
        with tf.device(self.device):
            for info in spec.infer():
                call, binds = build_layer(info.layer, Ctx(info.name + ".", info.in_shape, self.dtype, params))
                self.calls.append(call)
                self.bindings += binds
            self.trainable = unique_natives(self.bindings, lambda b: b.trainable)
            self.l2_vars = unique_natives(self.bindings, lambda b: b.trainable and l2_applies(b.name))
            self.optimizer = make_optimizer(recipe.optimizer, self.trainable, self.dtype, recipe.lr_schedule)
        self.dropouts = find_dropouts(self.calls)
        self.loss_fn, loss_name = make_loss(recipe.loss)
        x_spec = tf.TensorSpec((None, *spec.input_shape), tf.int64 if spec.integer_inputs else self.dtype)
        if recipe.loss.integer_targets:
            y_spec = tf.TensorSpec((None,), tf.int64)
        else:
            y_spec = tf.TensorSpec((None, *spec.output_shape), self.dtype)
        self._predict = tf.function(lambda x: self._run(x, False), input_signature=[x_spec])
        self._grads = tf.function(self._loss_and_grads, input_signature=[x_spec, y_spec])
        # The hot path, a full mini-batch, gets a step traced for its exact shape: static shapes
        # let TF specialize the graph, ~15% faster on small models than a batch axis of None
        # (measured with benchmarks/bench.py). Any other size (the last, partial batch) uses
        # one shape-generic trace, so there are never more than two traces.
        self._step_full = tf.function(self._train_step)
        self._step_any = tf.function(self._train_step, input_signature=[x_spec, y_spec])
        self.implementation = {
            "layers": "raw TF ops on tf.Variable (tf.Module)",
            "optimizer": describe(self.optimizer),
            "loss": loss_name,
            **replaced_activations(spec, dtype),
        }
        if recipe.lr_schedule is not None:
            self.implementation["lr_schedule"] = f"tf ops (optim.schedule_lr), per {recipe.lr_schedule.per}"
        if recipe.clip is not None:
            self.implementation["clip"] = describe_clip(recipe.clip)

    def _run(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        for call in self.calls:
            x = call(x, training)
        return x

    def _loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss = self.loss_fn(self._run(x, True), y)
        if self.recipe.l2 and self.l2_vars:  # a model without kernels has no penalty (add_n([]) raises)
            loss += tf.constant(self.recipe.l2, self.dtype) * tf.add_n(
                [tf.reduce_sum(tf.square(v)) for v in self.l2_vars]
            )
        return loss

    def _loss_and_grads(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            loss = self._loss(x, y)
        return loss, tape.gradient(loss, self.trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        loss, grads = self._loss_and_grads(x, y)
        if self.recipe.clip is not None:
            grads = clip_gradients(self.recipe.clip, grads, self.dtype)
        self.optimizer.apply(self.trainable, grads)
        return loss

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        with tf.device(self.device):
            if training:
                self._load_masks(batch)
            out = self._predict(batch.x) if not training else self._run(batch.x, True)
        return out.numpy()

    def activations(self, batch: Batch) -> list[np.ndarray]:
        outs, x = [], batch.x
        with tf.device(self.device):
            for call in self.calls:
                x = call(x, False)
                outs.append(x.numpy())
        return outs

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        with tf.device(self.device):
            self._load_masks(batch)
            loss, grads = self._grads(batch.x, batch.y)
        by_var = {id(v): g for v, g in zip(self.trainable, grads, strict=True)}
        return float(loss), {b.name: _read(b, by_var[id(b.native)]) for b in self.bindings if b.trainable}

    def start_epoch(self, epoch: int) -> None:
        """Before each epoch's first step: the compiled step reads the epoch for per-epoch schedules."""
        self.optimizer.epoch.assign(float(epoch))

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses (the same tf ops, run eagerly)."""
        with tf.device(self.device):
            return float(self.optimizer.scheduled_lr())

    def train_step(self, batch: Batch) -> float:
        with tf.device(self.device):
            self._load_masks(batch)
            step = self._step_full if batch.size == self.recipe.batch_size else self._step_any
            return float(step(batch.x, batch.y))

    def params(self) -> dict[str, np.ndarray]:
        return {b.name: _read(b, b.native) for b in self.bindings}


def _read(b: Binding, value: tf.Tensor | tf.Variable) -> np.ndarray:
    return b.canonical(value.numpy())
