"""Losses with their gradient w.r.t. the model output: loss(out, y) -> (value, d_out)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mse(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean((out - y)^2) over all elements; dL/dout = 2 (out - y) / size."""
    diff = out - y
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(logsumexp(z) - z[label]) (stable: max subtracted); dL/dz = (softmax(z) - onehot) / n."""
    n = len(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
    d = exp / total
    d[rows, labels] -= 1.0
    return float(loss), d / n


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]] = {
    "mse": mse,
    "cross_entropy": cross_entropy,
}
