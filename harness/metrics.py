"""Test metrics computed in NumPy from each backend's outputs, so every backend is scored
by the same code."""

from __future__ import annotations

import numpy as np
from netparity.spec.data import Dataset


def regression_metrics(pred: np.ndarray, data: Dataset) -> dict[str, float]:
    """MSE and MAPE (%) in the target's original units."""
    pred = pred.astype(np.float64) * data.y_scale + data.y_shift
    true = data.y_test.astype(np.float64) * data.y_scale + data.y_shift
    err = pred - true
    nonzero = np.abs(true) > 0
    mape = float(np.mean(np.abs(err[nonzero]) / np.abs(true[nonzero])) * 100) if nonzero.any() else float("nan")
    return {"test_mse": float(np.mean(err**2)), "test_mape": mape}


def classification_metrics(logits: np.ndarray, data: Dataset) -> dict[str, float]:
    """Accuracy and mean cross-entropy of the logits against the integer test labels."""
    logits = logits.astype(np.float64)
    labels = data.y_test.astype(np.int64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return {
        "test_accuracy": float(np.mean(logits.argmax(axis=1) == labels)),
        "test_loss": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
    }


def prediction_agreement(logits: np.ndarray | None, ref_logits: np.ndarray | None) -> float:
    """Share of samples whose predicted class (argmax) equals the reference backend's (NaN if
    either is missing): two backends can score the same accuracy on different samples."""
    if logits is None or ref_logits is None or np.shape(logits) != np.shape(ref_logits):
        return float("nan")
    return float(np.mean(np.argmax(logits, axis=1) == np.argmax(ref_logits, axis=1)))


def binary_metrics(outputs: np.ndarray, data: Dataset, from_logits: bool) -> dict[str, float]:
    """Accuracy of the 0/1 targets: positive where the logit is > 0 (probability > 0.5)."""
    positive = outputs.astype(np.float64) > (0.0 if from_logits else 0.5)
    return {"test_accuracy": float(np.mean(positive == (data.y_test > 0.5)))}


def test_metrics(kind: str, outputs: np.ndarray, data: Dataset, *, from_logits: bool = True) -> dict[str, float]:
    if kind == "classification":
        return classification_metrics(outputs, data)
    if kind == "binary":
        return binary_metrics(outputs, data, from_logits)
    return regression_metrics(outputs, data)
