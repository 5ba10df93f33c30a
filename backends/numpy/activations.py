"""Elementwise activations with their derivatives: forward(x) -> y, backward(x, y, dy) -> dx."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^-x), evaluated without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def softmax(x: np.ndarray) -> np.ndarray:
    """y = e^(x - max) / sum(e^(x - max)) over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


Forward = Callable[[np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

# name -> (forward, backward(x, y, dy))
ACTIVATIONS: dict[str, tuple[Forward, Backward]] = {
    "identity": (lambda x: x, lambda x, y, dy: dy),
    "relu": (lambda x: np.maximum(x, 0), lambda x, y, dy: dy * (x > 0)),
    "sigmoid": (sigmoid, lambda x, y, dy: dy * y * (1 - y)),
    "tanh": (np.tanh, lambda x, y, dy: dy * (1 - y * y)),
    "elu": (  # y = x (x > 0) else e^x - 1;  dy/dx = 1 (x > 0) else y + 1
        lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
        lambda x, y, dy: dy * np.where(x > 0, 1, y + 1),
    ),
    "softmax": (  # dx = y * (dy - sum(dy * y))
        softmax,
        lambda x, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
    ),
}
