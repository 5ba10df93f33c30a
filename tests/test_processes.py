"""netparity's child processes as a user's script sees them: an unguarded script is not run
again in the children, a guarded one may still hand them its own functions, and a worker
never outlives its parent (backends/processes.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import require
from netparity.backends.processes import refers_to_main

ROOT = Path(__file__).resolve().parents[1]


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backends", "isolate"),
    [(["numpy", "keras-jax"], None), (["numpy", "torch"], True)],
    ids=["remote-worker", "isolated"],
)
def test_an_unguarded_script_runs_once(tmp_path: Path, backends: list[str], isolate: bool | None) -> None:
    """No ``if __name__ == "__main__":``: before, each child ran the script again (its
    comparison and its print), and the nested children could not start."""
    for name in backends:
        require(name)
    proc = run_script(
        tmp_path,
        f"""
        import netparity
        result = netparity.compare("regression", backends={backends!r}, dtype="float64", epochs=1,
                                   timing=False, isolate={isolate!r})
        print("RAN", result.ok)
        """,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("RAN") == 1, proc.stdout
    assert "RAN True" in proc.stdout


def test_a_guarded_script_still_hands_children_its_own_functions(tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        """
        from netparity.harness.isolate import in_fresh_process

        def triple(x):
            return 3 * x

        if __name__ == "__main__":
            print("GOT", in_fresh_process(triple, 14, timeout=120))
        """,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GOT 42" in proc.stdout


class UserClass:
    """Stands for a class a user's script defines."""


def test_refers_to_main_sees_main_definitions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from netparity.harness import isolate

    import __main__

    monkeypatch.setattr(UserClass, "__module__", "__main__")
    monkeypatch.setattr(__main__, "UserClass", UserClass, raising=False)
    assert refers_to_main((1, [UserClass]))
    assert not refers_to_main((isolate.in_fresh_process, {"spec": [1, 2]}, b"data"))
    assert refers_to_main((lambda: None,))  # unpicklable: left to multiprocessing as before


def test_refers_to_main_copies_no_data_and_keeps_pipe_ends_alone() -> None:
    """A run's payload holds its dataset and a pipe end: the scan neither copies the arrays
    (they go out of band) nor pickles the connection."""
    import multiprocessing
    import tracemalloc

    import numpy as np

    receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
    data = np.zeros((2000, 2000))  # 32 MB
    tracemalloc.start()
    try:
        assert not refers_to_main((sender, {"x": data, "y": data[:, 0]}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        receiver.close()
        sender.close()
    assert peak < 1_000_000, f"the scan allocated {peak} bytes"


def test_a_worker_ends_with_its_parent(tmp_path: Path) -> None:
    """The parent starts a worker that watches it, prints its pid and dies at once (os._exit,
    no clean-up): the worker must be gone within a few seconds."""
    proc = run_script(
        tmp_path,
        """
        import multiprocessing, os, time
        from netparity.backends.processes import watch_parent

        def worker(parent):
            watch_parent(parent, interval=0.1)
            time.sleep(120)

        if __name__ == "__main__":
            child = multiprocessing.get_context("spawn").Process(target=worker, args=(os.getpid(),))
            child.start()
            time.sleep(1.0)
            print(child.pid, flush=True)
            os._exit(0)
        """,
    )
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid), f"worker {pid} outlived its parent"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
