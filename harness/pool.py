"""Persistent workers: one process per backend imports its framework once and runs many
comparisons, so a campaign pays the 2-5 s framework import once instead of once per run.

What a run keeps from a fresh process (harness/isolate.py):
- its own state: every job builds a fresh model from the canonical parameters it is sent,
  and the process-wide random generators are reseeded before it (``fresh_state``);
- a crash (or a time-out) loses only that job: the worker is killed and started again, and
  the job comes back as a ``failed`` result;
- fair timing: a job with ``config.timing`` runs alone (no other worker computes meanwhile).

A worker is keyed by (backend, threads, device): TensorFlow fixes its thread pools at first
use, so a run with another thread count gets a worker of its own.

``WorkerPool`` is a runner for ``harness.run.run(..., runner=pool)``; several threads may call
it at once (each backend's worker serves one job at a time).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np
from netparity.harness.isolate import default_timeout, die_with_parent, end_process, start_child
from netparity.harness.run import BackendResult, RunConfig, run_backend
from netparity.spec.tasks import TaskInstance

Progress = Callable[[str, int, int], None]
DIED = "its worker process died (a crash in the framework, or out of memory); the worker was restarted"


def fresh_state(seed: int) -> None:
    """What a job may not inherit from the one before: the global random generators (a
    framework layer that draws from them gets the same numbers as in a fresh process).
    No ``gc.collect()`` here: with TensorFlow loaded a full collection costs ~0.5 CPU-s,
    more than a small comparison, and Python's own collector frees the old models anyway."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _serve(name: str, conn: Connection, parent_pid: int) -> None:
    """A worker's main loop: import the framework once, then run jobs until told to stop."""
    die_with_parent(parent_pid)  # a parent killed with -9 leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends us
    logging.disable(logging.WARNING)  # e.g. TF's retracing warnings: many models per process is the point
    from netparity.backends import BackendUnavailable, get_backend

    try:  # the warm import; an unavailable backend still answers (run_backend reports the skip)
        get_backend(name)
    except (BackendUnavailable, ImportError):
        pass
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        task, params, config, want_progress = job

        def progress(backend: str, done: int, total: int) -> None:
            conn.send(("progress", backend, done, total))

        fresh_state(config.seed)
        try:
            result = run_backend(name, task, params, config, progress if want_progress else None)
            conn.send(("result", result))
        except (BrokenPipeError, EOFError, OSError):  # the parent is gone: so are we
            return


class Worker:
    """One backend's persistent process, restarted after a crash or a time-out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()  # one job at a time
        self.jobs = 0
        self.restarts = 0
        self.closed = False
        self._start()

    def _start(self) -> None:
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = start_child(_serve, (self.name, child, os.getpid()))  # spawn, Ctrl-C ignored from the start
        child.close()
        self._ready = False

    def restart(self) -> None:
        if self.closed:  # the pool is closing (e.g. Ctrl-C): no new process
            return
        self.kill()
        self.restarts += 1
        self._start()

    def kill(self) -> None:
        end_process(self.process)
        self.conn.close()

    def close(self) -> None:
        """Ask the worker to finish, and kill it if it does not within a few seconds."""
        self.closed = True
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5)
        self.kill()  # if it did not finish

    def run(
        self,
        task: TaskInstance,
        params: dict[str, np.ndarray],
        config: RunConfig,
        progress: Progress | None,
        timeout_s: float | None,
    ) -> BackendResult:
        """The job's result; a ``failed`` one (and a restarted worker) if the process died or
        the job ran past ``timeout_s`` (the framework import is not counted)."""
        with self.lock:
            self.jobs += 1
            try:
                self._wait_ready()
                self.conn.send((task, params, config, progress is not None))
            except (EOFError, OSError, BrokenPipeError):
                self.restart()
                return BackendResult(self.name, status="failed", reason=DIED)
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while True:
                wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                try:
                    message = self.conn.recv() if self.conn.poll(wait) else None
                except (EOFError, OSError):
                    message = ("died",)
                if message is None:
                    if not self.process.is_alive():
                        message = ("died",)
                    elif deadline is not None and time.monotonic() >= deadline:
                        self.restart()
                        return BackendResult(
                            self.name,
                            status="failed",
                            reason=f"timed out after {timeout_s:g} s; the worker was restarted",
                        )
                    else:
                        continue
                if message[0] == "progress":
                    if progress is not None:
                        progress(*message[1:])
                elif message[0] == "result":
                    return message[1]
                else:
                    self.restart()
                    return BackendResult(self.name, status="failed", reason=DIED)

    def _wait_ready(self) -> None:
        """Block until the worker has imported its framework (not counted in a job's time-out)."""
        if not self._ready:
            if self.conn.recv()[0] != "ready":
                raise OSError("the worker did not start")
            self._ready = True


class _Exclusive:
    """Shared for comparisons, exclusive for timing runs (a readers-writer lock)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    def acquire(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive)
                self._shared += 1

    def release(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._exclusive = False
            else:
                self._shared -= 1
            self._cond.notify_all()


class WorkerPool:
    """Persistent backend workers, used as ``run(task, backends, config, runner=pool)``.

    ``timeout_s`` bounds each job (None: ``config.backend_timeout``, else the run's default,
    harness.isolate.default_timeout): a job past it is ended with its worker, which restarts,
    and comes back ``failed``."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self._workers: dict[tuple[str, int | None, str], Worker] = {}
        self._lock = threading.Lock()
        self._timing = _Exclusive()

    def worker(self, name: str, config: RunConfig) -> Worker:
        key = (name, config.threads, config.device)
        with self._lock:
            if key not in self._workers:
                self._workers[key] = Worker(name)
            return self._workers[key]

    def start(self, names: list[str], config: RunConfig) -> None:
        """Start the workers for ``names`` now, so that their imports overlap."""
        for name in names:
            self.worker(name, config)

    def __call__(
        self,
        name: str,
        task: TaskInstance,
        params: dict[str, np.ndarray],
        config: RunConfig,
        progress: Progress | None = None,
    ) -> BackendResult:
        worker = self.worker(name, config)
        self._timing.acquire(exclusive=config.timing)
        try:
            timeout = self.timeout_s or config.backend_timeout or default_timeout(task, config)
            return worker.run(task, params, config, progress, timeout)
        finally:
            self._timing.release(exclusive=config.timing)

    def stats(self) -> dict[str, dict[str, int]]:
        """Jobs and restarts per worker (by backend name, threads and device)."""
        return {
            f"{n}/threads={t}/{d}": {"jobs": w.jobs, "restarts": w.restarts} for (n, t, d), w in self._workers.items()
        }

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            w.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
