"""Layout maps: every canonical <-> native map is an exact round trip, and every backend,
built from canonical parameters, reads back exactly those parameters (float64 and float32)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import layout_module
from netparity.backends.base import LayoutTable
from netparity.spec import layers as L
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

from netparity.testing import backend_params, require

# one model per input kind that between them hold every layer with parameters or state
ZOO = {
    "dense": ModelSpec((6,), (L.Dense(5, "tanh"), L.Dense(3, use_bias=False), L.Residual((L.Dense(3),)))),
    "image": ModelSpec(
        (7, 6, 2),
        (
            L.Conv2D(4, 3, padding="same"),
            L.BatchNorm(),
            L.MaxPool2D(2),
            L.Conv2D(3, (2, 3), stride=2),
            L.Flatten(),
            L.Dense(2),
        ),
    ),
    "sequence": ModelSpec(
        (8,),
        (
            L.Embedding(11, 8),
            L.PositionalEmbedding(8),
            L.Residual((L.SelfAttention(2),)),
            L.LayerNorm(),
            L.LSTM(5, return_sequences=True),
            L.LastStep(),
            L.Dense(11),
        ),
    ),
    "temporal": ModelSpec(
        (9, 3),
        (
            L.Conv1D(4, 3, padding="causal", dilation=2),
            L.GRU(5, return_sequences=True),
            L.GRU(4, reset_after=False, return_sequences=True),
            L.MaxPool1D(2, padding="same"),
            L.GlobalAvgPool(),
            L.Dense(2),
        ),
    ),
}


@pytest.mark.parametrize("backend", backend_params(("torch",)))
def test_torch_gru_layout_reorders_gate_blocks(backend: str) -> None:
    """Canonical gates z, r, h land in nn.GRU's order r, z, n (a transpose alone would mix them)."""
    require(backend)
    from netparity.backends.torch.layout import layout_for

    kernel = np.concatenate([np.full((2, 3), v) for v in (1.0, 2.0, 3.0)], axis=1)  # (in 2, 3H) blocks z=1, r=2, h=3
    native = layout_for("0.gru.kernel").to_native(kernel)
    assert native.shape == (9, 2)
    np.testing.assert_array_equal(native[:, 0], [2.0] * 3 + [1.0] * 3 + [3.0] * 3)
    bias = layout_for("0.gru.recurrent_bias").to_native(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(bias, [2.0, 1.0, 3.0])


@pytest.mark.parametrize("backend", backend_params(("torch", "tf", "jax", "keras")))
def test_layout_table_round_trips(backend: str) -> None:
    require(backend)
    table: LayoutTable = importlib.import_module(layout_module(backend)).LAYOUTS
    rng = np.random.default_rng(0)
    for (kind, param), layout in table.items():
        shape = {"conv2d": (3, 2, 4, 5), "conv1d": (3, 4, 5)}.get(kind, (6, 9))  # conv kernels, else matrices
        a = rng.normal(size=shape)
        back = layout.from_native(layout.to_native(a))
        np.testing.assert_array_equal(back, a, err_msg=f"{backend} {kind}.{param}")


def test_keras_attention_layout_round_trips() -> None:
    require("keras")
    from netparity.backends.keras.layout import attention_layout

    rng = np.random.default_rng(1)
    for param, shape in {"wq": (8, 8), "wk": (8, 8), "wv": (8, 8), "wo": (8, 8), "bq": (8,), "bv": (8,)}.items():
        a = rng.normal(size=shape)
        layout = attention_layout(param, heads=2)
        assert layout.to_native(a).shape != a.shape  # really reshaped into heads
        np.testing.assert_array_equal(layout.from_native(layout.to_native(a)), a)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("model", sorted(ZOO))
def test_built_model_reads_back_canonical_parameters(netparity_backend: str, model: str, dtype: str) -> None:
    """canonical -> native (build) -> canonical (params()) is exact, state included (once per
    installed backend: the public plugin's fixture)."""
    spec = ZOO[model]
    params = init_params(spec, 3)
    loss = "mse" if model == "dense" else "cross_entropy"
    built = require(netparity_backend).build(spec, params, Recipe(loss=loss), dtype=dtype, device="cpu")
    got = built.params()
    assert set(got) == set(params)
    for name, value in params.items():
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value.astype(dtype), err_msg=f"{netparity_backend} {name}")
