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

A backend that names ``shares_process_with`` (Keras on TF, JAX or torch names tf, jax or
torch) runs in that backend's worker: the framework is imported once for both. What the two
could share is reset per job as above, and tests/test_pool.py holds each pair's results
bitwise equal to a fresh process's, in either order.

``WorkerPool`` is a runner for ``harness.run.run(..., runner=pool)``; several threads may call
it at once (each worker serves one job at a time). Its ``run_all`` schedules one run's
backends: the comparisons of different workers side by side (``parallel`` at once), then the
timing runs one at a time, each alone on the machine.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection

import numpy as np
from netparity.backends import BACKENDS, backend_object, prepare_process
from netparity.harness.isolate import default_timeout, die_with_parent, end_process, start_child
from netparity.harness.run import BackendResult, RunConfig, run_backend, time_backend
from netparity.harness.timing import once, reset_peak_rss
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


_SPAWNER: ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


def _spawn(target: Callable[..., None], args: tuple) -> multiprocessing.process.BaseProcess:
    """``start_child(target, args)`` from one thread that lives as long as this process: the
    parent-death signal (``die_with_parent``) fires when the *thread* that started a child
    ends, so a worker started from a short-lived thread (a thread pool's) would die with it."""
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netparity-spawner")
    if threading.current_thread() is threading.main_thread():
        return start_child(target, args)  # the main thread lives as long as the process
    return _SPAWNER.submit(start_child, target, args).result()


def process_group(name: str) -> str:
    """The backend whose worker runs ``name``: its ``shares_process_with``, else itself."""
    return getattr(backend_object(name), "shares_process_with", None) or name


def group_members(group: str) -> list[str]:
    """The backends one worker of ``group`` serves."""
    return [b for b in BACKENDS if process_group(b) == group] or [group]


def _serve(group: str, conn: Connection, parent_pid: int, warm: bool = True, members: tuple[str, ...] = ()) -> None:
    """A worker's main loop: import the framework once (now when ``warm``, else in the first
    job, whose ``import`` phase then measures it), then run jobs (of ``members``, default
    ``group`` alone) until told to stop."""
    die_with_parent(parent_pid)  # a parent killed with -9 leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends us
    logging.disable(logging.WARNING)  # e.g. TF's retracing warnings: many models per process is the point
    from netparity.backends import BackendUnavailable, get_backend

    members = members or (group,)
    ran_here: set[str] = set()  # backends that ran in this process: a later one says so
    for name in members:  # before any framework is imported (e.g. Keras's engine)
        prepare_process(name)
    if warm:
        try:  # an unavailable backend still answers (run_backend reports the skip)
            get_backend(group)
        except (BackendUnavailable, ImportError):
            pass
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:  # done: exit now; a framework's interpreter shutdown can take seconds
            conn.close()
            os._exit(0)
        kind, name, task, params, config, want_progress, ran = job

        def progress(backend: str, done: int, total: int) -> None:
            conn.send(("progress", backend, done, total))

        fresh_state(config.seed)
        reset_peak_rss()  # peak_rss_mb: this job's peak, not an earlier job's
        try:
            if kind == "import":
                result = _import(name)
            elif kind == "time":
                result = time_backend(name, task, params, config, ran)
            else:
                result = run_backend(name, task, params, config, progress if want_progress else None)
            before = sorted(ran_here - {name})
            if before:  # what a fresh process would not have had: said in the report
                result.implementation["process"] = (
                    f"a worker shared with {', '.join(before)}, which ran first (the framework imported once)"
                )
            ran_here.add(name)
            conn.send(("result", result))
        except (BrokenPipeError, EOFError, OSError):  # the parent is gone: so are we
            return


def _import(name: str) -> BackendResult:
    """Import backend ``name``'s framework: its ``import`` timing, or failed (its comparison,
    which imports again, then reports why)."""
    from netparity.backends import get_backend

    try:
        t_import, _ = once("import", lambda: get_backend(name))
    except Exception as err:
        return BackendResult(name, status="failed", reason=f"{type(err).__name__}: {err}")
    return BackendResult(name, timings=[t_import])


