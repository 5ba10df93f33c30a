"""Faults lose nothing and mix nothing up: a folder is held by one run at a time and never
reused, a hanging backend is ended after its timeout, Ctrl-C keeps what finished, and a run
killed with SIGKILL leaves a folder marked unfinished and no orphaned worker.

The fault tests drive the real command line in a subprocess (``DRIVER``) whose non-reference
backends hang like an import that never returns: :func:`hang_unless_reference` replaces the
backend target of ``harness.isolate.run_isolated``, so every process boundary is the real one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from netparity.harness.isolate import ChildTimeout, default_timeout, in_fresh_process, run_isolated
from netparity.harness.report import RUNNING, ReportError, RunFolder, incomplete_run, prepare_out_dir
from netparity.harness.run import RunConfig, run, run_backend, with_overrides
from netparity.spec.init import init_params
from netparity.spec.tasks import get_task

from netparity import cli as compare

ROOT = Path(__file__).resolve().parents[1]
STARTED = "NETPARITY_TEST_STARTED"  # folder where a hanging backend announces itself

DRIVER = """
import sys
sys.path.insert(0, "tests")
import test_faults
from netparity import cli
from netparity.harness import isolate
isolate.run_isolated.__kwdefaults__["target"] = test_faults.hang_unless_reference
sys.exit(cli.main(sys.argv[1:]))
"""


def hang_unless_reference(name, task, params, config, progress=None):
    """The reference runs for real; any other backend writes its pid to $NETPARITY_TEST_STARTED/<name>
    and then never returns."""
    if name == config.reference:
        return run_backend(name, task, params, config, progress)
    folder = os.environ.get(STARTED)
    if folder:
        Path(folder, name).write_text(str(os.getpid()))
    while True:
        time.sleep(0.2)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for a reaper counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def start_driver(tmp_path: Path, out: Path, *args: str, isolate: bool = True) -> tuple[subprocess.Popen, Path]:
    """The command line, numpy (reference, real) and torch (hangs), in its own session so
    that a signal to its process group is what a terminal's Ctrl-C is. Its output goes to
    files: an orphaned child holding a pipe open must not hang the test. ``isolate`` passes
    --isolate (with --no-timing the default is one process, where nothing would hang)."""
    started = tmp_path / "started"
    started.mkdir(exist_ok=True)
    argv = ["--task", "regression", "--backends", "numpy,torch", "--dtype", "float64", "--no-timing"]
    argv += ["--epochs", "1", "--out", str(out), *(["--isolate"] if isolate else []), *args]
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, *argv],
            cwd=ROOT,
            env={**os.environ, STARTED: str(started)},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return proc, started / "torch"


def finish(proc: subprocess.Popen, timeout: float = 60) -> str:
    """Wait for the driver; its stderr."""
    proc.wait(timeout=timeout)
    out = Path(proc.args[proc.args.index("--out") + 1])
    return (out.parent / "stderr").read_text()


def clean_up(proc: subprocess.Popen, hanging: Path) -> None:
    """Whatever a failed test left running: the driver's group, the hanging child."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if hanging.exists() and not gone(int(hanging.read_text())):
        os.kill(int(hanging.read_text()), signal.SIGKILL)


# ------------------------------------------------------------------ 10, 11, 15: the run folder


def test_a_second_run_into_a_held_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunFolder(str(out), "t"):
        with pytest.raises(
            ReportError, match=rf"already holds an unfinished run \(pid {os.getpid()}, .*still running\)"
        ):
            RunFolder(str(out), "t")
        (out / RUNNING).unlink()  # the instant before the marker is written: the lock alone refuses
        with pytest.raises(ReportError, match=rf"another run \(pid {os.getpid()}\) is writing into it"):
            RunFolder(str(out), "t")


