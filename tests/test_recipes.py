"""Recipes real training uses: learning-rate schedules, gradient clipping, the loss objects
(mae, huber, bce, label smoothing), unshuffled batches, raw --data rows, and pytorch/examples'
MNIST recipe on the image model.

Every recipe runs 100 float64 steps on each framework backend against the NumPy reference
(netparity.testing.check_parity: the learning rate of every step, the loss trajectory and the
trained parameters at <= 1e-10); the formulas themselves are checked by hand or by finite
differences.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import FRAMEWORK_BACKENDS, backend_params, require
from netparity.backends.base import learning_rate, start_epoch
from netparity.backends.numpy import losses as np_losses
from netparity.backends.numpy.optim import clip_gradients
from netparity.harness.diff import Diff
from netparity.spec.data import batch_plan
from netparity.spec.errors import SpecError
from netparity.spec.init import init_params
from netparity.spec.layers import Dense
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Clip, Loss, Optimizer, Recipe, Schedule
from netparity.spec.serialize import recipe_from_dict
from netparity.spec.tasks import get_task

from netparity.testing import check_parity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def regression_rows() -> tuple[np.ndarray, np.ndarray]:
    task = get_task("regression").build(0)
    return task.data.x_train[:128], task.data.y_train[:128]


def _regression_model() -> ModelSpec:
    return get_task("regression").build(0).model


# ---------------------------------------------------------------- learning-rate schedules

S = Schedule
SCHEDULES = {
    # momentum: torch keeps lr outside the buffer, Keras inside (its TorchStyleSGD subclass runs)
    "step_per_epoch_sgd_momentum": (
        Optimizer("sgd", lr=0.05, momentum=0.9),
        S("step", per="epoch", step_size=2, gamma=0.7),
    ),
    "step_per_step_adam": (Optimizer("adam", lr=0.01), S("step", per="step", step_size=10, gamma=0.5)),
    "exponential_rmsprop_momentum_inside": (
        Optimizer("rmsprop", lr=0.001, momentum=0.5, epsilon_mode="inside"),
        S("exponential", gamma=0.98),
    ),
    "exponential_per_epoch_adamax": (Optimizer("adamax", lr=0.01), S("exponential", per="epoch", gamma=0.8)),
    "cosine_nesterov": (Optimizer("sgd", lr=0.05, momentum=0.9, nesterov=True), S("cosine", t_max=120, eta_min=0.001)),
    "cosine_per_epoch_adadelta": (Optimizer("adadelta", lr=1.0, epsilon=1e-6), S("cosine", per="epoch", t_max=30)),
    "warmup_constant_adam": (Optimizer("adam", lr=0.01), S("linear_warmup", warmup_steps=20, start_factor=0.1)),
    "warmup_cosine_nadam": (
        Optimizer("nadam", lr=0.01),
        S("linear_warmup", warmup_steps=20, start_factor=0.2, then="cosine", t_max=90, eta_min=1e-4),
    ),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_schedule_matches_numpy(backend: str, case: str, regression_rows) -> None:
    require(backend)
    x, y = regression_rows
    opt, schedule = SCHEDULES[case]
    recipe = Recipe("mse", opt, batch_size=32, lr_schedule=schedule)
    check_parity(backend, _regression_model(), recipe, x, y, dtype="float64", steps=100)


def test_schedule_formulas_by_hand() -> None:
    step = S("step", per="epoch", step_size=1, gamma=0.7)
    assert [step.lr_at(1.0, k) for k in range(3)] == pytest.approx([1.0, 0.7, 0.49], abs=1e-15)
    assert [S("step", step_size=3, gamma=0.5).lr_at(0.1, k) for k in (0, 2, 3, 6)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025], abs=1e-16
    )
    assert S("exponential", gamma=0.9).lr_at(2.0, 2) == pytest.approx(1.62, abs=1e-15)
    cosine = S("cosine", t_max=10, eta_min=0.01)
    # k = 0: lr0; k = t_max/2: halfway; k = t_max: eta_min
    assert [cosine.lr_at(0.11, k) for k in (0, 5, 10)] == pytest.approx([0.11, 0.06, 0.01], abs=1e-15)
    warm = S("linear_warmup", warmup_steps=4, start_factor=0.2)
    # 0.2, 0.4, 0.6, 0.8 of lr0, then lr0
    assert [warm.lr_at(1.0, k) for k in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0], abs=1e-15)
    warm_cos = S("linear_warmup", warmup_steps=4, start_factor=0.2, then="cosine", t_max=2, eta_min=0.0)
    assert [warm_cos.lr_at(1.0, k) for k in (4, 5, 6)] == pytest.approx([1.0, 0.5, 0.0], abs=1e-15)


@pytest.mark.parametrize("per", ["epoch", "step"])
@pytest.mark.parametrize("backend", backend_params())
def test_each_framework_reports_its_own_learning_rate(backend: str, per: str) -> None:
    """Two epochs of three steps under StepLR(step_size=1 or 3, gamma=0.5): the rate every
    backend says it will use for each step, read from its own scheduler or optimizer."""
    be = require(backend)
    spec = ModelSpec((3,), (Dense(1),))
    size = 1 if per == "epoch" else 3  # both halve the rate after the first three steps
    recipe = Recipe(
        "mse", Optimizer("sgd", lr=0.4), batch_size=2, lr_schedule=S("step", per=per, step_size=size, gamma=0.5)
    )
    model = be.build(spec, init_params(spec, 0), recipe, dtype="float64", device="cpu")
    x, y = np.ones((2, 3)), np.zeros((2, 1))
    seen = []
    for epoch in range(2):
        start_epoch(model, epoch)
        for _ in range(3):
            seen.append(learning_rate(model, recipe))
            model.train_step(model.stage(x, y))
    assert seen == pytest.approx([0.4, 0.4, 0.4, 0.2, 0.2, 0.2], abs=1e-15)


def test_cosine_must_cover_the_run() -> None:
    with pytest.raises(SpecError, match="the run reaches k = 9 epochs but the cosine ends at 5"):
        Recipe("mse", Optimizer("sgd", lr=0.1), epochs=10, lr_schedule=S("cosine", per="epoch", t_max=5)).check()
    from netparity.harness.run import run

    task = get_task("regression").build(0)  # 353 rows in batches of 32: 12 steps per epoch
    recipe = dataclasses.replace(task.recipe, epochs=2, lr_schedule=S("cosine", t_max=20))
    with pytest.raises(SpecError, match="reaches k = 23 steps"):
        run(dataclasses.replace(task, recipe=recipe), ("numpy",), dtype="float64", timing=False)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (S("step", step_size=0), "step_size must be a positive integer"),
        (S("step", gamma=1.5), "gamma must be in (0, 1]"),
        (S("cosine"), "t_max must be a positive integer"),
        (S("cosine", t_max=10, eta_min=0.5), "eta_min must be below the optimizer's lr"),
        (S("linear_warmup"), "warmup_steps must be a positive integer"),
        (S("linear_warmup", warmup_steps=5, then="linear"), "then must be 'constant' or 'cosine'"),
        (S("step", per="batch"), "per must be 'epoch' or 'step'"),
        (S("onecycle"), "unknown lr_schedule 'onecycle'"),
        (S("exponential", gamma=float("nan")), "gamma must be a finite number"),
    ],
)
def test_bad_schedule_is_a_spec_error(schedule: Schedule, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        Recipe("mse", Optimizer("sgd", lr=0.1), lr_schedule=schedule).check()


# ---------------------------------------------------------------- gradient clipping

CLIPS = {
    "global": (Optimizer("sgd", lr=0.05), Clip(norm=0.5)),
    "per_tensor_momentum_coupled_decay": (
        Optimizer("sgd", lr=0.05, momentum=0.9, weight_decay=0.01),
        Clip(norm=0.3, scope="per_tensor"),
    ),
    "global_torch_epsilon_adam": (Optimizer("adam", lr=0.01), Clip(norm=0.5, epsilon=1e-6)),
    "per_tensor_epsilon": (Optimizer("sgd", lr=0.05), Clip(norm=0.3, scope="per_tensor", epsilon=0.01)),
    "value": (Optimizer("sgd", lr=0.05), Clip(value=0.05)),
}


@pytest.mark.parametrize("case", list(CLIPS))
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_clipping_matches_numpy(backend: str, case: str, regression_rows) -> None:
    require(backend)
    x, y = regression_rows
    opt, clip = CLIPS[case]
    check_parity(
        backend, _regression_model(), Recipe("mse", opt, batch_size=32, clip=clip), x, y, dtype="float64", steps=100
    )


def _numpy_params_after(recipe: Recipe, x: np.ndarray, y: np.ndarray, steps: int = 100) -> dict[str, np.ndarray]:
    spec = _regression_model()
    model = require("numpy").build(spec, init_params(spec, 0), recipe, dtype="float64", device="cpu")
    for step in range(steps):
        rows = slice((step % 4) * 32, (step % 4 + 1) * 32)
        model.train_step(model.stage(x[rows], y[rows]))
    return model.params()


def test_clip_scopes_differ(regression_rows) -> None:
    """Global and per-tensor clipping at the same norm end far apart (and both far from no
    clipping), so a backend clipping with the wrong scope fails test_clipping_matches_numpy."""
    x, y = regression_rows
    opt = Optimizer("sgd", lr=0.05)
    runs = {
        scope: _numpy_params_after(Recipe("mse", opt, clip=Clip(norm=0.3, scope=scope) if scope else None), x, y)
        for scope in ("global", "per_tensor", None)
    }
    for a, b in [("global", "per_tensor"), ("global", None), ("per_tensor", None)]:
        worst = Diff.worst([Diff.of(runs[a][k], runs[b][k]) for k in runs[a]])
        assert worst.max_rel > 1e-3, (a, b, worst)


def test_clip_formulas_by_hand() -> None:
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 12.0])}  # norms 5 and 12, global 13
    glob = clip_gradients(Clip(norm=6.5), grads)
    assert glob["a"] == pytest.approx([1.5, 2.0]) and glob["b"] == pytest.approx([0.0, 6.0])
    per = clip_gradients(Clip(norm=6.0, scope="per_tensor"), grads)
    assert per["a"] == pytest.approx([3.0, 4.0]) and per["b"] == pytest.approx([0.0, 6.0])
    eps = clip_gradients(Clip(norm=6.5, epsilon=0.5), grads)  # 6.5/13.5
    assert eps["b"][1] == pytest.approx(12 * 6.5 / 13.5, abs=1e-15)
    val = clip_gradients(Clip(value=3.5), grads)
    assert val["a"] == pytest.approx([3.0, 3.5]) and val["b"] == pytest.approx([0.0, 3.5])


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (Clip(), 'exactly one of "norm" or "value"'),
        (Clip(norm=1.0, value=1.0), 'exactly one of "norm" or "value"'),
        (Clip(norm=-1.0), "clip norm must be > 0"),
        (Clip(norm=1.0, scope="layer"), "clip scope must be 'global' or 'per_tensor'"),
        (Clip(value=1.0, scope="per_tensor"), "clip scope applies to norm clipping only"),
    ],
)
def test_bad_clip_is_a_spec_error(clip: Clip, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        clip.check()


# ---------------------------------------------------------------- losses


def _classification_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6))
    signal = x @ rng.normal(size=(6, 3))
    return x, (signal > 0).astype(np.float64), signal.argmax(axis=1)


LOGITS = ModelSpec((6,), (Dense(16, activation="tanh"), Dense(3)))
PROBABILITIES = ModelSpec((6,), (Dense(16, activation="tanh"), Dense(3, activation="sigmoid")))
LOSS_CASES = {
    "mae": (None, Loss("mae")),
    "huber_delta_0.5": (None, Loss("huber", delta=0.5)),
    "bce_logits": (LOGITS, Loss("bce")),
    "bce_probabilities": (PROBABILITIES, Loss("bce", from_logits=False)),
    "cross_entropy_label_smoothing": (LOGITS, Loss("cross_entropy", label_smoothing=0.1)),
}


@pytest.mark.parametrize("case", list(LOSS_CASES))
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_loss_matches_numpy(backend: str, case: str, regression_rows) -> None:
    require(backend)
    model, loss = LOSS_CASES[case]
    if model is None:
        x, y = regression_rows
        model = _regression_model()
    else:
        x, y_binary, labels = _classification_rows()
        y = labels if loss.name == "cross_entropy" else y_binary
    check_parity(
        backend, model, Recipe(loss, Optimizer("sgd", lr=0.1), batch_size=32), x, y, dtype="float64", steps=100
    )


H = 1e-6


@pytest.mark.parametrize(
    "loss",
    [
        Loss("mae"),
        Loss("huber", delta=0.7),
        Loss("bce"),
        Loss("bce", from_logits=False),
        Loss("cross_entropy", label_smoothing=0.2),
    ],
    ids=str,
)
def test_numpy_loss_gradient_by_finite_differences(loss: Loss) -> None:
    rng = np.random.default_rng(1)
    out = rng.normal(size=(6, 4))
    if loss.name == "bce":
        y = (rng.random((6, 4)) > 0.5).astype(np.float64)
        if not loss.from_logits:
            out = 1 / (1 + np.exp(-out))
    elif loss.name == "cross_entropy":
        y = rng.integers(0, 4, size=6)
    else:
        y = rng.normal(size=(6, 4))  # huber: |out - y| both below and above delta
    fn = np_losses.make_loss(loss)
    _, grad = fn(out, y)
    for idx in np.ndindex(out.shape):
        old = out[idx]
        out[idx] = old + H
        up = fn(out, y)[0]
        out[idx] = old - H
        down = fn(out, y)[0]
        out[idx] = old
        assert grad[idx] == pytest.approx((up - down) / (2 * H), abs=1e-7)


def test_huber_is_torch_huber_not_smooth_l1() -> None:
    """torch HuberLoss(delta) = Keras Huber(delta) = the recipe's huber; torch's SmoothL1Loss(beta)
    is the same curve divided by beta (equal only for delta = beta = 1)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 3)) * 3, rng.normal(size=(5, 3))
    ours, _ = np_losses.huber(a, b, 2.0)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert float(torch.nn.HuberLoss(delta=2.0)(ta, tb)) == pytest.approx(ours, rel=1e-15)
    assert float(torch.nn.SmoothL1Loss(beta=2.0)(ta, tb)) * 2.0 == pytest.approx(ours, rel=1e-15)
    keras = pytest.importorskip("keras")
    assert float(keras.losses.Huber(delta=np.float64(2.0), dtype="float64")(b, a)) == pytest.approx(ours, rel=1e-12)


