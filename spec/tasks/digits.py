"""Tasks `classification` and `image`: scikit-learn's bundled 8x8 handwritten digits (no
download), seeded stratified split, softmax cross-entropy on logits, accuracy on the test set."""

from __future__ import annotations

from netparity.spec.data import Dataset
from netparity.spec.layers import Conv2D, Dense, Flatten, MaxPool2D
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance, register

METRICS = ("test_accuracy", "test_loss")


def digits(seed: int, test_fraction: float = 0.2) -> Dataset:
    """1797 images (8, 8, 1) with pixels scaled from 0..16 to [0, 1]; labels 0..9 (int64);
    the split is stratified by label and seeded."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0)[..., None]  # NHWC, one channel
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    data = Dataset(x_tr, y_tr, x_te, y_te)
    data.check()
    return data


@register("classification", "8x8 digits (sklearn), Flatten-Dense(256,relu)-Dense(10), cross-entropy, SGD+momentum")
def classification(seed: int) -> TaskInstance:
    data = digits(seed)
    model = ModelSpec((8, 8, 1), (Flatten(), Dense(256, "relu"), Dense(10)))
    recipe = Recipe("cross_entropy", Optimizer("sgd", lr=0.1, momentum=0.9), epochs=8, batch_size=64, shuffle_seed=seed)
    return TaskInstance("classification", model, recipe, data, "classification", METRICS)


@register(
    "image",
    "8x8 digits (sklearn), 2x[Conv2D(3x3,same,relu)-MaxPool2D(2)]-Flatten-Dense(10), cross-entropy, SGD+momentum",
)
def image(seed: int) -> TaskInstance:
    data = digits(seed)
    model = ModelSpec(
        (8, 8, 1),
        (
            Conv2D(16, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Conv2D(32, 3, padding="same", activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(10),
        ),
    )
    recipe = Recipe(
        "cross_entropy", Optimizer("sgd", lr=0.05, momentum=0.9), epochs=6, batch_size=64, shuffle_seed=seed
    )
    return TaskInstance("image", model, recipe, data, "classification", METRICS)
