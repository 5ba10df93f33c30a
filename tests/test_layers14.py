"""Issue 14's layers on every backend against the NumPy reference (netparity.testing.check_parity):
forward, every layer's activations, loss, every gradient and a training trajectory, float64
at rounding level (1e-10) and float32 within the run tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FRAMEWORK_BACKENDS, backend_params, require
from netparity.backends import get_backend
from netparity.spec import layers as L
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe

from netparity.testing import check_parity

DTYPES = ["float64", "float32"]
SEQ = (10, 3)
IMAGE = (7, 6, 2)

# (input shape, layers before the Flatten + Dense head)
CASES = {
    "conv1d_valid_global_avg": (SEQ, (L.Conv1D(4, 3, activation="relu"), L.GlobalAvgPool())),
    "conv1d_same_stride2_even_kernel": (SEQ, (L.Conv1D(4, 4, stride=2, padding="same", activation="gelu"),)),
    "conv1d_causal_dilated_global_max": (
        SEQ,
        (L.Conv1D(3, 3, padding="causal", dilation=2, activation="tanh"), L.GlobalMaxPool()),
    ),
    "conv1d_same_dilated_no_bias": (SEQ, (L.Conv1D(3, 2, padding="same", dilation=3, use_bias=False),)),
    "max_pool1d_same": (SEQ, (L.Conv1D(3, 2, activation="tanh"), L.MaxPool1D(3, stride=2, padding="same"))),
    "max_pool1d_valid": (SEQ, (L.Conv1D(3, 2), L.MaxPool1D(2))),
    "avg_pool1d_same": (SEQ, (L.Conv1D(3, 2), L.AvgPool1D(4, stride=3, padding="same"))),
    "avg_pool1d_valid": (SEQ, (L.Conv1D(3, 2), L.AvgPool1D(3, stride=2))),
    "gru_reset_after": (SEQ, (L.GRU(5, bias_init="normal:0.3"),)),
    "gru_reset_after_sequences": (SEQ, (L.GRU(4, return_sequences=True, bias_init="normal:0.3"), L.LastStep())),
    "gru_reset_before": (SEQ, (L.GRU(5, reset_after=False, bias_init="normal:0.3"),)),
    "gru_reset_before_sequences": (SEQ, (L.GRU(4, return_sequences=True, reset_after=False), L.GlobalAvgPool())),
    "global_avg_image": (IMAGE, (L.Conv2D(3, 3, activation="selu"), L.GlobalAvgPool())),
    "global_max_image": (IMAGE, (L.Conv2D(3, 3, activation="softplus"), L.GlobalMaxPool())),
    "image_softmax_activation": (IMAGE, (L.Conv2D(3, 3), L.Activation("softmax"))),
    "image_log_softmax_activation": (IMAGE, (L.Conv2D(3, 3), L.Activation("log_softmax"))),
    "conv2d_hard_silu": (IMAGE, (L.Conv2D(3, 3, activation="hard_silu"),)),
    "leaky_relu_slope": ((5,), (L.Dense(6, "leaky_relu", negative_slope=0.2), L.Activation("leaky_relu"))),
    "lstm_recurrent_bias": (SEQ, (L.LSTM(4, recurrent_bias=True, recurrent_bias_init="normal:0.3"),)),
    "lstm_recurrent_bias_sequences": (
        SEQ,
        (L.LSTM(3, return_sequences=True, recurrent_bias=True), L.GlobalMaxPool()),
    ),
    "attention_key_dim": ((5, 6), (L.SelfAttention(2, key_dim=4), L.LastStep())),
    "attention_key_value_dim": ((5, 6), (L.SelfAttention(3, key_dim=2, value_dim=5, causal=False), L.LastStep())),
    "attention_no_bias": ((5, 6), (L.SelfAttention(2, use_bias=False), L.LastStep())),
    "attention_no_bias_key_dim": ((5, 6), (L.SelfAttention(2, key_dim=5, use_bias=False), L.LastStep())),
    "conv2d_pair_stride_same": (IMAGE, (L.Conv2D(3, (3, 2), stride=(2, 1), padding="same", activation="tanh"),)),
    "conv2d_dilated_same": (IMAGE, (L.Conv2D(3, 3, dilation=(2, 1), padding="same", activation="elu"),)),
    "conv2d_dilated_valid": (IMAGE, (L.Conv2D(3, 2, dilation=2, activation="silu"),)),
    "conv2d_groups": (IMAGE, (L.Conv2D(4, 3, activation="tanh"), L.Conv2D(6, 3, groups=2, padding="same"))),
    # one filter over several channels: Keras on torch runs ChannelsFirstConv2D in float64
    "conv2d_one_filter": (IMAGE, (L.Conv2D(3, 2), L.Conv2D(1, (2, 3), stride=(1, 2), activation="tanh"))),
    "conv2d_depthwise": (IMAGE, (L.Conv2D(4, 3, groups=2, stride=2, padding="same", activation="relu6"),)),
    "max_pool2d_same_pair": (IMAGE, (L.Conv2D(3, 2), L.MaxPool2D((3, 2), stride=(2, 1), padding="same"))),
    "max_pool2d_same": (IMAGE, (L.Conv2D(3, 2, activation="tanh"), L.MaxPool2D(2, padding="same"))),
    "avg_pool2d_same": (IMAGE, (L.Conv2D(3, 2), L.AvgPool2D(3, stride=2, padding="same"))),
    "avg_pool2d_same_pair": (IMAGE, (L.Conv2D(3, 2), L.AvgPool2D((2, 3), stride=(1, 2), padding="same"))),
}


def _data(in_shape: tuple[int, ...], n: int = 48, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *in_shape))
    flat = x.reshape(n, -1)
    y = (flat[:, 0] > 0).astype(np.int64) + (flat[:, 1:4].sum(axis=1) > 0)
    return x, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_parity(backend: str, dtype: str, case: str) -> None:
    require(backend)
    in_shape, layers = CASES[case]
    x, y = _data(in_shape)
    spec = ModelSpec(in_shape, (*layers, L.Flatten(), L.Dense(3)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.05), batch_size=16)
    check_parity(backend, spec, recipe, x, y, dtype=dtype, steps=20)


@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_l2_reaches_conv1d_and_gru_kernels(backend: str) -> None:
    """The recipe's l2 covers Conv1D and GRU kernels (Keras: kernel and recurrent regularizers)."""
    require(backend)
    x, y = _data(SEQ)
    spec = ModelSpec(SEQ, (L.Conv1D(4, 3, activation="tanh"), L.GRU(3, reset_after=False), L.Dense(3)))
    recipe = Recipe(loss="cross_entropy", optimizer=Optimizer("sgd", lr=0.05), batch_size=16, l2=1e-2)
    check_parity(backend, spec, recipe, x, y, dtype="float64", steps=10)