def test_loss_string_and_object_forms() -> None:
    assert recipe_from_dict({"loss": "mae"}).loss == recipe_from_dict({"loss": {"name": "mae"}}).loss == Loss("mae")
    assert recipe_from_dict({"loss": {"name": "huber", "delta": 2.0}}).loss == Loss("huber", delta=2.0)
    assert Recipe("cross_entropy").loss == Loss("cross_entropy")  # the string form still builds
    assert str(Loss("huber", delta=2.0)) == "huber(delta=2.0)" and str(Loss("mse")) == "mse"
    assert Loss("huber", delta=2.0) == "huber" and Loss("huber", delta=2.0) != Loss("huber")  # a name: by name only
    for bad, message in [
        ({"name": "huber", "beta": 1.0}, "unknown field"),
        ({"name": "mse", "delta": 2.0}, "delta applies to huber only"),
        ({"name": "cross_entropy", "label_smoothing": 1.5}, "label_smoothing must be in"),
        ({"name": "mae", "from_logits": False}, "from_logits applies to bce and cross_entropy only"),
        ({"name": "hinge"}, "unknown loss 'hinge'"),
        ({"delta": 1.0}, "loss must be a name or an object"),
        (3, "loss must be a name or an object"),
    ]:
        with pytest.raises(SpecError, match=message):
            recipe_from_dict({"loss": bad})


