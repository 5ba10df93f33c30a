"""The NumPy layers of issue 14 (Conv1D, 1-D and global pooling, GRU, the new activations
with their options) against central finite differences (float64)."""

from __future__ import annotations

import pytest
from netparity.spec import layers as L

from netparity.gradcheck import check_layer

SEQ = (9, 3)
LAYER_CASES = [
    ("conv1d_valid", L.Conv1D(4, 3), SEQ),
    ("conv1d_same_stride2_even_kernel", L.Conv1D(3, 4, stride=2, padding="same", activation="gelu"), SEQ),
    ("conv1d_causal_dilated", L.Conv1D(2, 3, padding="causal", dilation=2, activation="silu"), SEQ),
    ("conv1d_same_dilated_no_bias", L.Conv1D(2, 2, padding="same", dilation=3, use_bias=False), SEQ),
    ("conv1d_leaky", L.Conv1D(3, 2, stride=3, activation="leaky_relu", negative_slope=0.3), SEQ),
    ("max_pool1d", L.MaxPool1D(2), SEQ),
    ("max_pool1d_same_overlapping", L.MaxPool1D(3, stride=2, padding="same"), SEQ),
    ("avg_pool1d", L.AvgPool1D(3), SEQ),
    ("avg_pool1d_same", L.AvgPool1D(4, stride=3, padding="same"), SEQ),
    ("global_avg_seq", L.GlobalAvgPool(), SEQ),
    ("global_avg_image", L.GlobalAvgPool(), (3, 4, 2)),
    ("global_max_seq", L.GlobalMaxPool(), SEQ),
    ("global_max_image", L.GlobalMaxPool(), (3, 4, 2)),
    ("gru_reset_after_last", L.GRU(4), (5, 3)),
    ("gru_reset_after_sequences", L.GRU(3, return_sequences=True, bias_init="normal:0.5"), (4, 2)),
    ("gru_reset_before_last", L.GRU(4, reset_after=False, bias_init="normal:0.5"), (5, 3)),
    ("gru_reset_before_sequences", L.GRU(3, return_sequences=True, reset_after=False), (4, 2)),
    ("dense_leaky_slope", L.Dense(4, "leaky_relu", negative_slope=0.2), (5,)),
    ("activation_leaky_slope", L.Activation("leaky_relu", negative_slope=-0.5), (6,)),
    ("activation_log_softmax_seq", L.Activation("log_softmax"), SEQ),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_layer_backward(layer: L.Layer, in_shape: tuple[int, ...]) -> None:
    check_layer(layer, in_shape, batch=4)


IMAGE_CASES = [
    ("conv2d_pair_stride", L.Conv2D(3, (3, 2), stride=(2, 1), padding="same"), (7, 6, 2)),
    ("conv2d_dilated_same", L.Conv2D(2, 3, dilation=(2, 1), padding="same", activation="softsign"), (7, 6, 2)),
    ("conv2d_dilated_valid", L.Conv2D(2, 2, dilation=2), (6, 5, 3)),
    ("conv2d_groups", L.Conv2D(4, 3, groups=2, padding="same"), (5, 6, 4)),
    ("conv2d_depthwise_multiplier", L.Conv2D(6, 3, groups=3, stride=2, use_bias=False), (7, 6, 3)),
    ("max_pool2d_same_pair", L.MaxPool2D((3, 2), stride=(2, 1), padding="same"), (5, 6, 2)),
    ("max_pool2d_same", L.MaxPool2D(2, padding="same"), (5, 5, 2)),
    ("avg_pool2d_same", L.AvgPool2D(3, stride=2, padding="same"), (6, 5, 2)),
    ("avg_pool2d_same_pair", L.AvgPool2D((2, 3), stride=(1, 2), padding="same"), (5, 6, 2)),
    ("avg_pool2d_valid_pair", L.AvgPool2D((2, 3)), (5, 6, 2)),
]


@pytest.mark.numpy
@pytest.mark.parametrize(("layer", "in_shape"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES])
def test_image_option_backward(layer: L.Layer, in_shape: tuple[int, ...]) -> None:
    check_layer(layer, in_shape, batch=3)


@pytest.mark.numpy
@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_recurrent_bias_backward(return_sequences: bool) -> None:
    check_layer(L.LSTM(3, return_sequences, recurrent_bias=True, recurrent_bias_init="normal:0.3"), (4, 2))


@pytest.mark.numpy
@pytest.mark.parametrize(
    "layer",
    [
        L.SelfAttention(2, key_dim=3),
        L.SelfAttention(3, key_dim=2, value_dim=5, causal=False),
        L.SelfAttention(2, use_bias=False),
    ],
    ids=["key_dim", "key_and_value_dim", "no_bias"],
)
def test_attention_option_backward(layer: L.SelfAttention) -> None:
    check_layer(layer, (4, 6))
