"""Starting netparity's child processes safely from a user's script.

multiprocessing's 'spawn' start method runs the parent's main script again in every child
(as ``__mp_main__``) so that functions defined there can be unpickled. A user's script that
calls ``netparity.compare(...)`` at top level, without an ``if __name__ == "__main__":``
guard, would then run its whole comparison again inside each child: the children's own
children cannot start during that bootstrap, so the user sees the script's output several
times and backends reported failed. netparity's children never need the user's script when
nothing they receive refers to it (specs, arrays and netparity's own functions), so
:func:`starting_without_main` leaves the main script out of the child's preparation.

:func:`watch_parent` ends a worker whose parent has gone: a process-pool worker waits on a
queue whose write end it holds itself, so it would otherwise wait forever as an orphan.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import time
from collections.abc import Iterator
from multiprocessing import spawn
from multiprocessing.connection import Connection
from typing import Any

_PATCH_LOCK = threading.RLock()
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


class _MainScan(pickle.Pickler):
    """A pickler that writes nothing: it only notes whether the stream names ``__main__``.
    Arrays go out of band (protocol 5), so a large dataset is neither copied nor scanned;
    pipe ends are not pickled (their handles are the child's business)."""

    def __init__(self) -> None:
        super().__init__(self, protocol=5, buffer_callback=lambda buffer: None)
        self.found, self._tail = False, b""

    def write(self, data: bytes) -> int:  # the pickler's own file: it writes into itself
        chunk = self._tail + bytes(data)
        self.found = self.found or b"__main__" in chunk
        self._tail = chunk[-(len(b"__main__") - 1) :]
        return len(data)

    def persistent_id(self, obj: Any) -> str | None:
        return "connection" if isinstance(obj, Connection) else None


def refers_to_main(payload: Any) -> bool:
    """Whether pickling ``payload`` references anything defined in the ``__main__`` module (a
    user's function or class), which a child can only unpickle by running the main script."""
    scan = _MainScan()
    try:
        scan.dump(payload)
    except Exception:  # unpicklable: let multiprocessing report it as it would
        return True
    return scan.found


@contextlib.contextmanager
def starting_without_main(payload: Any = ()) -> Iterator[None]:
    """Within this block, 'spawn' children start without re-running the main script, unless
    ``payload`` (what the child will receive) refers to ``__main__``."""
    keep_main = refers_to_main(payload)
    with _PATCH_LOCK:  # held either way: another thread's block must not strip this child's main
        if keep_main:
            yield
            return
        prepare = spawn.get_preparation_data

        def without_main(name: str) -> dict[str, Any]:
            data = prepare(name)
            for key in _MAIN_KEYS:
                data.pop(key, None)
            return data

        spawn.get_preparation_data = without_main
        try:
            yield
        finally:
            spawn.get_preparation_data = prepare


def watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """End this process (exit status 1) within ``interval`` seconds of ``parent_pid``, its
    parent, going away. A watchdog thread, not PR_SET_PDEATHSIG: that signal follows the parent
    *thread* that started the child, and a pool may be started from a short-lived thread."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="netparity-watch-parent").start()
    if os.getppid() != parent_pid:  # the parent died before the watchdog started
        os._exit(1)
