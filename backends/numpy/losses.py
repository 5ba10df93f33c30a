"""Losses with their gradient w.r.t. the model output: loss(out, y) -> (value, d_out)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from netparity.spec.recipe import Loss


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


def cross_entropy_on_probabilities(p: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(-log p[label]); dL/dp = -1 / (n p[label]) at the label, 0 elsewhere."""
    n, rows = len(p), np.arange(len(p))
    picked = p[rows, labels]
    d = np.zeros_like(p)
    d[rows, labels] = -1.0 / (n * picked)
    return float(np.mean(-np.log(picked))), d


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]] = {
    "mse": mse,
    "cross_entropy": cross_entropy,
}


def loss_function(loss: Loss) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """The function for a recipe's loss (cross-entropy on logits or on probabilities)."""
    if loss.classification and not loss.from_logits:
        return cross_entropy_on_probabilities
    return LOSSES[loss.name]
