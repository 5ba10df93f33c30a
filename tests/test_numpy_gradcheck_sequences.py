"""The NumPy sequence layers' backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from netparity.backends.numpy.layers import build_layer
from netparity.spec import layers as L
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec

from netparity.gradcheck import check_layer

LAYER_CASES = [
    ("embedding", L.Embedding(7, 4), (5,)),
    ("positional_embedding", L.PositionalEmbedding(6), (4, 3)),
    ("layer_norm", L.LayerNorm(1e-5), (3, 5)),
    ("layer_norm_vector", L.LayerNorm(0.1), (6,)),
    ("lstm_last", L.LSTM(3), (5, 2)),
    ("lstm_sequences", L.LSTM(4, return_sequences=True), (4, 3)),
    ("attention_causal", L.SelfAttention(2), (4, 6)),
    ("attention_full", L.SelfAttention(3, causal=False), (3, 6)),
    ("attention_one_head", L.SelfAttention(1), (5, 2)),
    ("residual_attention", L.Residual((L.SelfAttention(2), L.LayerNorm())), (4, 4)),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_sequence_layer_backward(layer: L.Layer, in_shape: tuple[int, ...]) -> None:
    check_layer(layer, in_shape)


def _attention(layer: L.SelfAttention, in_shape: tuple[int, int]):
    params = init_params(ModelSpec(in_shape, (layer,)), 0)
    own = {k.split(".")[-1]: v + 0.1 for k, v in params.items()}  # nonzero biases
    return build_layer(layer, in_shape, own, np.dtype("float64"))


@pytest.mark.numpy
def test_causal_attention_hides_the_future() -> None:
    x = np.random.default_rng(0).normal(size=(3, 5, 6))
    future_changed = x.copy()
    future_changed[:, 3:] += 1.0  # the future of steps 0..2
    causal = _attention(L.SelfAttention(2), (5, 6))
    y = causal.forward(x)
    np.testing.assert_array_equal(causal.forward(future_changed)[:, :3], y[:, :3])
    assert not np.allclose(causal.forward(future_changed)[:, 3:], y[:, 3:])
    full = _attention(L.SelfAttention(2, causal=False), (5, 6))
    assert not np.allclose(full.forward(future_changed)[:, :3], full.forward(x)[:, :3])
