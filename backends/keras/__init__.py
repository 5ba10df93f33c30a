"""Keras 3 backend (on its TensorFlow backend): keras.Sequential of native layers,
native losses and keras.optimizers, trained with train_on_batch."""

from __future__ import annotations

import os

import numpy as np

from backends.base import check_dtype, check_params
from backends.tf.threads import require_device, set_tf32
from spec.model import ModelSpec
from spec.recipe import Recipe

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class KerasBackend:
    name = "keras"

    def unavailable(self) -> str | None:
        try:
            import keras
        except Exception as err:
            return f"Keras is not installed or failed to import ({type(err).__name__}: {err})"
        if not keras.__version__.startswith("3."):
            return f"Keras 3 is required, found {keras.__version__}"
        if keras.backend.backend() != "tensorflow":
            return f"needs KERAS_BACKEND=tensorflow, found {keras.backend.backend()!r}"
        return None

    def set_threads(self, n: int) -> str:
        from backends.tf.threads import set_tf_threads

        return set_tf_threads(n)

    def allow_tf32(self, enabled: bool) -> str:
        return set_tf32(enabled)

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        from backends.keras.model import KerasModel

        check_dtype(dtype)
        check_params(spec, params)
        require_device(device)
        set_tf32(False)  # TF enables TF32 by default; comparisons need full float32
        return KerasModel(spec, params, recipe, dtype, device)


BACKEND = KerasBackend()
