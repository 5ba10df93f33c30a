"""Keras on PyTorch: torch autograd (loss.backward()) for the gradients, eager
train_on_batch for the step, Dropout masks as attributes (every call is eager).

float64 care (docs/semantics.md, Keras engines and JAX): as on TF, Keras's torch ``convert_to_tensor`` makes a
Python float a floatx (float32) tensor, so floatx and np.float64 hyper-parameters matter;
the attention scale goes to torch's scaled_dot_product_attention as a float (exact)."""

from __future__ import annotations

import numpy as np
import torch
from netparity.backends.base import BackendUnavailable, Batch
from netparity.backends.keras.engines import AttributeSlot, keep_float64_promotion


class TorchEngine:
    name = "torch"
    jit_compile = False

    def prepare(self, dtype: str, device: str) -> dict[str, str]:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"--device {device}: torch.cuda.is_available() is False (CPU build or no GPU)")
        torch.backends.cuda.matmul.allow_tf32 = False  # comparisons need full float32
        torch.backends.cudnn.allow_tf32 = False
        return keep_float64_promotion() if dtype == "float64" else {}

    def mask_slot(self, in_shape: tuple[int, ...], dtype: str) -> AttributeSlot:
        return AttributeSlot()

    def embedding_class(self) -> type:
        import keras

        return keras.layers.Embedding  # torch's index_select backward is already a dense gradient

    def attention_class(self, dtype: str) -> type:
        import keras

        return keras.layers.MultiHeadAttention

    def loss_and_grads(self, model, batch: Batch) -> tuple[float, list]:
        trainable = model.net.trainable_variables
        for v in trainable:
            v.value.grad = None
        out = model.net(batch.x, training=True)
        loss = model.loss_fn(batch.y, out)
        if model.net.losses:  # regularization penalties, as fit() adds them
            loss = loss + sum(model.net.losses)
        if loss.requires_grad:  # a model without trainable parameters has nothing to differentiate
            loss.backward()
        grads = [torch.zeros_like(v.value) if v.value.grad is None else v.value.grad.detach() for v in trainable]
        for v in trainable:
            v.value.grad = None
        return float(loss.detach()), grads

    def train_step(self, model, batch: Batch) -> float:
        if not model.net.trainable_variables:  # train_on_batch would call backward() on a constant
            with torch.no_grad():
                return float(model.loss_fn(batch.y, model.net(batch.x, training=True)))
        return float(model.net.train_on_batch(batch.x, batch.y))

    def to_numpy(self, value) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
        return np.asarray(value)


ENGINE = TorchEngine()
