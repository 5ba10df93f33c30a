"""Image layers and the digits tasks on every backend against the NumPy reference: each
new layer alone, both task models (forward, every gradient, a training trajectory, float64
and float32), shared Dropout masks, and both tasks end to end through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from netparity.backends import available_backends, get_backend
from netparity.spec import layers as L
from netparity.spec.dropout import dropout_masks, dropout_sites
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import get_task

from netparity.testing import FRAMEWORK_BACKENDS, backend_params, check_parity, require

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ["float64", "float32"]
IMAGE = (7, 6, 2)  # odd height, even width: TF SAME puts the extra pixel bottom/right

# each new layer alone, between a small conv (so it sees real activations) and a Dense head
LAYERS = {
    "conv_valid": (L.Conv2D(3, 3, activation="tanh"),),
    "conv_same": (L.Conv2D(4, 3, padding="same", activation="relu"),),
    "conv_same_stride2_even_kernel": (L.Conv2D(3, 2, stride=2, padding="same"),),
    "conv_same_stride2_kernel3_no_bias": (L.Conv2D(3, 3, stride=2, padding="same", use_bias=False),),
    "conv_valid_stride2_rect": (L.Conv2D(3, (3, 2), stride=2),),
    "max_pool": (L.Conv2D(3, 2, activation="tanh"), L.MaxPool2D(2)),
    "max_pool_overlapping": (L.Conv2D(3, 2), L.MaxPool2D(3, stride=1)),
    "avg_pool": (L.Conv2D(3, 2), L.AvgPool2D(2)),
    "avg_pool_overlapping": (L.Conv2D(3, 2), L.AvgPool2D(3, stride=2)),
    # no bias before BatchNorm: its exact gradient is zero, so only rounding noise would be compared
    "batch_norm_image": (L.Conv2D(4, 3, use_bias=False), L.BatchNorm(momentum=0.8, epsilon=1e-3)),
    "dropout": (L.Conv2D(3, 3), L.Dropout(0.3)),
}


def _images(n: int = 48, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *IMAGE))
    y = (x[:, :3, :, 0].mean(axis=(1, 2)) > 0).astype(np.int64) + (x[:, :, :3, 1].mean(axis=(1, 2)) > 0)
    return x, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layer_parity(backend: str, dtype: str, case: str) -> None:
    require(backend)
    x, y = _images()
    spec = ModelSpec(IMAGE, (*LAYERS[case], L.Flatten(), L.Dense(3)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.05), batch_size=16)
    check_parity(backend, spec, recipe, x, y, dtype=dtype, steps=9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_batch_norm_and_dropout_on_vectors(backend: str, dtype: str) -> None:
    require(backend)
    x, y = _images()
    spec = ModelSpec(IMAGE, (L.Flatten(), L.Dense(8, use_bias=False), L.BatchNorm(), L.Dropout(0.5), L.Dense(3)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.05, momentum=0.9), batch_size=16)
    check_parity(backend, spec, recipe, x, y, dtype=dtype, steps=9)


@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_dropout_inside_residual(backend: str) -> None:
    """Masks reach a Dropout nested in a Residual block too (named "0.residual.1.dropout")."""
    require(backend)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 8))
    y = (x[:, 0] > 0).astype(np.int64)
    spec = ModelSpec((8,), (L.Residual((L.Dense(8, "tanh"), L.Dropout(0.4))), L.Dense(2)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.1), batch_size=16)
    check_parity(backend, spec, recipe, x, y, dtype="float64", steps=6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
@pytest.mark.parametrize("task_name", ["classification", "image"])
def test_task_model_parity(backend: str, dtype: str, task_name: str) -> None:
    require(backend)
    task = get_task(task_name).build(0)
    x, y = task.data.x_train[:128], task.data.y_train[:128]
    check_parity(backend, task.model, task.recipe, x, y, dtype=dtype, steps=12)


def test_dropout_masks_are_seeded_per_step_and_layer() -> None:
    spec = ModelSpec((4, 4, 1), (L.Dropout(0.5), L.Flatten(), L.Residual((L.Dense(16), L.Dropout(0.25)))))
    assert [name for name, _, _ in dropout_sites(spec)] == ["0.dropout", "2.residual.1.dropout"]
    a, b = dropout_masks(spec, 8, (0, 0, 0)), dropout_masks(spec, 8, (0, 0, 0))
    other = dropout_masks(spec, 8, (0, 0, 1))
    assert a["0.dropout"].shape == (8, 4, 4, 1) and a["2.residual.1.dropout"].shape == (8, 16)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.dropout"], other["0.dropout"])
    assert set(np.unique(a["0.dropout"])) == {0.0, 2.0}  # keep / (1 - rate)
    assert set(np.unique(a["2.residual.1.dropout"])) <= {0.0, 1.0 / 0.75}
    assert dropout_masks(ModelSpec((3,), (L.Dropout(0.0), L.Dense(2))), 4, (0,)) == {}


@pytest.mark.parametrize("backend", backend_params())
def test_dropout_inference_is_identity_and_training_without_masks_still_runs(backend: str) -> None:
    """Inference ignores masks exactly; training without a shared mask uses the framework's
    own RNG (it runs, drops something, keeps the scale); a mask for an unknown layer is refused."""
    require(backend)
    spec = ModelSpec((6,), (L.Dense(6, use_bias=False), L.Dropout(0.5)))
    params = {"0.dense.kernel": np.eye(6)}  # the Dense passes x through: y is the dropout's output
    model = get_backend(backend).build(spec, params, Recipe(), dtype="float64", device="cpu")
    x = np.random.default_rng(0).normal(size=(200, 6))
    masks = dropout_masks(spec, 200, (1, 2, 3))
    batch = model.stage(x, masks=masks)
    assert np.array_equal(model.forward(batch), x)
    assert np.allclose(model.forward(batch, training=True), x * masks["1.dropout"], rtol=1e-15, atol=0)
    own = model.forward(model.stage(x), training=True)
    kept = own != 0
    assert 0.3 < kept.mean() < 0.7
    assert np.allclose(own[kept], 2 * x[kept], rtol=1e-15)
    with pytest.raises(ValueError, match="masks for"):
        model.stage(x, masks={"7.dropout": masks["1.dropout"]})


@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_batch_norm_moving_variance_is_biased(backend: str) -> None:
    """One training step from moving_var = 1: m + (1 - m) * biased variance, not torch's unbiased."""
    require(backend)
    spec = ModelSpec((3,), (L.BatchNorm(momentum=0.5),))
    x = np.random.default_rng(1).normal(size=(4, 3))
    model = get_backend(backend).build(spec, init_params(spec, 0), Recipe(), dtype="float64", device="cpu")
    model.forward(model.stage(x), training=True)
    state = model.params()
    np.testing.assert_allclose(state["0.batch_norm.moving_mean"], 0.5 * x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(state["0.batch_norm.moving_var"], 0.5 + 0.5 * x.var(axis=0), rtol=1e-14)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize(("task_name", "dtype"), [("classification", "float32"), ("image", "float64")])
def test_digits_tasks_end_to_end(task_name: str, dtype: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _cli("--task", task_name, "--dtype", dtype, "--epochs", "2", "--no-timing", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.backend) == available_backends()
    assert (summary.status == "ok").all(), summary[["backend", "status", "reason"]]
    assert {"test_accuracy", "test_loss", "prediction_agreement"} <= set(summary.columns)
    assert (summary.test_accuracy > 0.85).all(), summary.test_accuracy  # two epochs already learn digits
    assert (summary.prediction_agreement == 1.0).all(), summary.prediction_agreement
    if dtype == "float64":
        assert (summary.filter(like="max_rel").fillna(0) <= 1e-10).all().all()
