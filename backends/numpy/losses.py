"""Losses with their gradient w.r.t. the model output: loss(out, y) -> (value, d_out).

Each is the formula of spec.recipe.Loss, averaged over every element of the batch;
``make_loss(loss)`` binds a recipe's Loss object (delta, from_logits, label_smoothing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from netparity.spec.recipe import Loss

LossFn = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]


def mse(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean((out - y)^2) over all elements; dL/dout = 2 (out - y) / size."""
    diff = out - y
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def mae(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(|out - y|); dL/dout = sign(out - y) / size (0 where out == y, as every framework)."""
    diff = out - y
    return float(np.mean(np.abs(diff))), np.sign(diff) / diff.size


def huber(out: np.ndarray, y: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    """L = mean(0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta)), d = out - y;
    dL/dout = clip(d, -delta, delta) / size."""
    d = out - y
    a = np.abs(d)
    values = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return float(np.mean(values)), np.clip(d, -delta, delta) / d.size


def bce_logits(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(max(z, 0) - z y + log(1 + exp(-|z|))) (= -y log s - (1-y) log(1-s), s = sigmoid(z),
    in the stable form); dL/dz = (s - y) / size."""
    values = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    s = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
    return float(np.mean(values)), (s - y) / z.size


def bce_probabilities(p: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(-(y log p + (1 - y) log(1 - p))); dL/dp = (p - y) / (p (1 - p)) / size."""
    values = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return float(np.mean(values)), (p - y) / (p * (1 - p)) / p.size


def cross_entropy(logits: np.ndarray, labels: np.ndarray, smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """L = mean over rows of -sum_k q_k log softmax(z)_k, q = (1 - s) onehot + s/K (stable: max
    subtracted); dL/dz = (softmax(z) - q) / n."""
    n, k = logits.shape
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    log_probs = shifted - np.log(total)
    q = np.full_like(logits, smoothing / k)
    q[np.arange(n), labels] += 1.0 - smoothing
    loss = -np.mean(np.sum(q * log_probs, axis=-1))
    return float(loss), (exp / total - q) / n


def cross_entropy_on_probabilities(p: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean(-log p[label]); dL/dp = -1 / (n p[label]) at the label, 0 elsewhere."""
    n, rows = len(p), np.arange(len(p))
    picked = p[rows, labels]
    d = np.zeros_like(p)
    d[rows, labels] = -1.0 / (n * picked)
    return float(np.mean(-np.log(picked))), d


LOSSES: dict[str, LossFn] = {"mse": mse, "cross_entropy": cross_entropy}


def make_loss(loss: Loss) -> LossFn:
    """The function computing ``loss`` (spec.recipe.Loss) and its gradient."""
    if loss.name == "mse":
        return mse
    if loss.name == "mae":
        return mae
    if loss.name == "huber":
        return lambda out, y: huber(out, y, loss.delta)
    if loss.name == "bce":
        return bce_logits if loss.from_logits else bce_probabilities
    if not loss.from_logits:
        return cross_entropy_on_probabilities
    return lambda out, y: cross_entropy(out, y, loss.label_smoothing)
