"""Task `conv1d`: scikit-learn's bundled 8x8 digits read as signals (no download): each image
is 8 time steps (its rows) of 8 channels (its columns); a Conv1D stack, global average
pooling over time and a Dense head classify them (softmax cross-entropy, accuracy)."""

from __future__ import annotations

from netparity.spec.data import Dataset
from netparity.spec.layers import Conv1D, Dense, GlobalAvgPool
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance, register
from netparity.spec.tasks.digits import METRICS, digits


def digit_signals(seed: int) -> Dataset:
    """The `classification` split with each (8, 8, 1) image as an (8 steps, 8 channels) signal."""
    images = digits(seed)
    data = Dataset(images.x_train.reshape(-1, 8, 8), images.y_train, images.x_test.reshape(-1, 8, 8), images.y_test)
    data.check()
    return data


@register(
    "conv1d",
    "8x8 digits (sklearn) as 8-step, 8-channel signals, Conv1D(32,3,same,relu)-Conv1D(32,3,causal,dilation 2,gelu)"
    "-GlobalAvgPool-Dense(10), cross-entropy, Adam",
)
def conv1d(seed: int) -> TaskInstance:
    data = digit_signals(seed)
    model = ModelSpec(
        (8, 8),
        (
            Conv1D(32, 3, padding="same", activation="relu"),
            Conv1D(32, 3, padding="causal", dilation=2, activation="gelu"),
            GlobalAvgPool(),
            Dense(10),
        ),
    )
    recipe = Recipe("cross_entropy", Optimizer("adam", lr=0.01), epochs=10, batch_size=64, shuffle_seed=seed)
    return TaskInstance("conv1d", model, recipe, data, "classification", METRICS)
