"""Run one backend in a fresh subprocess: fair timing (no other framework's threads, caches
or allocations in the process), its own peak memory, and a crash that loses only it."""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import numpy as np
from netparity.backends import prepare_process
from netparity.harness.run import BackendResult, RunConfig, run_backend
from netparity.spec.tasks import TaskInstance

T = TypeVar("T")


def in_fresh_process(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``fn(*args, **kwargs)`` in a new 'spawn' process (never fork: frameworks' thread pools
    don't survive it). Raises BrokenProcessPool if the process dies."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def run_isolated(
    name: str,
    task: TaskInstance,
    params: dict[str, np.ndarray],
    config: RunConfig,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    target: Callable[..., BackendResult] = run_backend,
) -> BackendResult:
    """``target`` (``run_backend``) for one backend in its own fresh process."""
    if progress is not None:
        try:  # a callback crosses into the child only if it pickles; else the child runs quietly
            pickle.dumps(progress)
        except Exception:
            progress = None
    try:
        return in_fresh_process(_prepared, target, name, task, params, config, progress)
    except BrokenProcessPool:
        return BackendResult(
            name, status="failed", reason="its process died (a crash in the framework, or out of memory)"
        )


def _prepared(target: Callable[..., BackendResult], name: str, *args: object) -> BackendResult:
    """In the fresh process: let the backend set it up first (e.g. Keras's engine), then run."""
    prepare_process(name)
    return target(name, *args)