class _Cores:
    """The machine's cores as a budget of compute threads: a job takes as many as it runs
    (an import one, a comparison its ``threads``), so that a run never oversubscribes the
    cores (threads waiting for a core spin and burn it: measured on torch at load)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, n: int) -> Iterator[None]:
        n = max(1, min(n, self.total))
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n)
            self._free -= n
        try:
            yield
        finally:
            with self._cond:
                self._free += n
                self._cond.notify_all()


class PoolClosed(RuntimeError):
    """The pool was closed: no new worker starts."""


class Worker:
    """One process serving a backend (and those sharing its process), restarted after a
    crash or a time-out: lazily, at its next job, so that no import runs beside a timing run."""

    def __init__(self, name: str, warm: bool = True, members: tuple[str, ...] = ()) -> None:
        self.name = name
        self.warm = warm
        self.members = members or (name,)
        self.lock = threading.Lock()  # one job at a time
        self.jobs = 0
        self.restarts = 0
        self.closed = False
        self.process: multiprocessing.process.BaseProcess | None = None
        self._start()

    def _start(self) -> None:
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        # spawn, Ctrl-C ignored from the start
        self.process = _spawn(_serve, (self.name, child, os.getpid(), self.warm, self.members))
        child.close()
        self._ready = False

    def restart(self) -> None:
        """End the process; the next job starts a new one."""
        self.kill()
        if not self.closed:  # the pool is closing (e.g. Ctrl-C): no new process
            self.restarts += 1

    def kill(self) -> None:
        if self.process is not None:
            end_process(self.process)
            self.conn.close()
            self.process = None

    def close(self, deadline: float | None = None) -> None:
        """Ask the worker to finish, and kill it if it has not by ``deadline`` (monotonic;
        default: in 5 s)."""
        self.ask_to_finish()
        if self.process is not None:
            self.process.join(timeout=max(0.0, (deadline or time.monotonic() + 5) - time.monotonic()))
        self.kill()  # if it did not finish

    def ask_to_finish(self) -> None:
        self.closed = True
        if self.process is not None:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass

    def run(
        self,
        task: TaskInstance,
        params: dict[str, np.ndarray],
        config: RunConfig,
        progress: Progress | None,
        timeout_s: float | None,
        *,
        name: str | None = None,
        timing_of: BackendResult | None = None,
        kind: str = "run",
    ) -> BackendResult:
        """The result of backend ``name`` (default: the worker's own); with ``timing_of`` (its
        comparison, run before), that result with the timing runs added (harness.run.time_backend);
        with ``kind="import"``, only its framework imported (``_import``).
        A ``failed`` one (and a restarted worker) if the process died or the job ran past
        ``timeout_s`` (the framework import is not counted)."""
        name = name or self.name
        kind = "time" if timing_of is not None else kind
        with self.lock:
            self.jobs += kind != "import"  # comparisons and timing runs: what stats() counts
            if self.closed:
                return BackendResult(name, status="failed", reason="the pool was closed (e.g. Ctrl-C) before it ran")
            try:
                if self.process is None:
                    self._start()
                self._wait_ready()
                self.conn.send((kind, name, task, params, config, progress is not None, timing_of))
            except (EOFError, OSError, BrokenPipeError):
                self.restart()
                return BackendResult(name, status="failed", reason=DIED)
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
                            name,
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
                    return BackendResult(name, status="failed", reason=DIED)

    def _wait_ready(self) -> None:
        """Block until the worker has imported its framework (not counted in a job's time-out)."""
        if not self._ready:
            if self.conn.recv()[0] != "ready":
                raise OSError("the worker did not start")
            self._ready = True


class _Exclusive:
    """Shared for comparisons, exclusive for timing runs (a readers-writer lock that prefers
    the writer: once a timing run waits, no new comparison starts before it has run)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # timing runs waiting for the running comparisons to finish

    def acquire(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._waiting += 1
                self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                self._waiting -= 1
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._waiting == 0)
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
    and comes back ``failed``. ``share``: backends that may share a process (``process_group``)
    get one worker (a single run: one import less; a campaign keeps a worker per backend, so
    that two points in flight never queue on one). ``warm``: a worker imports its framework as
    soon as it starts (a campaign's workers then import side by side); else in its first job,
    whose ``import`` phase measures it (a single run's report). ``side_by_side``: ``run_all``
    runs one run's backends side by side within ``parallel`` cores (default: all); else one
    after another, as a campaign's points (already side by side) want."""

    def __init__(
        self,
        timeout_s: float | None = None,
        *,
        share: bool = False,
        warm: bool = True,
        side_by_side: bool = False,
        parallel: int | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.share = share
        self.warm = warm
        self.side_by_side = side_by_side
        self.parallel = parallel or os.cpu_count() or 1
        self._workers: dict[tuple[str, int | None, str], Worker] = {}
        self._lock = threading.Lock()
        self._timing = _Exclusive()
        self._cores = _Cores(self.parallel)
        self.closed = False

    def group(self, name: str) -> str:
        return process_group(name) if self.share else name

    def worker(self, name: str, config: RunConfig) -> Worker:
        key = (self.group(name), config.threads, config.device)
        with self._lock:
            if self.closed:  # e.g. Ctrl-C: a job still queued in a thread starts no new process
                raise PoolClosed
            if key not in self._workers:
                members = tuple(group_members(key[0])) if self.share else (key[0],)
                self._workers[key] = Worker(key[0], warm=self.warm, members=members)
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
        *,
        timing_of: BackendResult | None = None,
        kind: str = "run",
    ) -> BackendResult:
        exclusive = config.timing
        self._timing.acquire(exclusive=exclusive)
        try:  # a worker starts (or restarts) inside the job's turn: never beside a timing run
            try:
                worker = self.worker(name, config)
            except PoolClosed:
                return BackendResult(name, status="failed", reason="interrupted (Ctrl-C) before it finished")
            timeout = self.timeout_s or config.backend_timeout or default_timeout(task, config)
            return worker.run(task, params, config, progress, timeout, name=name, timing_of=timing_of, kind=kind)
        finally:
            self._timing.release(exclusive=exclusive)

    def run_all(
        self,
        names: list[str],
        task_of: Callable[[str], TaskInstance],
        params: dict[str, np.ndarray],
        config: RunConfig,
        progress: Progress | None,
        results: dict[str, BackendResult],
    ) -> None:
        """One run's backends into ``results`` as each finishes. With ``side_by_side``, workers run side by side
        within the machine's cores (``_Cores``: an import takes one, a comparison its
        ``config.threads``), each running its backends one after another: a backend's import,
        its comparison, then (with ``config.timing``) its timing runs, which wait for every
        running job to finish and run with nothing else computing, in the same process right
        after its comparison, as in a fresh process per backend (harness.isolate). A timing
        run that fails or dies fails only its backend; what it compared is kept."""
        if not self.side_by_side:
            for n in names:
                results[n] = self(n, task_of(n), params, config, progress)
            return
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(self.group(n), []).append(n)
        compare_only = dataclasses.replace(config, timing=False)
        cores = self._cores  # shared by every run in flight (a campaign's points)
        threads = config.threads or self.parallel

        def run_group(members: list[str]) -> None:
            for n in members:
                task = task_of(n)
                with cores.hold(1):  # the import on its own: one thread, side by side with others
                    imported = self(n, task, params, compare_only, kind="import")
                with cores.hold(threads):
                    results[n] = ran = self(n, task, params, compare_only, progress)
                if imported.status == "ok" and ran.timings and ran.timings[0].phase == "import":
                    ran.timings[0] = imported.timings[0].with_work(peak_rss_mb=ran.timings[0].peak_rss_mb)
                if config.timing and ran.ran:
                    self._add_timings(ran, task, params, config)

        executor = ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(groups))))
        try:
            for future in [executor.submit(run_group, m) for m in groups.values()]:
                future.result()
        except BaseException:  # Ctrl-C: start nothing new; closing the pool ends what runs
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown()

    def _add_timings(
        self, ran: BackendResult, task: TaskInstance, params: dict[str, np.ndarray], config: RunConfig
    ) -> None:
        """``ran`` (a comparison) with its backend's timing runs added, or failed with why."""
        slim = BackendResult(ran.backend, implementation=ran.implementation, timings=ran.timings)
        timed = self(ran.backend, task, params, config, timing_of=slim)
        if timed.status == "failed":
            reason = timed.reason
            ran.status, ran.reason = "failed", reason if reason.startswith("timing runs") else f"timing runs: {reason}"
        ran.implementation = timed.implementation or ran.implementation
        ran.timings = timed.timings or ran.timings

    def stats(self) -> dict[str, dict[str, int]]:
        """Jobs and restarts per worker (by backend name, threads and device)."""
        return {
            f"{n}/threads={t}/{d}": {"jobs": w.jobs, "restarts": w.restarts} for (n, t, d), w in self._workers.items()
        }

    def close(self) -> None:
        with self._lock:
            self.closed = True
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:  # all at once: each exits as soon as it reads this
            w.ask_to_finish()
        deadline = time.monotonic() + 5
        for w in workers:
            w.close(deadline)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
