"""A backend's models in a long-lived worker process, behind the same Model protocol.

For a backend that cannot run in this process although its framework is installed: Keras
fixes its engine (KERAS_BACKEND) when first imported, so once this process's Keras runs on
TensorFlow, Keras on JAX or torch has to run elsewhere. One worker per backend, started on
first use (a 'spawn' process prepared by ``prepare_process``) and reused for every model
after; each call ships canonical NumPy in and out, staged batches stay in the worker.
The isolated harness (a fresh process per backend) never needs this; in-process runs and
the test suite do, and their timings then include the round trip (``implementation``).
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
from netparity.backends.base import Batch
from netparity.backends.processes import starting_without_main, watch_parent

_WORKERS: dict[str, ProcessPoolExecutor] = {}


def call(name: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in backend ``name``'s worker (started on first use)."""
    if name not in _WORKERS:
        context = multiprocessing.get_context("spawn")
        _WORKERS[name] = ProcessPoolExecutor(1, mp_context=context, initializer=_start, initargs=(name, os.getpid()))
    try:
        with starting_without_main():  # the worker starts on the first submit; it runs netparity's functions only
            future = _WORKERS[name].submit(fn, *args)
        return future.result()
    except BrokenProcessPool:
        _WORKERS.pop(name, None)
        raise RuntimeError(f"{name}: its worker process died (a crash in the framework, or out of memory)") from None


@atexit.register
def _shutdown() -> None:
    for pool in _WORKERS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _WORKERS.clear()


# --- in the worker --------------------------------------------------------------------
def _start(name: str, parent_pid: int) -> None:
    """The worker's first act: end with its parent (never an orphan), then set up the backend."""
    from netparity.backends import prepare_process

    watch_parent(parent_pid)
    prepare_process(name)


_MODELS: dict[int, Any] = {}
_BATCHES: dict[int, dict[int, Batch]] = {}
_IDS = itertools.count()


def _backend(name: str):
    from netparity.backends import backend_object

    return backend_object(name)


def _unavailable(name: str) -> str | None:
    return _backend(name).unavailable()


def _method(name: str, method: str, *args: Any) -> Any:
    return getattr(_backend(name), method)(*args)


def _build(name: str, spec, params, recipe, dtype: str, device: str) -> tuple[int, dict[str, str]]:
    model = _backend(name).build(spec, params, recipe, dtype=dtype, device=device)
    model_id = next(_IDS)
    _MODELS[model_id], _BATCHES[model_id] = model, {}
    return model_id, dict(model.implementation)


def _stage(model_id: int, x, y, masks) -> int:
    batch_id = next(_IDS)
    _BATCHES[model_id][batch_id] = _MODELS[model_id].stage(x, y, masks)
    return batch_id


def _call(model_id: int, method: str, batch_id: int | None, kwargs: dict[str, Any]) -> Any:
    model = _MODELS[model_id]
    args = () if batch_id is None else (_BATCHES[model_id][batch_id],)
    return getattr(model, method)(*args, **kwargs)


def _start_epoch(model_id: int, epoch: int) -> None:
    hook = getattr(_MODELS[model_id], "start_epoch", None)
    if hook is not None:
        hook(epoch)


def _learning_rate(model_id: int) -> float | None:
    hook = getattr(_MODELS[model_id], "learning_rate", None)
    return None if hook is None else float(hook())


def _drop(model_id: int) -> None:
    _MODELS.pop(model_id, None)
    _BATCHES.pop(model_id, None)


# --- in this process --------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteBatch:
    """A batch staged in the worker; ``Batch.x`` holds this handle."""

    batch_id: int


class RemoteModel:
    """The Model protocol over a model built in backend ``name``'s worker."""

    def __init__(self, name: str, spec, params, recipe, dtype: str, device: str, why: str) -> None:
        self.name = name
        self.model_id, implementation = call(name, _build, name, spec, params, recipe, dtype, device)
        self.implementation = {**implementation, "process": f"a worker process ({why})"}
        self.recipe_lr = recipe.optimizer.lr

    def _call(self, method: str, batch: Batch | None, **kwargs: Any) -> Any:
        return call(self.name, _call, self.model_id, method, None if batch is None else batch.x.batch_id, kwargs)

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        batch_id = call(self.name, _stage, self.model_id, x, y, masks)
        return Batch(RemoteBatch(batch_id), size=len(x))

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        return self._call("forward", batch, training=training)

    def activations(self, batch: Batch) -> list[np.ndarray]:
        return self._call("activations", batch)

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        return self._call("loss_and_grads", batch)

    def train_step(self, batch: Batch) -> float:
        return self._call("train_step", batch)

    def params(self) -> dict[str, np.ndarray]:
        return self._call("params", None)

    def start_epoch(self, epoch: int) -> None:
        """The optional schedule hooks (backends.base.start_epoch/learning_rate) forwarded too."""
        call(self.name, _start_epoch, self.model_id, epoch)

    def learning_rate(self) -> float:
        lr = call(self.name, _learning_rate, self.model_id)
        return float(self.recipe_lr if lr is None else lr)

    def __del__(self) -> None:
        pool = _WORKERS.get(self.name)
        if pool is not None:
            try:
                pool.submit(_drop, self.model_id)
            except Exception:  # the interpreter is shutting down: the worker goes with it
                pass
