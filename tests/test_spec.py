"""The spec: validation that names the bad layer, shape inference, dict round trip, init."""

from __future__ import annotations

import numpy as np
import pytest
from netparity.spec import layers as L
from netparity.spec.errors import SpecError
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.serialize import model_from_dict, model_to_dict, recipe_from_dict, recipe_to_dict
from netparity.spec.tasks import TASKS, get_task

MODELS = [
    ModelSpec((10,), (L.Dense(64, "relu"), L.Dense(64, "relu"), L.Dense(1))),
    ModelSpec(
        (8, 8, 1),
        (
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.MaxPool2D(2),
            L.Conv2D(8, (2, 3), stride=2, padding="same"),
            L.BatchNorm(),
            L.Flatten(),
            L.Dropout(0.25),
            L.Dense(10),
        ),
    ),
    ModelSpec(
        (12,),
        (
            L.Embedding(30, 16),
            L.PositionalEmbedding(12),
            L.Residual((L.SelfAttention(4),)),
            L.LayerNorm(),
            L.LSTM(8, return_sequences=True),
            L.LastStep(),
            L.Dense(30),
        ),
    ),
]


@pytest.mark.parametrize("model", MODELS, ids=["mlp", "conv", "sequence"])
def test_dict_round_trip(model: ModelSpec) -> None:
    assert model_from_dict(model_to_dict(model)) == model


def test_recipe_round_trip() -> None:
    recipe = Recipe("cross_entropy", Optimizer("adam", lr=0.003, beta2=0.99), epochs=3, batch_size=7, l2=0.01)
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe


def test_shape_inference() -> None:
    infos = MODELS[1].infer()
    assert [i.out_shape for i in infos] == [(8, 8, 16), (4, 4, 16), (2, 2, 8), (2, 2, 8), (32,), (32,), (10,)]
    assert infos[2].params["2.conv2d.kernel"].shape == (2, 3, 16, 8)
    assert MODELS[2].infer()[4].params["4.lstm.recurrent_kernel"].shape == (8, 32)
    assert "2.residual.0.self_attention.wo" in MODELS[2].param_specs()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"input_shape": [4], "layers": [{"type": "Dense", "units": 0}]},
            "layer 0 (Dense): Dense.units must be a positive",
        ),
        ({"input_shape": [4], "layers": [{"type": "Dense", "units": "8"}]}, "field 'units' has the wrong type"),
        ({"input_shape": [4], "layers": [{"type": "Dense", "units": 8, "activation": "swish"}]}, "unknown activation"),
        ({"input_shape": [4], "layers": [{"type": "Nope"}]}, "unknown layer type 'Nope'"),
        ({"input_shape": [4], "layers": [{"type": "Dense", "units": 8, "size": 3}]}, "unknown field(s) size"),
        (
            {"input_shape": [3, 3, 1], "layers": [{"type": "Conv2D", "filters": 2, "kernel": 5}]},
            "larger than its 3x3 input",
        ),
        (
            {"input_shape": [4], "layers": [{"type": "Conv2D", "filters": 2}]},
            "layer 0 (Conv2D): Conv2D expects an image",
        ),
        ({"input_shape": [6, 8], "layers": [{"type": "SelfAttention", "heads": 3}]}, "not divisible by heads=3"),
        ({"input_shape": [4], "layers": []}, "'layers' must be a non-empty list"),
        ({"input_shape": [0], "layers": [{"type": "Dense", "units": 2}]}, "input_shape must be"),
        (
            {"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "kernel_init": "magic"}]},
            "unknown initializer",
        ),
        (
            {
                "input_shape": [4],
                "layers": [{"type": "Dense", "units": 2}, {"type": "Embedding", "vocab": 3, "dim": 2}],
            },
            "Embedding must be the first layer",
        ),
    ],
)
def test_invalid_specs_are_named(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=None) as err:
        model_from_dict(data)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "recipe",
    [
        {"loss": "hinge"},
        {"optimizer": {"name": "lbfgs"}},
        {"optimizer": {"name": "sgd", "lr": -1}},
        {"epochs": 0},
        {"batch_size": 2.5},
    ],
)
def test_invalid_recipes(recipe: dict) -> None:
    with pytest.raises(SpecError):
        recipe_from_dict(recipe)


def test_init_is_seeded_and_per_parameter() -> None:
    a, b, c = init_params(MODELS[0], 0), init_params(MODELS[0], 0), init_params(MODELS[0], 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.dense.kernel"], c["0.dense.kernel"])
    # adding a layer leaves the others' initial values untouched
    longer = ModelSpec((10,), (*MODELS[0].layers, L.Dense(3)))
    d = init_params(longer, 0)
    assert all(np.array_equal(a[k], d[k]) for k in a)


@pytest.mark.parametrize(
    ("scheme", "std"),
    [
        ("xavier_uniform", np.sqrt(2 / (400 + 300))),
        ("xavier_normal", np.sqrt(2 / (400 + 300))),
        ("kaiming_uniform", np.sqrt(2 / 400)),
        ("kaiming_normal", np.sqrt(2 / 400)),
        ("normal:0.02", 0.02),
        ("uniform:0.05", 0.05 / np.sqrt(3)),
    ],
)
def test_init_scales(scheme: str, std: float) -> None:
    w = init_params(ModelSpec((400,), (L.Dense(300, kernel_init=scheme),)), 0)["0.dense.kernel"]
    assert w.shape == (400, 300)
    assert abs(w.mean()) < 0.02 * std * 10
    assert w.std() == pytest.approx(std, rel=0.02)


def test_orthogonal_and_forget_bias() -> None:
    p = init_params(ModelSpec((5, 3), (L.LSTM(6),)), 0)
    r = p["0.lstm.recurrent_kernel"]  # (6, 24): rows orthonormal
    np.testing.assert_allclose(r @ r.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(p["0.lstm.bias"], np.r_[np.zeros(6), np.ones(6), np.zeros(12)])


def test_unknown_task() -> None:
    with pytest.raises(SpecError, match="unknown task 'nope'"):
        get_task("nope")


def test_tasks_build() -> None:
    for name in TASKS:
        task = get_task(name).build(0)
        task.data.check()
        assert task.model.infer()[-1].out_shape[-1] >= 1