def test_two_runs_into_one_out_the_second_exits_2_and_the_first_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first, hanging = start_driver(tmp_path, out)
    try:
        wait_for(hanging.exists, 120, "the first run to reach its second backend")
        second = subprocess.run(
            [sys.executable, str(ROOT / "compare.py"), "--backends", "numpy", "--no-timing", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"compare.py: error: --out {out}: already holds an unfinished run "
            f"(pid {first.pid}, started {json.loads((out / RUNNING).read_text())['started']}; still running); "
            "choose a new folder"
        ]
        os.killpg(first.pid, signal.SIGINT)
        finish(first)
    finally:
        clean_up(first, hanging)
    assert first.returncode == 130
    assert "numpy,ok" in (out / "summary.csv").read_text()  # the first run's report, not mixed with another


@pytest.mark.parametrize(
    ("content", "holds"),
    [
        ({"summary.csv": ""}, "a report"),
        ({"sweep.csv": ""}, "a learning-rate sweep"),
        ({"lr=0.1/summary.csv": ""}, "a learning-rate sweep"),
        ({"campaign.csv": ""}, "a campaign"),
        ({RUNNING: "{}"}, "an unfinished run"),
    ],
)
def test_a_folder_holding_results_is_refused_as_out(
    content: dict[str, str], holds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "old"
    for name, text in content.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = sorted(p.name for p in out.rglob("*"))
    status = compare.main(["--backends", "numpy", "--no-timing", "--epochs", "1", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert f"--out {out}: already holds {holds}" in err[0]
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing added, nothing replaced


def test_the_banner_lists_a_reference_not_in_backends(tmp_path: Path) -> None:
    argv = ["--reference", "torch", "--backends", "numpy", "--no-timing", "--epochs", "1", "--out", str(tmp_path / "o")]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    banner = proc.stdout.splitlines()[0]
    assert banner.endswith("| reference torch | backends torch, numpy"), banner
    summary = (tmp_path / "o" / "summary.csv").read_text()
    assert "torch,ok" in summary and "numpy,ok" in summary
    assert not (tmp_path / "o" / RUNNING).exists()


# ------------------------------------------------------------------ 12: a backend that hangs


def test_a_hanging_backend_times_out_and_the_others_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(STARTED, str(tmp_path))
    task = with_overrides(get_task("regression").build(0), epochs=1)
    # 10 s, not less: the reference's own child (spawn, imports, training) shares the timeout
    # and takes several seconds on a loaded 2-core machine with tests running in parallel
    config = RunConfig(dtype="float64", timing=False, isolate=True, backend_timeout=10)
    t0 = time.monotonic()
    result = run(task, ["numpy", "torch"], config, runner=partial(run_isolated, target=hang_unless_reference))
    assert time.monotonic() - t0 < 60
    torch, numpy = result.results["torch"], result.results["numpy"]
    assert (torch.status, torch.reason) == ("failed", "timed out after 10 s (--backend-timeout)")
    assert numpy.status == "ok" and numpy.losses
    wait_for(lambda: gone(int((tmp_path / "torch").read_text())), 10, "the timed-out child to be ended")


def test_the_command_line_writes_the_finished_backends_when_one_times_out(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # no --isolate: --backend-timeout implies it, --no-timing's in-process default notwithstanding
    proc, hanging = start_driver(tmp_path, out, "--backend-timeout", "10", isolate=False)
    try:
        err = finish(proc, timeout=120)
    finally:
        clean_up(proc, hanging)
    assert proc.returncode == 1, err[-2000:]
    summary = (out / "summary.csv").read_text()
    assert "numpy,ok" in summary and "torch,failed" in summary and "timed out after 10 s" in summary
    assert not (out / RUNNING).exists()
    assert gone(int(hanging.read_text()))
    assert json.loads((out / "spec.json").read_text())["rerun"]["isolate"] is True


def test_in_fresh_process_ends_its_child_on_timeout() -> None:
    t0 = time.monotonic()
    with pytest.raises(ChildTimeout, match="timed out after 1 s"):
        in_fresh_process(time.sleep, 600, timeout=1)
    assert time.monotonic() - t0 < 30


def test_the_default_timeout_grows_with_the_run() -> None:
    task = get_task("regression").build(0)
    short = default_timeout(with_overrides(task, epochs=1), RunConfig(timing=False))
    long = default_timeout(with_overrides(task, epochs=1000), RunConfig(timing=False))
    timed = default_timeout(with_overrides(task, epochs=1000), RunConfig(timing=True))
    assert 300 <= short < long < timed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend-timeout", "0"], "argument --backend-timeout: expected a positive number of seconds, got '0'"),
        (["--backend-timeout", "nan"], "expected a positive number of seconds, got 'nan'"),
        (["--backend-timeout", "5", "--no-isolate"], "--backend-timeout needs isolated backends"),
    ],
)
def test_bad_backend_timeouts(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert compare.main([*args, "--backends", "numpy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


# ------------------------------------------------------------------ 13, 14: Ctrl-C and kill -9


def test_ctrl_c_ends_the_children_writes_what_finished_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, hanging = start_driver(tmp_path, out)
    try:
        wait_for(hanging.exists, 120, "the run to reach its second backend")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        err = finish(proc)
    finally:
        clean_up(proc, hanging)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [
        f"netparity: interrupted: the finished backends' results are in {out}, marked interrupted"
    ]
    assert gone(int(hanging.read_text()))
    summary = (out / "summary.csv").read_text()
    assert "numpy,ok" in summary and "torch,failed" in summary and "interrupted (Ctrl-C)" in summary
    assert json.loads((out / "spec.json").read_text())["interrupted"] is True
    assert (out / "report.md").read_text().startswith("> **Interrupted**")
    assert not (out / RUNNING).exists() and incomplete_run(out) == ""


def test_ctrl_c_in_a_sweep_keeps_the_rate_that_was_running_marked(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, hanging = start_driver(tmp_path, out, "--lr", "0.01,0.02")
    try:
        wait_for(hanging.exists, 120, "the sweep's first rate to reach its second backend")
        os.killpg(proc.pid, signal.SIGINT)
        err = finish(proc)
    finally:
        clean_up(proc, hanging)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert json.loads((out / "lr=0.01" / "spec.json").read_text())["interrupted"] is True
    assert not (out / "lr=0.02").exists() and not (out / RUNNING).exists()
    assert "0.01,numpy,ok" in (out / "campaign.csv").read_text()


def test_kill_9_leaves_a_marked_folder_and_no_orphan(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, hanging = start_driver(tmp_path, out)
    try:
        wait_for(hanging.exists, 120, "the run to reach its second backend")
        assert (out / RUNNING).exists()
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone: its children must follow it
        finish(proc)
        wait_for(lambda: gone(int(hanging.read_text())), 20, "the orphaned backend worker to die with its parent")
    finally:
        clean_up(proc, hanging)
    reason = incomplete_run(out)
    assert reason.startswith(f"an unfinished run (pid {proc.pid}, started ") and "stopped before it finished" in reason
    assert (out / "report.md").read_text().startswith("# Unfinished run")
    assert not (out / "summary.csv").exists()
    with pytest.raises(ReportError, match="already holds an unfinished run"):
        prepare_out_dir(str(out), "regression")


# ------------------------------------------------------------------ 4: batches staged epoch by epoch


def test_batches_are_staged_one_epoch_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat in the number of epochs: when an epoch starts, only its own batches
    (and the first epoch's, kept for the timing runs) have been staged."""
    from netparity.backends import get_backend
    from netparity.harness import run as run_module

    staged_at_step: list[int] = []
    staged = [0]

    class Counting:  # the numpy model, counting stage() calls
        def __init__(self, model) -> None:
            self.model = model

        def __getattr__(self, name: str):
            return getattr(self.model, name)

        def stage(self, *args, **kwargs):
            staged[0] += 1
            return self.model.stage(*args, **kwargs)

        def train_step(self, batch):
            staged_at_step.append(staged[0])
            return self.model.train_step(batch)

    class Backend:
        def __init__(self, inner) -> None:
            self.inner = inner

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def build(self, *args, **kwargs):
            return Counting(self.inner.build(*args, **kwargs))

    monkeypatch.setattr(run_module, "get_backend", lambda name: Backend(get_backend(name)))
    task = with_overrides(get_task("regression").build(0), epochs=4)
    result = run_backend("numpy", task, init_params(task.model, 0), RunConfig(dtype="float64", timing=False))
    assert result.status == "ok", result.reason
    steps = -(-len(task.data.x_train) // task.recipe.batch_size)
    assert len(staged_at_step) == 4 * steps
    for epoch in range(4):  # the probe, then epoch e's batches: never a later epoch's
        assert staged_at_step[epoch * steps] == 1 + (epoch + 1) * steps
