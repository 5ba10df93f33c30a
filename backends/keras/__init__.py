"""Keras 3 backend (on its TensorFlow backend): keras.Sequential of native layers,
native losses and keras.optimizers, trained with train_on_batch."""

from __future__ import annotations

import os

from netparity.backends.base import native_stderr_silenced
from netparity.backends.tf import TfBackend

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class KerasBackend(TfBackend):
    """Shares TensorFlow's threads, device and TF32 switches; builds a KerasModel."""

    name = "keras"
    requires: tuple[str, ...] = ("keras", "tensorflow")  # its packages, looked up without importing them

    def unavailable(self) -> str | None:
        try:
            with native_stderr_silenced():  # importing keras imports TensorFlow
                import keras
        except Exception as err:
            return f"Keras is not installed or failed to import ({type(err).__name__}: {err})"
        if not keras.__version__.startswith("3."):
            return f"Keras 3 is required, found {keras.__version__}"
        if keras.backend.backend() != "tensorflow":
            return f"needs KERAS_BACKEND=tensorflow, found {keras.backend.backend()!r}"
        return None

    def model_class(self) -> type:
        from netparity.backends.keras.model import KerasModel

        return KerasModel


BACKEND = KerasBackend()
