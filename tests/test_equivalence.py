"""Dense models on every backend agree with the NumPy reference: forward, gradients and
training trajectories, in float64 (rounding level) and float32."""

from __future__ import annotations

import numpy as np
import pytest
from netparity.spec.layers import ACTIVATIONS, Activation, Dense
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import get_task

from netparity.testing import FRAMEWORK_BACKENDS, backend_params, check_parity, require

DTYPES = ["float64", "float32"]


def _regression_data(n: int = 96, features: int = 5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = np.sin(x @ rng.normal(size=(features, 2)))
    return x, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_regression_task_model(backend: str, dtype: str) -> None:
    require(backend)
    task = get_task("regression").build(0)
    x, y = task.data.x_train[:128], task.data.y_train[:128]
    check_parity(backend, task.model, task.recipe, x, y, dtype=dtype, steps=50)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_activation_layers(backend: str, dtype: str, activation: str) -> None:
    """Each activation both inside Dense and as its own layer."""
    require(backend)
    x, y = _regression_data()
    spec = ModelSpec((5,), (Dense(8, activation), Activation(activation), Dense(2)))
    recipe = Recipe(loss="mse", optimizer=Optimizer("sgd", lr=0.05), batch_size=16)
    check_parity(backend, spec, recipe, x, y, dtype=dtype, steps=20)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_cross_entropy_and_l2(backend: str, dtype: str) -> None:
    require(backend)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 6))
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    spec = ModelSpec((6,), (Dense(16, "tanh"), Dense(3, use_bias=False)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.1), batch_size=20, l2=1e-3)
    check_parity(backend, spec, recipe, x, y, dtype=dtype, steps=30)