def test_recipe_round_trips_through_a_dict() -> None:
    from netparity.spec.serialize import recipe_to_dict

    recipe = Recipe(
        Loss("huber", delta=0.5),
        Optimizer("nadam", lr=0.002),
        shuffle=False,
        lr_schedule=S("cosine", t_max=50),
        clip=Clip(norm=1.0, scope="per_tensor"),
    )
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe


# ---------------------------------------------------------------- data: order, scaling, split


def test_unshuffled_batches_follow_row_order() -> None:
    assert [list(b) for b in batch_plan(5, 2, 0, 3, shuffle=False)] == [[0, 1], [2, 3], [4]]
    assert [list(b) for b in batch_plan(5, 2, 0, 3)] != [[0, 1], [2, 3], [4]]
    assert recipe_from_dict({"shuffle": False}).shuffle is False


def _csv(tmp_path: Path) -> Path:
    rows = ["a,b,y"] + [f"{i},{10 * i + 1},{3 * i}" for i in range(10)]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_raw_rows_in_file_order(tmp_path) -> None:
    from netparity.spec.files import custom_task

    path = _csv(tmp_path)
    task = custom_task(None, path, "y", loss=None, seed=0, split=None, standardize=False)
    # every row, in file order, unscaled; the test set is the training set
    assert task.data.x_train[:, 0].tolist() == list(range(10))
    assert task.data.y_train[:, 0].tolist() == [3.0 * i for i in range(10)]
    assert np.array_equal(task.data.x_test, task.data.x_train) and task.data.y_scale == 1.0
    half = custom_task(None, path, "y", loss=None, seed=0, split=0.5, standardize=False)
    assert len(half.data.x_train) == 5 and sorted(
        half.data.x_train[:, 0].tolist() + half.data.x_test[:, 0].tolist()
    ) == list(range(10))
    scaled = custom_task(None, path, "y", loss=None, seed=0)
    assert abs(scaled.data.x_train.mean()) < 1e-12 and len(scaled.data.x_train) == 8


