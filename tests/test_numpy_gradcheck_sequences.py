"""The NumPy sequence layers' backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_layer

from backends.numpy.layers import build_layer
from spec import layers as L

# Attention runs on one sequence: the key bias has an exactly-zero gradient (softmax is
# shift invariant), and with more rows the finite-difference rounding noise on that zero
# (~|f| eps / h) crosses gradcheck's absolute floor. The zero itself is tested below.
LAYER_CASES = [
    ("embedding", L.Embedding(7, 4), (5,), 3),
    ("positional_embedding", L.PositionalEmbedding(6), (4, 3), 3),
    ("layer_norm", L.LayerNorm(1e-5), (3, 5), 3),
    ("layer_norm_vector", L.LayerNorm(0.1), (6,), 3),
    ("lstm_last", L.LSTM(3), (5, 2), 3),
    ("lstm_sequences", L.LSTM(4, return_sequences=True), (4, 3), 3),
    ("attention_causal", L.SelfAttention(2), (4, 6), 1),
    ("attention_full", L.SelfAttention(3, causal=False), (3, 6), 1),
    ("attention_one_head", L.SelfAttention(1), (5, 2), 1),
    ("residual_attention", L.Residual((L.SelfAttention(2), L.LayerNorm())), (4, 4), 1),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape", "batch"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_sequence_layer_backward(layer: L.Layer, in_shape: tuple[int, ...], batch: int) -> None:
    check_layer(layer, in_shape, batch=batch)


@pytest.mark.numpy
def test_attention_key_bias_gradient_is_zero_and_causal_mask_hides_the_future() -> None:
    rng = np.random.default_rng(0)
    d = 6
    params = {f"{w}{p}": rng.normal(size=(d, d) if w == "w" else (d,)) for w in "wb" for p in "qkvo"}
    layer = build_layer(L.SelfAttention(2), (5, d), params, np.dtype("float64"))
    x = rng.normal(size=(3, 5, d))
    y = layer.forward(x, True)
    layer.backward(rng.normal(size=y.shape))
    assert np.abs(layer.grads["bk"]).max() < 1e-12
    changed = x.copy()
    changed[:, 3:] += 1.0  # the future of steps 0..2
    np.testing.assert_array_equal(layer.forward(changed)[:, :3], y[:, :3])
    assert not np.allclose(layer.forward(changed)[:, 3:], y[:, 3:])
