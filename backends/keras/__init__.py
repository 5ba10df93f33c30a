"""Keras 3 backends: keras.Sequential of native layers, native losses and keras.optimizers,
on each of Keras's engines. ``keras`` is Keras on TensorFlow; ``keras-jax`` and
``keras-torch`` (``VARIANTS``) are the same adapter on JAX and PyTorch.

Keras fixes its engine when it is first imported (KERAS_BACKEND), so one process holds one
engine: a fresh process for one backend sets it first (``prepare_process``, called by the
isolated harness), and a backend whose engine is not this process's runs its models in a
worker process (backends/remote.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
from netparity.backends.base import check_dtype, check_params, native_stderr_silenced
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of reports

#: Keras engine -> (the package it needs, the netparity backend of that framework: threads and TF32)
ENGINES = {"tensorflow": ("tensorflow", "tf"), "jax": ("jax", "jax"), "torch": ("torch", "torch")}


def process_engine() -> str:
    """The engine Keras has (or will have, once imported) in this process."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


class KerasBackend:
    """Keras on one engine: builds a KerasModel here, or a RemoteModel when this process's
    Keras runs on another engine."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.name = "keras" if engine == "tensorflow" else f"keras-{engine}"
        self.requires: tuple[str, ...] = ("keras", ENGINES[engine][0])  # looked up without importing them
        #: the backend of its engine's framework: one worker process serves both, importing the
        #: framework once (harness/pool.py; tests/test_pool.py proves their results unchanged)
        self.shares_process_with = ENGINES[engine][1]

    @property
    def local(self) -> bool:
        return process_engine() == self.engine

    def _elsewhere(self) -> str:
        return f"this process's Keras runs on {process_engine()}"

    def _framework(self):
        from netparity.backends import get_backend

        return get_backend(ENGINES[self.engine][1])

    def prepare_process(self) -> None:
        """In a fresh process, before Keras is imported: choose this backend's engine."""
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = self.engine

    def unavailable(self) -> str | None:
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"{', '.join(missing)} not installed"
        if not self.local:
            from netparity.backends import remote

            try:
                return remote.call(self.name, remote._unavailable, self.name)
            except RuntimeError as err:
                return str(err)
        try:
            with native_stderr_silenced():  # importing keras imports its engine (TF's banners)
                import keras
        except Exception as err:
            return f"Keras is not installed or failed to import ({type(err).__name__}: {err})"
        if not keras.__version__.startswith("3."):
            return f"Keras 3 is required, found {keras.__version__}"
        return None

    def set_threads(self, n: int) -> str:
        if not self.local:
            from netparity.backends import remote

            return remote.call(self.name, remote._method, self.name, "set_threads", n)
        return self._framework().set_threads(n)

    def allow_tf32(self, enabled: bool) -> str:
        if not self.local:
            from netparity.backends import remote

            return remote.call(self.name, remote._method, self.name, "allow_tf32", enabled)
        return self._framework().allow_tf32(enabled)

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        check_dtype(dtype)
        check_params(spec, params)
        if not self.local:
            from netparity.backends.remote import RemoteModel

            return RemoteModel(self.name, spec, params, recipe, dtype, device, self._elsewhere())
        from netparity.backends.keras.engines import engine_for
        from netparity.backends.keras.model import KerasModel

        engine = engine_for(self.engine)
        notes = engine.prepare(dtype, device)
        return KerasModel(spec, params, recipe, dtype, device, engine, notes)


BACKEND = KerasBackend("tensorflow")
VARIANTS = {"jax": KerasBackend("jax"), "torch": KerasBackend("torch")}
