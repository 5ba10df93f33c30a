"""Valid specs that random specs exposed as adapter defects (issue 11, item 4): each must agree
with NumPy on every framework backend in float64."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FRAMEWORK_BACKENDS, require
from netparity.spec.errors import SpecError
from netparity.spec.files import custom_task
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.serialize import model_from_dict

from netparity.testing import check_parity

DENSE_TANH = {"type": "Dense", "units": 4, "activation": "tanh"}
CASES = {  # name: (spec, rows); 25 rows in batches of 8 leave a last batch of one row
    "pooling and Flatten (no trainable parameters)": (
        {"input_shape": [4, 4, 2], "layers": [{"type": "MaxPool2D", "pool": 2}, {"type": "Flatten"}]},
        24,
    ),
    "a lone Activation": ({"input_shape": [3], "layers": [{"type": "Activation", "name": "tanh"}]}, 24),
    "BatchNorm on (time, features)": (
        {"input_shape": [5, 3], "layers": [{"type": "BatchNorm"}, {"type": "LastStep"}, {"type": "Dense", "units": 2}]},
        24,
    ),
    "mse on an image-shaped output": (
        {"input_shape": [4, 4, 2], "layers": [{"type": "Conv2D", "filters": 3, "kernel": 3, "padding": "same"}]},
        24,
    ),
    "LayerNorm on images": (
        {
            "input_shape": [4, 5, 3],
            "layers": [{"type": "LayerNorm"}, {"type": "Flatten"}, {"type": "Dense", "units": 2}],
        },
        24,
    ),
    "softmax Activation on images": (
        {
            "input_shape": [4, 5, 3],
            "layers": [{"type": "Activation", "name": "softmax"}, {"type": "Flatten"}, {"type": "Dense", "units": 2}],
        },
        24,
    ),
    "Conv2D with softmax": (
        {"input_shape": [4, 5, 3], "layers": [{"type": "Conv2D", "filters": 2, "kernel": 2, "activation": "softmax"}]},
        24,
    ),
    "BatchNorm with a last batch of one row": (
        {
            "input_shape": [3],
            "layers": [{"type": "Dense", "units": 4}, {"type": "BatchNorm"}, {"type": "Dense", "units": 2}],
        },
        25,
    ),
    "Residual inside a Residual": (
        {
            "input_shape": [4],
            "layers": [
                {
                    "type": "Residual",
                    "layers": [{"type": "Residual", "layers": [DENSE_TANH]}, {"type": "Dense", "units": 4}],
                },
                {"type": "Dense", "units": 2},
            ],
        },
        24,
    ),
}


@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_spec_agrees(backend: str, case: str) -> None:
    require(backend)
    spec, rows = CASES[case]
    model = model_from_dict(spec)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, *model.input_shape))
    y = rng.normal(size=(rows, *model.output_shape))
    recipe = Recipe("mse", Optimizer("sgd", lr=0.1), batch_size=8)
    check_parity(backend, model, recipe, x, y, dtype="float64", steps=6)


def test_a_model_without_trainable_parameters_runs_through_the_harness() -> None:
    require("torch")
    from netparity.harness.run import run, run_backend
    from netparity.spec.tasks import TaskInstance

    spec, rows = CASES["a lone Activation"]
    model = model_from_dict(spec)
    from netparity.spec.data import Dataset

    rng = np.random.default_rng(0)
    data = Dataset(
        rng.normal(size=(rows, 3)), rng.normal(size=(rows, 3)), rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    )
    task = TaskInstance("lone", model, Recipe("mse", Optimizer("sgd"), epochs=2, batch_size=8), data, "regression", ())
    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=run_backend)
    assert result.ok, result.results["torch"].reason
    assert result.results["torch"].implementation["optimizer"] == "none (no trainable parameters)"


def _tokens_csv(tmp_path: Path, bad: int | None = None) -> Path:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 10, (40, 5))
    if bad is not None:
        ids[17, 2] = bad
    frame = pd.DataFrame(ids, columns=[f"t{i}" for i in range(5)]).assign(label=rng.integers(0, 3, 40))
    frame.to_csv(tmp_path / "tokens.csv", index=False)
    spec = {
        "layers": [{"type": "Embedding", "vocab": 10, "dim": 4}, {"type": "LastStep"}, {"type": "Dense", "units": 3}],
        "recipe": {"loss": "cross_entropy"},
    }
    (tmp_path / "tokens.json").write_text(json.dumps(spec))
    return tmp_path / "tokens.csv"


def test_token_id_columns_are_never_standardized(tmp_path: Path) -> None:
    csv = _tokens_csv(tmp_path)
    task = custom_task(tmp_path / "tokens.json", csv, "label", loss=None, seed=0)
    ids = np.concatenate([task.data.x_train, task.data.x_test])
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() <= 9
    assert sorted(np.unique(ids)) == sorted(np.unique(pd.read_csv(csv).drop(columns="label").to_numpy()))


@pytest.mark.parametrize("bad", [10, -1])
def test_an_id_outside_the_vocabulary_is_refused_naming_the_row(tmp_path: Path, bad: int) -> None:
    csv = _tokens_csv(tmp_path, bad)
    with pytest.raises(SpecError, match=r"column 't2' holds .*not a token id.*\[0, 10\).*data row 18"):
        custom_task(tmp_path / "tokens.json", csv, "label", loss=None, seed=0)
