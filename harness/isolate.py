"""Run one backend in a fresh subprocess: fair timing (no other framework's threads, caches
or allocations in the process), its own peak memory, and a crash, a hang or a Ctrl-C that
loses only it.

The pieces are reusable by anything that runs work in a child process (a worker pool too):

- :func:`die_with_parent`, called first thing in a child, makes the kernel kill the child when
  its parent dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread);
- :func:`start_child` starts a 'spawn' process that ignores Ctrl-C from its first instruction
  (the parent decides what an interrupt ends);
- :func:`end_process` ends a child: SIGTERM, then SIGKILL after a grace period;
- :func:`in_fresh_process` puts them together: a call in a child with a timeout, whose child
  is always ended when the call returns, times out, or the parent is interrupted.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from netparity.backends import prepare_process
from netparity.backends.processes import starting_without_main
from netparity.harness.run import BackendResult, RunConfig, run_backend
from netparity.spec.flops import forward_flops, train_flops
from netparity.spec.tasks import TaskInstance

T = TypeVar("T")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GRACE_S = 2.0  # between SIGTERM and SIGKILL when a child is ended
#: the default per-backend timeout: a fixed allowance for importing a framework, building and
#: compiling on a busy machine, plus the run's work at a pessimistic speed
TIMEOUT_BASE_S = 300.0
TIMEOUT_PER_STEP_S = 0.05
TIMEOUT_FLOPS_PER_S = 1e8


class ChildDied(RuntimeError):
    """The child process ended without sending a result back."""


class ChildFailed(RuntimeError):
    """The function raised in the child; the message is ``Type: message``."""


class ChildTimeout(TimeoutError):
    """The child ran past its timeout and was ended."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


def die_with_parent(parent_pid: int) -> None:
    """Have this process killed when ``parent_pid`` (its parent) dies, however it dies. On
    Linux the signal comes when the parent's *thread* that started this process ends: start
    long-lived children from a long-lived thread (harness.pool does)."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if not armed:  # a watchdog: reparenting means the parent is gone

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="die-with-parent").start()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


def _child_main(conn: Any, parent_pid: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends this process
    try:
        message: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as err:  # reported to the parent, never printed here
        message = ("error", f"{type(err).__name__}: {err}".strip())
    try:
        conn.send(message)
    except Exception as err:  # e.g. a result that does not pickle
        conn.send(("error", f"the result could not be sent back: {type(err).__name__}: {err}"))
    conn.close()


def start_child(target: Callable[..., Any], args: tuple) -> multiprocessing.process.BaseProcess:
    """A started 'spawn' process (never fork: frameworks' thread pools don't survive it) that
    ignores SIGINT from the start: the terminal sends Ctrl-C to the whole process group, and a
    child must neither print a traceback nor die before its parent has decided what to keep."""
    context = multiprocessing.get_context("spawn")
    proc = context.Process(target=target, args=args, name="netparity-child")
    main_thread = threading.current_thread() is threading.main_thread()
    # None: a handler not set from Python (or not the main thread): left as it is
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    if previous is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with starting_without_main(args):  # a user's unguarded script is not run again in the child
            proc.start()  # SIG_IGN is inherited through fork and exec
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return proc


def end_process(proc: multiprocessing.process.BaseProcess, grace: float = GRACE_S) -> None:
    """End a child if it still runs: SIGTERM, then SIGKILL after ``grace`` seconds; reap it."""
    if proc.is_alive():
        proc.terminate()
        proc.join(grace)
        if proc.is_alive():
            proc.kill()
    proc.join()


def in_fresh_process(fn: Callable[..., T], *args: object, timeout: float | None = None, **kwargs: object) -> T:
    """``fn(*args, **kwargs)`` in a new process, ended when it returns, after ``timeout``
    seconds (ChildTimeout), or when this process is interrupted (KeyboardInterrupt propagates).
    Raises ChildDied if the child dies, ChildFailed if ``fn`` raises."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    proc = start_child(_child_main, (sender, os.getpid(), fn, args, kwargs))
    sender.close()  # only the child writes: EOF here when it dies
    try:
        if not receiver.poll(timeout):
            raise ChildTimeout(timeout or 0.0)
        try:
            status, value = receiver.recv()
        except (EOFError, OSError):
            proc.join(GRACE_S)
            raise ChildDied(f"exit status {proc.exitcode}") from None
        if status != "ok":
            raise ChildFailed(value)
        return value
    finally:
        receiver.close()
        end_process(proc)


def default_timeout(task: TaskInstance, config: RunConfig) -> float:
    """Seconds one backend may take: TIMEOUT_BASE_S plus the run's steps and FLOPs at a
    pessimistic speed, twice over when the timing runs repeat the work."""
    spec, recipe, data = task.model, task.recipe, task.data
    rows = len(data.x_train)
    steps = recipe.epochs * math.ceil(rows / recipe.batch_size)
    flops = recipe.epochs * train_flops(spec, rows) + forward_flops(spec, len(data.x_test))
    work = steps * TIMEOUT_PER_STEP_S + flops / TIMEOUT_FLOPS_PER_S
    return round(TIMEOUT_BASE_S + work * (2 if config.timing else 1))


def run_isolated(
    name: str,
    task: TaskInstance,
    params: dict[str, np.ndarray],
    config: RunConfig,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    target: Callable[..., BackendResult] = run_backend,
) -> BackendResult:
    """``target`` (``run_backend``) for one backend in its own fresh process, ended after
    ``config.backend_timeout`` seconds (default: :func:`default_timeout`)."""
    if progress is not None:
        try:  # a callback crosses into the child only if it pickles; else the child runs quietly
            pickle.dumps(progress)
        except Exception:
            progress = None
    timeout = config.backend_timeout or (default_timeout(task, config) if task is not None else None)
    try:
        return in_fresh_process(_prepared, target, name, task, params, config, progress, timeout=timeout)
    except ChildTimeout as err:
        return BackendResult(name, status="failed", reason=f"{err} (--backend-timeout)")
    except ChildDied:
        return BackendResult(
            name, status="failed", reason="its process died (a crash in the framework, or out of memory)"
        )
    except ChildFailed as err:
        return BackendResult(name, status="failed", reason=str(err))


def _prepared(target: Callable[..., BackendResult], name: str, *args: object) -> BackendResult:
    """In the fresh process: let the backend set it up first (e.g. Keras's engine), then run."""
    prepare_process(name)
    return target(name, *args)
