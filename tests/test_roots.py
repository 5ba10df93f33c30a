"""Task roots: gradient descent on x minimizing (a*x^2 + b*x + c)^2 finds the polynomial's
roots on every backend, with every optimizer, through the CLI, and in a learning-rate sweep.

Which root: for x^2 - 5x + 4 the loss (x-1)^2 (x-4)^2 has minima at 1 and 4 and a local
maximum at 2.5, so gradient descent with a small rate from x0 = 0 goes to 1 and from x0 = 3
goes to 4 (from 3 the gradient 2*f*f' = 2*(-2)*1 = -4 pushes x up).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from netparity.backends import available_backends
from netparity.spec.errors import SpecError
from netparity.spec.init import init_params
from netparity.spec.layers import Quadratic
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import get_task
from netparity.spec.tasks.roots import ROOT_PARAM, parse_poly, real_roots, roots_instance

from netparity.testing import BACKENDS, FRAMEWORK_BACKENDS, backend_params, check_parity, require

ROOT = Path(__file__).resolve().parents[1]


def train_root(backend: str, poly: tuple[float, float, float], x0: float, recipe: Recipe | None = None) -> float:
    task = roots_instance(0, poly, x0)
    recipe = recipe or task.recipe
    model = require(backend).build(task.model, init_params(task.model, 0), recipe, dtype="float64", device="cpu")
    batch = model.stage(task.data.x_train, task.data.y_train)
    for _ in range(recipe.epochs):
        model.train_step(batch)
    return float(model.params()[ROOT_PARAM][0])


@pytest.mark.parametrize(("x0", "root"), [(0.0, 1.0), (3.0, 4.0)])
@pytest.mark.parametrize("backend", backend_params(BACKENDS))
def test_both_roots_of_x2_5x_4(backend: str, x0: float, root: float) -> None:
    """The default recipe (SGD, lr 0.01, 1000 steps) from each side of the maximum at 2.5."""
    assert train_root(backend, (1.0, -5.0, 4.0), x0) == pytest.approx(root, abs=1e-6)


@pytest.mark.parametrize("backend", backend_params(BACKENDS))
def test_root_of_x2_6x_4(backend: str) -> None:
    """The seeds' second polynomial: roots 3 -/+ sqrt(5); from 0 the smaller one."""
    assert train_root(backend, (1.0, -6.0, 4.0), 0.0) == pytest.approx(3 - math.sqrt(5), abs=1e-6)


ROOT_OPTIMIZERS = {
    "sgd": Optimizer("sgd", lr=0.01),
    "nesterov": Optimizer("sgd", lr=0.005, momentum=0.5, nesterov=True),
    "adagrad": Optimizer("adagrad", lr=0.5, epsilon=1e-7),
    "rmsprop": Optimizer("rmsprop", lr=0.01, epsilon=1e-7, epsilon_mode="inside"),
    "adam": Optimizer("adam", lr=0.05),
    "adamw": Optimizer("adamw", lr=0.05, weight_decay=1e-3, epsilon_mode="hat"),
}


@pytest.mark.parametrize("opt", list(ROOT_OPTIMIZERS))
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_every_optimizer_on_roots_matches_numpy(backend: str, opt: str) -> None:
    """300 steps of each optimizer on the roots task agree with NumPy in float64."""
    require(backend)
    task = roots_instance(0)
    recipe = Recipe("mse", ROOT_OPTIMIZERS[opt], epochs=300, batch_size=1)
    check_parity(backend, task.model, recipe, task.data.x_train, task.data.y_train, dtype="float64", steps=300)


def test_adam_reaches_the_root() -> None:
    """Not only SGD: Adam from 0 settles at 1 too (NumPy, 2000 steps)."""
    recipe = Recipe("mse", Optimizer("adam", lr=0.01), epochs=2000, batch_size=1)
    assert train_root("numpy", (1.0, -5.0, 4.0), 0.0, recipe) == pytest.approx(1.0, abs=1e-4)


def test_spec_pieces() -> None:
    assert real_roots(1, -5, 4) == [1.0, 4.0]
    assert real_roots(1, 0, 1) == []
    assert parse_poly("1,-6,4") == (1.0, -6.0, 4.0)
    with pytest.raises(SpecError, match="three numbers"):
        parse_poly("1,2")
    with pytest.raises(SpecError, match="finite number"):
        Quadratic(1.0, float("nan"), 0.0).check()
    task = get_task("roots").build(0)
    assert init_params(task.model, 0) == {ROOT_PARAM: np.array([0.0])}
    assert init_params(roots_instance(0, x0=-2.5).model, 0)[ROOT_PARAM][0] == -2.5


# ---------------------------------------------------------------- through compare.py


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_cli_reports_the_root(tmp_path: Path) -> None:
    out = tmp_path / "roots"
    proc = cli("--task", "roots", "--x0", "0", "--lr", "0.01", "--epochs", "1000", "--no-timing", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.backend) == available_backends()
    assert (summary.status == "ok").all(), summary[["backend", "status", "reason"]]
    assert np.allclose(summary.root, 1.0, rtol=0, atol=1e-6), summary.root
    assert "root" in proc.stdout


@pytest.mark.slow
def test_cli_lr_sweep(tmp_path: Path) -> None:
    """0.001 creeps, 0.01 converges to 1, 0.1 jumps straight to 4 (0 + 0.1*40), 0.2 diverges:
    on every backend alike, so the sweep exits 0."""
    out = tmp_path / "sweep"
    proc = cli(
        "--task", "roots", "--lr", "0.001,0.01,0.1,0.2", "--epochs", "300", "--no-timing", "--no-isolate",
        "--backends", "numpy,torch", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = pd.read_csv(out / "campaign.csv")
    assert (out / "sweep.png").stat().st_size > 0
    assert sorted(set(table.lr)) == [0.001, 0.01, 0.1, 0.2]
    by_lr = {lr: g for lr, g in table.groupby("lr")}
    assert (by_lr[0.01].root.sub(1.0).abs() < 1e-6).all()
    assert (by_lr[0.1].root == 4.0).all()
    assert (by_lr[0.2].status == "diverged").all()
    assert (0.9 < by_lr[0.001].root).all() and (by_lr[0.001].root < 1.0).all()
    for lr in (0.001, 0.01, 0.1, 0.2):
        assert (out / f"lr={lr:g}" / "summary.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "roots", "--poly", "1,2"], "three numbers"),
        (["--task", "regression", "--x0", "1"], "Quadratic layer"),
        (["--task", "roots", "--lr", "0.1,-1"], "lr must be a positive number"),
        (["--task", "roots", "--lr", "fast"], "--lr expects a number"),
        (["--task", "roots", "--optimizer", "lion"], "unknown optimizer 'lion'"),
        (["--task", "roots", "--optimizer", "adam", "--momentum", "0.9"], "momentum applies to sgd and rmsprop"),
        (["--task", "roots", "--optimizer", "adam", "--epsilon-mode", "inside"], "epsilon_mode 'inside'"),
    ],
)
def test_bad_recipe_flags(tmp_path: Path, args: list[str], message: str) -> None:
    proc = cli(*args, "--out", str(tmp_path / "never"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()