def test_split_and_standardize_flags(tmp_path) -> None:
    from netparity.spec.files import parse_split

    from netparity.cli import main

    assert parse_split(None) == 0.8 and parse_split("none") is None and parse_split("0.6") == 0.6
    for bad in ("1.5", "0", "most"):
        with pytest.raises(SpecError, match="--split"):
            parse_split(bad)
    assert main(["--task", "regression", "--split", "0.5"]) == 2
    path = _csv(tmp_path)
    out = tmp_path / "run"
    args = ["--data", str(path), "--target", "y", "--split", "none", "--no-standardize", "--lr", "1e-4"]
    args += [
        "--backends",
        "numpy,torch",
        "--dtype",
        "float64",
        "--no-timing",
        "--no-isolate",
        "--out",
        str(out),
        "--epochs",
        "2",
    ]
    assert main(args) == 0
    assert (out / "summary.csv").exists()
    # the run folder re-runs exactly: the split and the raw scaling are part of its record
    assert main(["--rerun", str(out), "--out", str(tmp_path / "again"), "--no-timing"]) == 0
    assert main(["--rerun", str(out), "--out", str(tmp_path / "refused"), "--no-standardize"]) == 2


def test_recipe_only_spec_with_a_task(tmp_path) -> None:
    """--task NAME --spec FILE with only a recipe: the task's model and data, that recipe, and
    the learning rate of every step in losses.csv."""
    import pandas as pd

    from netparity.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "recipe:\n  optimizer: {name: sgd, lr: 0.02}\n  lr_schedule: {name: step, gamma: 0.5, per: epoch}\n"
    )
    out = tmp_path / "run"
    args = ["--task", "regression", "--spec", str(recipe), "--epochs", "2", "--backends", "numpy,torch"]
    assert main([*args, "--dtype", "float64", "--no-timing", "--out", str(out)]) == 0
    lrs = pd.read_csv(out / "losses.csv").groupby(["backend", "epoch"]).lr.unique()
    assert {tuple(v) for v in lrs} == {(0.02,), (0.01,)}
    assert main(["--rerun", str(out), "--out", str(tmp_path / "again")]) == 0
    layers = tmp_path / "m.yaml"
    layers.write_text("input_shape: [10]\nlayers: [{type: Dense, units: 1}]\n")
    assert main(["--task", "regression", "--spec", str(layers)]) == 2


