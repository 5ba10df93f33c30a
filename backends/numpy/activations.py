"""Elementwise activations with their derivatives: forward(x) -> y, backward(x, y, dy) -> dx."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf

SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017, as torch and TF
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715


def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^-x), evaluated without overflow for large |x| as 1 / (1 + e) for x >= 0
    and e / (1 + e) below, e = e^-|x| (three arrays, in place)."""
    e = np.asarray(np.abs(x))  # asarray: np.abs of a 0-d array is a scalar
    np.negative(e, out=e)
    np.exp(e, out=e)
    den = e + 1.0
    np.copyto(e, 1.0, where=x >= 0)  # the numerator
    np.divide(e, den, out=e)
    return e


def softmax(x: np.ndarray) -> np.ndarray:
    """y = e^(x - max) / sum(e^(x - max)) over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """y = (x - max) - log(sum(e^(x - max))) over the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def gelu(x: np.ndarray) -> np.ndarray:
    """y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt(2))) / 2."""
    return x * (0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0)))))


def gelu_grad(x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dy/dx = Phi(x) + x * phi(x), phi the standard normal density."""
    phi = np.exp(-0.5 * x * x) * (1.0 / math.sqrt(2.0 * math.pi))
    return dy * (0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0)))) + x * phi)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """y = x/2 * (1 + tanh(u)), u = sqrt(2/pi) * (x + 0.044715 x^3)."""
    return 0.5 * x * (1.0 + np.tanh(GELU_TANH_C * (x + GELU_TANH_K * x**3)))


def gelu_tanh_grad(x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dy/dx = (1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2), t = tanh(u)."""
    t = np.tanh(GELU_TANH_C * (x + GELU_TANH_K * x**3))
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x * x))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """y = relu6(x + 3) / 6."""
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _inside(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 strictly inside (low, high), else 0: the slope of a clip (0 at the kinks, as every framework)."""
    return ((x > low) & (x < high)).astype(x.dtype)


Forward = Callable[[np.ndarray], np.ndarray]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

# name -> (forward, backward(x, y, dy)); leaky_relu takes its slope: see ``activation``
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
    "log_softmax": (  # dx = dy - softmax(x) * sum(dy), softmax(x) = e^y
        log_softmax,
        lambda x, y, dy: dy - np.exp(y) * dy.sum(axis=-1, keepdims=True),
    ),
    "gelu": (gelu, gelu_grad),
    "gelu_tanh": (gelu_tanh, gelu_tanh_grad),
    "silu": (  # y = x s, s = sigmoid(x);  dy/dx = s (1 + x (1 - s))
        lambda x: x * sigmoid(x),
        lambda x, y, dy: dy * sigmoid(x) * (1 + x * (1 - sigmoid(x))),
    ),
    "relu6": (lambda x: np.clip(x, 0.0, 6.0), lambda x, y, dy: dy * _inside(x, 0.0, 6.0)),
    "selu": (  # y = scale * (x (x > 0) else alpha (e^x - 1));  dy/dx = scale (x > 0) else y + scale * alpha
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
        lambda x, y, dy: dy * np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA),
    ),
    "softplus": (  # y = log(1 + e^x);  dy/dx = sigmoid(x)
        lambda x: np.logaddexp(0.0, x),
        lambda x, y, dy: dy * sigmoid(x),
    ),
    "softsign": (  # y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)^2
        lambda x: x / (1.0 + np.abs(x)),
        lambda x, y, dy: dy / np.square(1.0 + np.abs(x)),
    ),
    "hard_sigmoid": (hard_sigmoid, lambda x, y, dy: dy * _inside(x, -3.0, 3.0) / 6.0),
    "hard_silu": (  # y = x h(x);  dy/dx = h(x) + x [-3 < x < 3] / 6
        lambda x: x * hard_sigmoid(x),
        lambda x, y, dy: dy * (hard_sigmoid(x) + x * _inside(x, -3.0, 3.0) / 6.0),
    ),
}


def leaky_relu(slope: float) -> tuple[Forward, Backward]:
    """y = x (x > 0) else slope * x;  dy/dx = 1 (x > 0) else slope."""
    return (
        lambda x: np.where(x > 0, x, x * slope),
        lambda x, y, dy: dy * np.where(x > 0, 1.0, slope).astype(dy.dtype),
    )


def activation(spec: object) -> tuple[Forward, Backward]:
    """The forward/backward pair of a layer spec's ``activation`` (None is the identity)."""
    name = getattr(spec, "activation", None) or "identity"
    if name == "leaky_relu":
        return leaky_relu(spec.negative_slope)
    return ACTIVATIONS[name]
