"""TensorFlow backend: a tf.Module of raw tf.Variables, tf.GradientTape, tf.function steps,
and TensorFlow's own training kernels (tf.raw_ops.ResourceApply*) for the optimizers."""

from __future__ import annotations

import os

import numpy as np
from netparity.backends.base import check_dtype, check_params, native_stderr_silenced
from netparity.backends.tf.threads import require_device, set_tf32
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of reports


class TfBackend:
    name = "tf"
    requires: tuple[str, ...] = ("tensorflow",)  # its packages, looked up without importing them

    def unavailable(self) -> str | None:
        try:
            with native_stderr_silenced():  # TF's import banners (oneDNN, CPU features) skip every log level
                import tensorflow  # noqa: F401
        except Exception as err:
            return f"TensorFlow is not installed or failed to import ({type(err).__name__}: {err})"
        return None

    def set_threads(self, n: int) -> str:
        from netparity.backends.tf.threads import set_tf_threads

        return set_tf_threads(n)

    def allow_tf32(self, enabled: bool) -> str:
        return set_tf32(enabled)

    def model_class(self) -> type:
        from netparity.backends.tf.model import TfModel

        return TfModel

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        check_dtype(dtype)
        check_params(spec, params)
        require_device(device)
        set_tf32(False)  # TF enables TF32 by default; comparisons need full float32
        return self.model_class()(spec, params, recipe, dtype, device)


BACKEND = TfBackend()