# ---------------------------------------------------------------- pytorch/examples' MNIST recipe


def test_mnist_recipe_runs_as_written_on_the_image_model() -> None:
    """examples/mnist_adadelta.yaml (Adadelta lr 1.0, StepLR per epoch, gamma 0.7) on the image
    task, three of its 14 epochs here (the full run is in docs/semantics.md §15): every backend
    agrees with NumPy and steps its learning rate once per epoch, 1.0, 0.7, 0.49."""
    from netparity.harness.run import run
    from netparity.spec.files import task_with_recipe_file

    task = task_with_recipe_file(get_task("image").build(0), EXAMPLES / "mnist_adadelta.yaml")
    assert task.recipe.optimizer == Optimizer("adadelta", lr=1.0, rho=0.9, epsilon=1e-6)
    assert task.recipe.lr_schedule == S("step", step_size=1, gamma=0.7, per="epoch") and task.recipe.epochs == 14
    task = dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, epochs=3))
    result = run(task, ("numpy", "torch", "tf", "keras"), dtype="float64", timing=False, threads=1)
    steps = math.ceil(len(task.data.x_train) / 64)
    for name, res in result.results.items():
        if res.status == "skipped":
            continue
        assert res.status == "ok", (name, res.reason)
        assert res.lrs == pytest.approx([1.0] * steps + [0.7] * steps + [0.49] * steps, abs=1e-15)
    for c in result.comparisons.values():
        assert c.trajectory.max_rel <= 1e-10 and c.param.max_rel <= 1e-10


def test_momentum_decay_flag() -> None:
    from netparity.harness.overrides import optimizer_with

    from netparity.cli import build_parser
    from netparity.recipe_args import recipe_changes

    args = build_parser().parse_args(["--optimizer", "nadam", "--momentum-decay", "1.0"])
    changes = recipe_changes(args, None)
    assert optimizer_with(Optimizer("sgd", lr=0.01), changes) == Optimizer("nadam", lr=0.01, momentum_decay=1.0)
