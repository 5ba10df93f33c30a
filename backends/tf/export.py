"""Export a spec with its weights as a TensorFlow SavedModel: a tf.Module holding the tf
backend's own layers (raw ops on tf.Variables) and one ``serving_default`` signature.

The SavedModel takes canonical inputs (NHWC images) and returns ``{"output": y}``; loading it
needs TensorFlow only (``tf.saved_model.load(path).signatures["serving_default"]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from netparity.backends.base import unique_natives
from netparity.backends.tf.layers import Ctx, build_layer
from netparity.spec.model import ModelSpec

ARTIFACT = "tf_savedmodel"


class ServingModule(tf.Module):
    """Inference-mode forward pass of the spec; ``serve`` is its signature."""

    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], dtype: str) -> None:
        super().__init__(name="netparity_export")
        calls, binds = [], []
        for info in spec.infer():
            call, b = build_layer(info.layer, Ctx(info.name + ".", info.in_shape, tf.as_dtype(dtype), params))
            calls.append(call)
            binds += b
        self.weights = unique_natives(binds, lambda b: True)  # tracked, so the SavedModel holds them
        self._calls = calls
        x_dtype = tf.int64 if spec.integer_inputs else tf.as_dtype(dtype)
        signature = tf.TensorSpec((None, *spec.input_shape), x_dtype, name="x")
        self.serve = tf.function(self._serve, input_signature=[signature])

    def _serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        for call in self._calls:
            x = call(x, False)
        return {"output": x}


def save(spec: ModelSpec, params: dict[str, np.ndarray], directory: Path, dtype: str = "float32") -> Path:
    path = Path(directory) / ARTIFACT
    module = ServingModule(spec, params, dtype)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Load the SavedModel (TensorFlow only) and run its serving signature on canonical ``x``."""
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    dtype = serve.structured_input_signature[1]["x"].dtype
    return serve(x=tf.constant(x, dtype=dtype))["output"].numpy()
