"""Keras on its three engines and the JAX backend: the registry's names, the engine a process
gets, Keras on another engine than this process's (a worker process), comparing Keras with
itself across engines, and any backend as the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import KERAS_ENGINES, require
from netparity.backends import backend_folder, get_backend, prepare_process
from netparity.harness.isolate import in_fresh_process
from netparity.harness.run import run, with_overrides
from netparity.spec.init import init_params
from netparity.spec.tasks import get_task
from test_cli import cli


def test_variant_names_map_to_their_folder() -> None:
    assert backend_folder("keras-jax") == backend_folder("keras-torch") == backend_folder("keras") == "keras"
    assert backend_folder("jax") == "jax"
    for name in ("keras", "keras-jax", "keras-torch", "jax"):
        backend = get_backend(name) if name == "jax" else require(name)
        assert backend.name == name
    assert require("keras-torch").requires == ("keras", "torch")


def _engine_after_prepare(name: str) -> str:
    prepare_process(name)
    import keras

    return keras.backend.backend()


@pytest.mark.keras_torch
def test_a_fresh_process_gets_the_backends_engine() -> None:
    """What the isolated harness does first in each backend's process (KERAS_BACKEND is
    inherited as 'tensorflow' from conftest: prepare_process must override it)."""
    require("keras-torch")
    assert in_fresh_process(_engine_after_prepare, "keras-torch") == "torch"


@pytest.mark.keras_jax
def test_keras_on_another_engine_runs_in_a_worker() -> None:
    """This process's Keras runs on TensorFlow (conftest), so keras-jax builds its model in a
    worker process; the Model protocol hides it, and the report says so."""
    require("keras")
    import keras  # noqa: F401  (this process's engine is now fixed)

    task = get_task("regression").build(0)
    params = init_params(task.model, 0)
    model = require("keras-jax").build(task.model, params, task.recipe, dtype="float64", device="cpu")
    reference = get_backend("numpy").build(task.model, params, task.recipe, dtype="float64", device="cpu")
    assert model.implementation["process"].startswith("a worker process (this process's Keras runs on tensorflow")
    assert "float64" in model.implementation  # Keras's 64->32-bit promotion is switched off
    x, y = task.data.x_train[:32], task.data.y_train[:32]
    got, want = model.forward(model.stage(x)), reference.forward(reference.stage(x))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    loss, grads = model.loss_and_grads(model.stage(x, y))
    ref_loss, ref_grads = reference.loss_and_grads(reference.stage(x, y))
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss)
    for name, g in ref_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.keras_jax
@pytest.mark.keras_torch
def test_reference_may_be_any_backend() -> None:
    for name in ("jax", "keras-torch"):
        require(name)
    task = with_overrides(get_task("regression").build(0), epochs=1)
    result = run(task, ["numpy", "keras-torch"], reference="jax", dtype="float64", timing=False)
    assert result.reference == "jax"
    assert {n: r.status for n, r in result.results.items()} == {"jax": "ok", "numpy": "ok", "keras-torch": "ok"}
    assert result.comparisons["numpy"].param.max_rel <= 1e-10


@pytest.mark.slow
@pytest.mark.keras_jax
@pytest.mark.keras_torch
def test_keras_compared_with_itself_across_engines(tmp_path: Path) -> None:
    """--backends keras,keras-jax,keras-torch: each against the NumPy reference, each in its
    own process, with the engines side by side in the timing table."""
    for name in KERAS_ENGINES:
        require(name)
    out = tmp_path / "run"
    args = ("--task", "regression", "--dtype", "float64", "--epochs", "1", "--backends", ",".join(KERAS_ENGINES))
    proc = cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.backend) == ["numpy", *KERAS_ENGINES]
    assert set(summary.status) == {"ok"}
    timings = pd.read_csv(out / "timings.csv")
    assert set(timings[timings.phase == "train_step"].backend) == {"numpy", *KERAS_ENGINES}
    report = (out / "report.md").read_text()
    assert "| phase | numpy | keras | keras-jax | keras-torch |" in report
