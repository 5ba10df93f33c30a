"""The NumPy image layers' backward against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from netparity.spec import layers as L

from netparity.gradcheck import check_layer

LAYER_CASES = [
    ("conv_valid", L.Conv2D(3, 3), (5, 6, 2)),
    ("conv_same_relu", L.Conv2D(4, 3, padding="same", activation="tanh"), (5, 5, 2)),
    # filters <= channels at stride 1: the input gradient as one full correlation (issue 18)
    ("conv_same_correlation", L.Conv2D(2, 3, padding="same", activation="tanh"), (5, 6, 3)),
    ("conv_same_correlation_even_kernel", L.Conv2D(3, (2, 4), padding="same"), (5, 6, 3)),
    ("conv_valid_correlation", L.Conv2D(2, (2, 3)), (5, 6, 4)),
    ("conv_same_stride2_even_kernel", L.Conv2D(3, 2, stride=2, padding="same"), (5, 7, 2)),
    ("conv_same_stride2_kernel4", L.Conv2D(2, 4, stride=2, padding="same", use_bias=False), (6, 5, 3)),
    ("conv_valid_stride2_rect", L.Conv2D(2, (3, 2), stride=2), (7, 6, 1)),
    ("max_pool", L.MaxPool2D(2), (4, 6, 3)),
    ("max_pool_overlapping", L.MaxPool2D(3, stride=1), (5, 5, 2)),
    ("max_pool_odd", L.MaxPool2D(2), (5, 5, 2)),
    ("avg_pool", L.AvgPool2D(2), (4, 6, 3)),
    ("avg_pool_overlapping", L.AvgPool2D(3, stride=2), (7, 6, 2)),
    ("batch_norm_image", L.BatchNorm(momentum=0.8, epsilon=1e-3), (3, 4, 5)),
    ("batch_norm_vector", L.BatchNorm(), (6,)),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_image_layer_backward(layer: L.Layer, in_shape: tuple[int, ...]) -> None:
    check_layer(layer, in_shape, batch=4)


@pytest.mark.numpy
def test_batch_norm_inference_backward() -> None:
    """Inference mode normalizes with the moving statistics: a different backward."""
    check_layer(L.BatchNorm(), (3, 3, 4), training=False)


@pytest.mark.numpy
def test_dropout_backward_with_a_fixed_mask() -> None:
    rate = 0.4
    mask = (np.random.default_rng(5).random((3, 4, 3, 2)) >= rate) / (1 - rate)

    def prepare(layer) -> None:
        layer.mask = mask

    check_layer(L.Dropout(rate), (4, 3, 2), prepare=prepare)
