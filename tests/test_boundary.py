"""The harness/backend boundary: the harness names no backend module, backends declare what
they require, and backend-specific timings come through the optional extra_timings hook."""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

from netparity.backends import BACKENDS, backend_object, get_backend
from netparity.backends.base import ExtraTiming
from netparity.harness.run import RunConfig, time_model
from netparity.spec.init import init_params
from netparity.spec.tasks import get_task

from netparity.testing import require

ROOT = Path(__file__).resolve().parents[1]


def test_harness_imports_no_backend_by_name() -> None:
    for path in (ROOT / "harness").glob("*.py"):
        text = path.read_text()
        named = set(re.findall(r"netparity\.backends\.(\w+)", text))
        # base: the protocol; processes: starting and ending worker processes (no framework)
        allowed = {"base", "processes"}
        assert named <= allowed, f"{path.name} imports backend modules {sorted(named - allowed)}"
        assert "argparse" not in text, f"{path.name}: command-line parsing belongs to netparity/, not the harness"


def test_every_backend_declares_requires() -> None:
    for name in BACKENDS:
        backend = backend_object(name)
        assert backend.name == name
        assert isinstance(backend.requires, tuple) and all(isinstance(r, str) for r in backend.requires), name
    assert importlib.import_module("netparity.backends.numpy").BACKEND.requires == ()


class WithExtraTiming:
    """The NumPy backend plus an extra timed phase, as a GPU backend would add its fast form."""

    def __init__(self) -> None:
        self.inner = get_backend("numpy")
        self.name, self.prepared = "numpy", 0

    def build(self, *args, **kwargs):
        return self.inner.build(*args, **kwargs)

    def extra_timings(self, model, batch, device: str) -> list[ExtraTiming]:
        def prepare():
            self.prepared += 1
            return lambda: model.train_step(batch)

        return [ExtraTiming("train_step_fast", "fast_prepare", prepare)]


def test_extra_timings_hook_is_timed_with_its_work() -> None:
    task = get_task("regression").build(0)
    params = init_params(task.model, 0)
    backend = WithExtraTiming()
    model = backend.build(task.model, params, task.recipe, dtype="float64", device="cpu")
    epoch = [model.stage(task.data.x_train[:32], task.data.y_train[:32])]
    probe = model.stage(task.data.x_test[:8])
    timings = {t.phase: t for t in time_model(backend, task, params, RunConfig(dtype="float64"), epoch, probe)}
    assert backend.prepared == 1
    assert timings["fast_prepare"].repeats == 1
    fast, step = timings["train_step_fast"], timings["train_step"]
    assert fast.repeats >= 10 and fast.median_ms > 0
    # the same FLOPs per call as a train step: GFLOP/s scale inversely with the median time
    assert math.isclose(fast.gflops * fast.median_ms, step.gflops * step.median_ms, rel_tol=1e-12)


def test_torch_adds_no_extra_timing_on_the_cpu() -> None:
    backend = require("torch")
    task = get_task("regression").build(0)
    model = backend.build(task.model, init_params(task.model, 0), task.recipe, dtype="float32", device="cpu")
    assert backend.extra_timings(model, model.stage(task.data.x_train[:4], task.data.y_train[:4]), "cpu") == []