def test_conv1d_task_builds_and_is_a_signal_classifier() -> None:
    from netparity.spec.tasks import get_task

    task = get_task("conv1d").build(0)
    assert task.data.x_train.shape[1:] == (8, 8) and task.model.output_shape == (10,)
    assert any(isinstance(layer, L.GlobalAvgPool) for layer in task.model.layers)
    assert any(isinstance(layer, L.Conv1D) for layer in task.model.layers)


def test_native_defaults_leaky_relu_slope_only_where_it_acts() -> None:
    """--defaults native: Keras and TF's leaky_relu slope is 0.2 (torch's 0.01 is the spec's);
    only layers whose activation is leaky_relu and whose slope was left open change."""
    import dataclasses

    from netparity.harness.native import native_task
    from netparity.spec.tasks import get_task

    task = get_task("regression").build(0)
    layers = (
        L.Dense(4, "leaky_relu"),
        L.Dense(4, "relu"),  # the slope does nothing here: not a difference
        L.Residual((L.Activation("leaky_relu"),)),
        L.Dense(4, "leaky_relu", negative_slope=0.3),  # pinned by the user
        *task.model.layers,
    )
    task = dataclasses.replace(task, model=ModelSpec(task.model.input_shape, layers))
    for backend in ("keras", "tf"):
        native, diffs = native_task(task, backend, set())
        assert {(d.where, d.field, d.recipe, d.native) for d in diffs} == {
            ("0.dense", "negative_slope", 0.01, 0.2),
            ("2.residual.0.activation", "negative_slope", 0.01, 0.2),
        }
        assert native.model.layers[0].negative_slope == 0.2 and native.model.layers[3].negative_slope == 0.3
    assert native_task(task, "torch", set())[1] == []


