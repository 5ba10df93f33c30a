"""Issue 14's layers on every backend against the NumPy reference (netparity.testing.check_parity):
forward, every layer's activations, loss, every gradient and a training trajectory, float64
at rounding level (1e-10) and float32 within the run tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FRAMEWORK_BACKENDS, backend_params, require
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
