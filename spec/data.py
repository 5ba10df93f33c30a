"""Datasets as plain NumPy arrays, and the seeded mini-batch order every backend shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from netparity.spec.errors import SpecError


@dataclass(frozen=True)
class Dataset:
    """Train/test arrays (float64 features or int64 token ids; float64 or int64 targets).

    Regression targets are standardized for training; ``y_shift``/``y_scale`` map model
    outputs back to the original units for the test metrics.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    y_shift: float = 0.0
    y_scale: float = 1.0

    def check(self) -> None:
        for name in ("x_train", "y_train", "x_test", "y_test"):
            arr = getattr(self, name)
            if not np.issubdtype(arr.dtype, np.number):
                raise SpecError(f"data {name} is not numeric (dtype {arr.dtype})")
            if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                raise SpecError(f"data {name} holds NaN or infinite values")
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise SpecError("features and targets have different numbers of rows")
        if len(self.x_train) == 0:
            raise SpecError("the training set is empty")


def batch_plan(n: int, batch_size: int, shuffle_seed: int, epoch: int, *, shuffle: bool = True) -> list[np.ndarray]:
    """Index arrays of one epoch's mini-batches; the order depends only on (seed, epoch), or
    is the rows' own order when ``shuffle`` is false (recipe ``"shuffle": false``).

    The last batch may be smaller; every backend sees exactly these batches in this order.
    """
    order = np.random.default_rng([shuffle_seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale features by the training set's mean and std (constant columns left at zero)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std