@pytest.mark.slow
def test_new_layers_through_a_spec_file_in_float64(tmp_path) -> None:
    """--spec with Conv1D, pooling, GRU and the new activations: every backend ok at 1e-10."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    spec = {
        "input_shape": [12, 2],
        "layers": [
            {"type": "Conv1D", "filters": 4, "kernel": 3, "padding": "causal", "dilation": 2, "activation": "gelu"},
            {"type": "AvgPool1D", "pool": 2, "padding": "same"},
            {"type": "GRU", "units": 5, "return_sequences": True, "reset_after": False},
            {"type": "GlobalMaxPool"},
            {"type": "Dense", "units": 3, "activation": "leaky_relu", "negative_slope": 0.2},
        ],
        "recipe": {"loss": "mse", "optimizer": {"name": "adam", "lr": 0.01}, "epochs": 2, "batch_size": 16},
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "run"
    args = ["--spec", str(path), "--dtype", "float64", "--no-timing", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(root / "compare.py"), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert (summary.status == "ok").all(), summary[["backend", "status", "reason"]]
    assert (summary.filter(like="max_rel").fillna(0) <= 1e-10).all().all()


@pytest.mark.parametrize(
    ("shape", "layer", "message"),
    [
        ((8, 8, 1), {"type": "Conv1D", "filters": 2}, "Conv1D expects a sequence"),
        ((8, 2), {"type": "Conv1D", "filters": 2, "padding": "full"}, "'valid', 'same' or 'causal'"),
        ((8, 2), {"type": "Conv1D", "filters": 2, "kernel": 5, "dilation": 2}, "span 9 is longer"),
        ((8, 2), {"type": "Conv1D", "filters": 2, "stride": 2, "dilation": 2}, "stride > 1 together with dilation"),
        ((4,), {"type": "GlobalAvgPool"}, "GlobalAvgPool expects a sequence"),
        ((6, 6, 3), {"type": "Conv2D", "filters": 4, "groups": 2}, "not divisible by groups=2"),
        ((6, 6, 4), {"type": "Conv2D", "filters": 3, "groups": 2}, "filters=3 is not divisible"),
        (
            (6, 6, 4),
            {"type": "Conv2D", "filters": 2, "kernel": [3, 0]},
            "Conv2D.kernel must be a positive int or a pair",
        ),
        ((6, 6, 4), {"type": "Conv2D", "filters": 2, "dilation": [1, 2, 3]}, "wrong type"),
        ((6, 6, 4), {"type": "MaxPool2D", "pool": [2, 7]}, "larger than its 6x6 input"),
        ((6, 6, 4), {"type": "AvgPool2D", "padding": "causal"}, "'valid' or 'same'"),
        ((5, 6), {"type": "SelfAttention", "heads": 4}, "set key_dim"),
        ((5, 6), {"type": "SelfAttention", "heads": 2, "key_dim": 0}, "key_dim must be a positive integer"),
        ((5, 6), {"type": "GRU", "units": 2, "reset_after": "yes"}, "wrong type"),
        ((4,), {"type": "Dense", "units": 2, "activation": "leaky_relu", "negative_slope": "x"}, "wrong type"),
        ((4,), {"type": "Activation", "name": "swish"}, "unknown activation 'swish'"),
    ],
)
def test_bad_new_layer_fields_are_one_line_spec_errors(shape: tuple, layer: dict, message: str) -> None:
    from netparity.spec.errors import SpecError
    from netparity.spec.serialize import model_from_dict

    with pytest.raises(SpecError, match=message) as err:
        model_from_dict(
            {"input_shape": list(shape), "layers": [layer, {"type": "Flatten"}, {"type": "Dense", "units": 2}]}
        )
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
def test_implementation_names_the_replacements(backend: str) -> None:
    """The report says which named replacement ran instead of the framework's own layer."""
    from netparity.spec.init import init_params

    require(backend)
    spec = ModelSpec(
        SEQ,
        (
            L.GRU(3, reset_after=False, return_sequences=True),
            L.LSTM(3, recurrent_bias=True),
            L.Dense(2, "gelu"),
            L.Activation("hard_sigmoid"),
        ),
    )
    params = init_params(spec, 0)
    impl = {
        dtype: get_backend(backend).build(spec, params, Recipe(), dtype=dtype, device="cpu").implementation
        for dtype in DTYPES
    }
    expected = {
        "torch": {"GRU reset_after=False", "activation hard_sigmoid"},
        "tf": {"activation gelu"},
        "keras": {"LSTM recurrent_bias", "activation gelu"},
        "keras-jax": {"LSTM recurrent_bias", "activation gelu"},
        "keras-torch": {"LSTM recurrent_bias", "activation gelu"},
        "jax": set(),  # jax.nn computes every activation, jax functions every layer
    }[backend]
    assert expected <= set(impl["float64"]), impl["float64"]
    assert not {k for k in impl["float32"] if k.startswith("activation")}  # float32: the stock ops


@pytest.mark.keras_torch
def test_keras_torch_names_its_conv_and_pool_stand_ins() -> None:
    """torch's float64 slow_conv2d cannot differentiate Keras's channels_last weight of one
    filter: that layer (only) runs ChannelsFirstConv2D, and the report names it."""
    from netparity.spec.init import init_params

    require("keras-torch")
    spec = ModelSpec(
        IMAGE,
        (L.Conv2D(3, 2), L.Conv2D(1, 3), L.Conv2D(1, 1), L.AvgPool2D(2, padding="same"), L.Flatten(), L.Dense(2)),
    )
    params = init_params(spec, 0)
    backend = get_backend("keras-torch")
    impl = {d: backend.build(spec, params, Recipe(), dtype=d, device="cpu").implementation for d in DTYPES}
    assert "1.conv2d Conv2D" in impl["float64"] and "ChannelsFirstConv2D" in impl["float64"]["1.conv2d Conv2D"]
    assert "0.conv2d Conv2D" not in impl["float64"] and "2.conv2d Conv2D" not in impl["float64"]  # 3 filters; 1x1
    assert "1.conv2d Conv2D" not in impl["float32"]
    assert "3.avg_pool2d AvgPool2D" in impl["float32"]
