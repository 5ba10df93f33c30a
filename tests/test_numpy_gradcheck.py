"""Every NumPy layer's and loss's backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from netparity.backends.numpy.losses import LOSSES
from netparity.spec import layers as L

from netparity.gradcheck import RTOL, H, check_layer

LAYER_CASES = [
    ("dense", L.Dense(4), (5,)),
    ("dense_no_bias", L.Dense(3, use_bias=False), (4,)),
    ("dense_sequence", L.Dense(3, "tanh"), (4, 5)),
    *[(f"dense_{a}", L.Dense(4, a), (3,)) for a in L.ACTIVATIONS],
    *[(f"activation_{a}", L.Activation(a), (6,)) for a in L.ACTIVATIONS],
    ("flatten", L.Flatten(), (2, 3, 2)),
    ("last_step", L.LastStep(), (4, 3)),
    ("residual", L.Residual((L.Dense(5, "tanh"), L.Dense(5))), (5,)),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_layer_backward(layer: L.Layer, in_shape: tuple[int, ...]) -> None:
    check_layer(layer, in_shape)


@pytest.mark.numpy
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_loss_gradient(loss: str) -> None:
    rng = np.random.default_rng(0)
    out = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6) if loss == "cross_entropy" else rng.normal(size=(6, 4))
    _value, grad = LOSSES[loss](out, y)
    for idx in np.ndindex(out.shape):
        old = out[idx]
        out[idx] = old + H
        up = LOSSES[loss](out, y)[0]
        out[idx] = old - H
        down = LOSSES[loss](out, y)[0]
        out[idx] = old
        assert abs(grad[idx] - (up - down) / (2 * H)) <= RTOL * max(np.abs(grad).max(), 1e-3)


@pytest.mark.numpy
def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    value, grad = LOSSES["cross_entropy"](logits, np.array([0, 2]))
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(1e4 / 2)
