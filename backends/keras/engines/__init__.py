"""What differs when the same Keras model runs on another engine (Keras's backend, fixed
per process by KERAS_BACKEND at import): tensors and devices, how a step computes its
gradients, where a Dropout mask lives, and each engine's float64 care. One module per
engine; ``engine_for`` imports only the one asked for, so Keras on JAX never imports TF."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np
from netparity.backends.base import Batch

#: Keras backend name -> the module implementing it here
ENGINE_MODULES = {"tensorflow": "tf_engine", "jax": "jax_engine", "torch": "torch_engine"}


class Engine(Protocol):
    """The engine-specific half of KerasModel (backends/keras/model.py)."""

    name: str  # Keras's backend name
    #: compile(jit_compile=...): XLA for JAX (its only compiled form); tf.function without XLA
    #: for TF (as before); eager for torch (torch.compile is another story)
    jit_compile: bool

    def prepare(self, dtype: str, device: str) -> dict[str, str]:
        """Before building: the device exists, float64 works, TF32 is off (raise
        BackendUnavailable). Returns what it changed to compute the formula (``implementation``)."""
        ...

    def mask_slot(self, in_shape: tuple[int, ...], dtype: str) -> Any:
        """Holder of one Dropout's shared mask: ``load(mask)``, ``apply(x, own_dropout)``."""
        ...

    def embedding_class(self) -> type:
        """The keras Embedding class whose table gradient is dense (canonical Adam)."""
        ...

    def attention_class(self, dtype: str) -> type:
        """The keras MultiHeadAttention class that computes in ``dtype``."""
        ...

    def loss_and_grads(self, model: Any, batch: Batch) -> tuple[float, list[Any]]:
        """Training-mode loss and the gradient of each of ``model.net.trainable_variables``."""
        ...

    def train_step(self, model: Any, batch: Batch) -> float: ...

    def to_numpy(self, value: Any) -> np.ndarray: ...


def engine_for(name: str) -> Engine:
    module = importlib.import_module(f"netparity.backends.keras.engines.{ENGINE_MODULES[name]}")
    return module.ENGINE


class AttributeSlot:
    """The mask as a plain attribute read when the layer is called: right for eager torch, and
    for a JAX step that loads the masks inside its traced function (they are its arguments)."""

    def __init__(self) -> None:
        self.mask = None

    def load(self, mask) -> None:
        self.mask = mask

    def apply(self, x, own_dropout):
        return own_dropout() if self.mask is None else x * self.mask


def keep_float64_promotion() -> dict[str, str]:
    """Make Keras's type promotion keep float64, as JAX does with jax_enable_x64.

    ``keras.backend.result_type`` ends with ``BIT64_TO_BIT32_DTYPE`` "to be aligned with
    JAX's default behavior" (x64 off) on every engine but TensorFlow, so even
    result_type(float64, float64) is float32 there, and the ops that use it compute in
    float32: on torch ``keras.ops.matmul`` (every Dense) casts both float64 operands to
    float32, on JAX and torch ``keras.ops.mean`` (MeanSquaredError) reduces in float32
    (docs/semantics.md, Keras engines and JAX). netparity runs JAX with x64 on, so Keras's table gets x64's
    answer: a float64 result stays float64. Only float64 operands are affected, so float32
    runs compute exactly as before."""
    from keras.src.backend.common import dtypes

    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    return {"float64": "keras result_type keeps float64 (BIT64_TO_BIT32_DTYPE['float64'] = 'float64')"}
