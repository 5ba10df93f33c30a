"""Keras on JAX: the step is what Keras's own JAXTrainer.train_step computes
(``stateless_call`` under ``jax.value_and_grad``, then ``optimizer.stateless_apply``),
jax.jit-compiled with the Dropout masks as arguments: train_on_batch's compiled step
takes only (x, y), and a mask that is no argument would be baked into the trace.

float64 care (docs/semantics.md, Keras engines and JAX): jax_enable_x64 must be on, or every float64 array
Keras makes is silently float32; floatx and np.float64 hyper-parameters as on TF; and
MultiHeadAttention must not take its fused path, jax.nn.dot_product_attention, whose
softmax is "always carried out in fp32" (ExplicitSoftmaxMultiHeadAttention)."""

from __future__ import annotations

import jax
import numpy as np
from netparity.backends.base import Batch
from netparity.backends.keras.engines import AttributeSlot, keep_float64_promotion


class JaxEngine:
    name = "jax"
    jit_compile = True

    def prepare(self, dtype: str, device: str) -> dict[str, str]:
        from netparity.backends.jax import prepare_process

        prepare_process(dtype, device)
        return keep_float64_promotion() if dtype == "float64" else {}

    def mask_slot(self, in_shape: tuple[int, ...], dtype: str) -> AttributeSlot:
        return AttributeSlot()

    def embedding_class(self) -> type:
        import keras

        return keras.layers.Embedding  # jax.grad of take is already the dense gradient

    def attention_class(self, dtype: str) -> type:
        import keras

        if dtype != "float64":
            return keras.layers.MultiHeadAttention
        from netparity.backends.keras.layers.attention import ExplicitSoftmaxMultiHeadAttention

        return ExplicitSoftmaxMultiHeadAttention

    def _compiled(self, model):
        """(loss_and_grads, step), jitted once per model."""
        if getattr(model, "_jax_fns", None) is None:
            net, loss_fn, optimizer, dropouts = model.net, model.loss_fn, model.optimizer, model.dropouts

            def loss(trainable, non_trainable, x, y, masks):
                for name, layer in dropouts.items():  # tracers of this call's masks
                    layer.load(masks.get(name))
                try:
                    out, non_trainable, losses = net.stateless_call(
                        trainable, non_trainable, x, training=True, return_losses=True
                    )
                finally:
                    for layer in dropouts.values():
                        layer.load(None)
                value = loss_fn(y, out)
                if losses:  # regularization penalties, as fit() adds them
                    value = value + sum(losses)
                return value, non_trainable

            grad_fn = jax.value_and_grad(loss, has_aux=True)

            def step(trainable, non_trainable, opt_vars, x, y, masks):
                (value, non_trainable), grads = grad_fn(trainable, non_trainable, x, y, masks)
                trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
                return value, trainable, non_trainable, opt_vars

            model._jax_fns = (jax.jit(grad_fn), jax.jit(step))
        return model._jax_fns

    def loss_and_grads(self, model, batch: Batch) -> tuple[float, list]:
        grad_fn, _ = self._compiled(model)
        net = model.net
        trainable = [v.value for v in net.trainable_variables]
        non_trainable = [v.value for v in net.non_trainable_variables]
        (value, non_trainable), grads = grad_fn(trainable, non_trainable, batch.x, batch.y, batch.masks)
        _assign(net.non_trainable_variables, non_trainable)  # BatchNorm's moving statistics
        return float(value), grads

    def train_step(self, model, batch: Batch) -> float:
        _, step = self._compiled(model)
        net, optimizer = model.net, model.optimizer
        if not optimizer.built:
            optimizer.build(net.trainable_variables)
        value, trainable, non_trainable, opt_vars = step(
            [v.value for v in net.trainable_variables],
            [v.value for v in net.non_trainable_variables],
            [v.value for v in optimizer.variables],
            batch.x,
            batch.y,
            batch.masks,
        )
        _assign(net.trainable_variables, trainable)
        _assign(net.non_trainable_variables, non_trainable)
        _assign(optimizer.variables, opt_vars)
        return float(value)

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value)


def _assign(variables: list, values: list) -> None:
    for v, value in zip(variables, values, strict=True):
        v.assign(value)


ENGINE = JaxEngine()
