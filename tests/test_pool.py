"""One run on persistent workers (harness.pool.WorkerPool.run_all): comparisons side by side,
timing runs one at a time with nothing else computing, a backend sharing its framework's
worker (Keras on TF, JAX, torch) computes exactly what it computes alone in a fresh process,
and a worker that dies loses only the job it ran."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import require
from netparity.harness.isolate import run_isolated
from netparity.harness.pool import WorkerPool, group_members, process_group
from netparity.harness.run import BackendResult, RunConfig, run, with_overrides
from netparity.harness.timing import Timing
from netparity.spec.init import init_params
from netparity.spec.tasks import get_task

PAIRS = [("tf", "keras"), ("jax", "keras-jax"), ("torch", "keras-torch")]


@pytest.fixture(scope="module")
def small_task():
    return with_overrides(get_task("classification").build(0), epochs=1)


def assert_same(a: BackendResult, b: BackendResult) -> None:
    """Bitwise the same numbers: outputs, activations, gradients, losses, trained parameters."""
    assert a.status == b.status == "ok", (a.reason, b.reason)
    assert np.array_equal(a.outputs, b.outputs) and np.array_equal(a.test_outputs, b.test_outputs)
    assert len(a.activations) == len(b.activations)
    assert all(np.array_equal(x, y) for x, y in zip(a.activations, b.activations, strict=True))
    assert a.loss == b.loss and a.losses == b.losses and a.lrs == b.lrs
    for name in (*a.grads, *b.grads):
        assert np.array_equal(a.grads[name], b.grads[name]), name
    for name in (*a.params, *b.params):
        assert np.array_equal(a.params[name], b.params[name]), name


def test_the_keras_engines_share_their_frameworks_worker() -> None:
    assert [process_group(b) for b in ("keras", "keras-jax", "keras-torch")] == ["tf", "jax", "torch"]
    assert process_group("numpy") == "numpy" and group_members("tf") == ["tf", "keras"]


@pytest.mark.slow
@pytest.mark.parametrize(("host", "guest"), PAIRS)
def test_a_shared_worker_gives_each_backend_its_fresh_process_numbers_in_either_order(
    host: str, guest: str, small_task
) -> None:
    """What two backends share in one process (a framework's caches, Keras's global state,
    random generators) changes none of their numbers, whichever ran first."""
    require(host)
    require(guest)
    params = init_params(small_task.model, 0)
    config = RunConfig(dtype="float64", timing=False)
    fresh = {n: run_isolated(n, small_task, params, config) for n in (host, guest)}
    for order in ((host, guest), (guest, host)):
        with WorkerPool(warm=False, share=True) as pool:
            for i, n in enumerate(order):
                shared = pool(n, small_task, params, config)
                assert_same(shared, fresh[n])
                note = shared.implementation.get("process", "")
                assert note == (
                    "" if i == 0 else f"a worker shared with {order[0]}, which ran first (the framework imported once)"
                )
            assert len(pool.stats()) == 1  # one worker served both


class Recording(WorkerPool):
    """run_all's scheduling, and WorkerPool's lock, with each worker's job replaced by a short
    sleep that records when it ran."""

    def __init__(self, parallel: int) -> None:
        super().__init__(parallel=parallel, share=True, side_by_side=True)
        self.jobs: list[tuple[str, bool, float, float]] = []  # (backend, timing, start, end)
        self.lock = threading.Lock()

    def worker(self, name, config):
        return self

    def run(self, task, params, config, progress, timeout_s, *, name=None, timing_of=None, kind="run"):
        start = time.monotonic()
        time.sleep(0.05)
        kind = "time" if timing_of is not None else kind
        with self.lock:
            self.jobs.append((name, kind, start, time.monotonic()))
        if kind == "import":
            return BackendResult(name, timings=[Timing("import", 50.0, 50.0, 50.0, 1)])
        return self.result(name, timing_of)

    def result(self, name, timing_of):
        if timing_of is None:
            return BackendResult(
                name, timings=[Timing("import", 0.01, 0.01, 0.01, 1), Timing("build", 1.0, 1.0, 1.0, 1)]
            )
        return BackendResult(name, implementation=timing_of.implementation, timings=[*timing_of.timings])


def overlaps(a: tuple, b: tuple) -> bool:
    return a[2] < b[3] and b[2] < a[3]


def test_comparisons_run_side_by_side_and_each_timing_run_alone(small_task) -> None:
    names = ["numpy", "torch", "tf", "jax", "keras", "keras-jax", "keras-torch"]
    pool = Recording(parallel=2)
    results: dict[str, BackendResult] = {}
    pool.run_all(names, lambda n: small_task, {}, RunConfig(timing=True, threads=1), None, results)
    jobs = {(j[0], j[1]): j for j in pool.jobs}
    assert len(jobs) == len(pool.jobs) == 3 * len(names) and sorted(results) == sorted(names)
    compared = [j for j in pool.jobs if j[1] == "run"]
    assert any(overlaps(a, b) for a in compared for b in compared if a is not b)  # two at once
    for t in (j for j in pool.jobs if j[1] == "time"):  # nothing else ran while a timing run did
        assert all(not overlaps(o, t) for o in pool.jobs if o is not t), t
    for n in names:  # import, comparison, timing, in turn; the import's time is the report's
        assert jobs[n, "import"][3] <= jobs[n, "run"][2] and jobs[n, "run"][3] <= jobs[n, "time"][2]
        assert results[n].timings[0].phase == "import" and results[n].timings[0].median_ms == 50.0
    for first, second in (("tf", "keras"), ("torch", "keras-torch"), ("jax", "keras-jax")):
        assert jobs[first, "time"][3] <= jobs[second, "import"][2], (first, second)


def test_comparisons_never_ask_for_more_threads_than_cores(small_task) -> None:
    """With each backend on all (2) cores, comparisons run one at a time; imports (one
    thread each) may still run beside each other."""
    pool = Recording(parallel=2)
    results: dict[str, BackendResult] = {}
    names = ["numpy", "torch", "tf", "jax"]
    pool.run_all(names, lambda n: small_task, {}, RunConfig(timing=False, threads=2), None, results)
    compared = [j for j in pool.jobs if j[1] == "run"]
    assert not any(overlaps(a, b) for a in compared for b in compared if a is not b)
    assert all(not overlaps(i, c) for i in pool.jobs if i[1] == "import" for c in compared)
    imports = [j for j in pool.jobs if j[1] == "import"]
    assert any(overlaps(a, b) for a in imports for b in imports if a is not b)


def test_no_timing_runs_only_the_comparisons(small_task) -> None:
    pool = Recording(parallel=2)
    results: dict[str, BackendResult] = {}
    pool.run_all(["numpy", "torch"], lambda n: small_task, {}, RunConfig(timing=False), None, results)
    assert sorted(results) == ["numpy", "torch"] and not any(j[1] == "time" for j in pool.jobs)


@pytest.mark.slow
def test_a_worker_killed_mid_comparison_fails_its_backend_and_the_partner_still_runs(small_task) -> None:
    """tf's worker is killed while tf trains: tf fails, Keras (queued on the same worker) runs
    in a restarted worker, NumPy is untouched, and the timing runs still happen for both."""
    require("tf")
    require("keras")
    task = with_overrides(small_task, epochs=200)  # long enough to be caught training
    config = RunConfig(dtype="float64", timing=False)
    with WorkerPool(warm=False, share=True, side_by_side=True) as pool:
        seen: list[str] = []

        def progress(backend: str, done: int, total: int) -> None:
            if backend == "tf" and not seen:
                seen.append(backend)
                worker = pool.worker("tf", config)
                os.kill(worker.process.pid, signal.SIGKILL)

        result = run(task, ["numpy", "tf", "keras"], config, runner=pool, progress=progress)
        stats = pool.stats()
    tf, keras, numpy = (result.results[n] for n in ("tf", "keras", "numpy"))
    assert tf.status == "failed" and "died" in tf.reason
    assert numpy.status == "ok" and keras.status == "ok", keras.reason
    assert stats["tf/threads=None/cpu"]["restarts"] == 1


def test_a_dead_worker_in_the_timing_runs_keeps_the_comparison(small_task, monkeypatch) -> None:
    """A timing run that dies fails its backend with the reason, and keeps what it compared."""

    class DiesTiming(Recording):
        def result(self, name, timing_of):
            if timing_of is not None and name == "torch":
                return BackendResult(name, status="failed", reason="its worker process died")
            return super().result(name, timing_of)

    pool = DiesTiming(parallel=2)
    results: dict[str, BackendResult] = {}
    pool.run_all(["numpy", "torch"], lambda n: small_task, {}, RunConfig(timing=True), None, results)
    torch = results["torch"]
    assert (torch.status, torch.reason) == ("failed", "timing runs: its worker process died")
    assert [t.phase for t in torch.timings] == ["import", "build"]  # the comparison's timings kept
    assert results["numpy"].status == "ok"


@pytest.mark.slow
def test_ctrl_c_on_the_default_workers_writes_what_finished_and_leaves_no_process(tmp_path) -> None:
    """The default run (persistent workers): Ctrl-C to the whole process group exits 130
    within seconds, every backend is either finished (ok) or failed 'interrupted', and no
    worker outlives the run."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "run"
    root = Path(__file__).resolve().parents[1]
    argv = [sys.executable, str(root / "compare.py"), "--task", "regression", "--backends", "numpy,torch"]
    with open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen(
            [*argv, "--epochs", "3000", "--out", str(out)],  # long: Ctrl-C lands inside the run
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        worker = ["pgrep", "-g", str(proc.pid), "-f", "spawn_main"]  # a worker started: run() is running
        while subprocess.run(worker, capture_output=True).returncode != 0 and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
            time.sleep(0.2)
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130, (tmp_path / "stderr").read_text()[-2000:]
        deadline = time.monotonic() + 20
        while subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "a process of the run outlived it"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    summary = (out / "summary.csv").read_text().splitlines()[1:]
    assert len(summary) == 2
    assert all(",ok," in row or "interrupted (Ctrl-C)" in row for row in summary), summary
    assert json.loads((out / "spec.json").read_text())["interrupted"] is True
