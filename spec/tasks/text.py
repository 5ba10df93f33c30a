"""Tasks `sequence` (LSTM) and `attention` (causal self-attention): next-character
prediction on the Zen of Python, the text the standard library's ``this`` module holds."""

from __future__ import annotations

import codecs
import contextlib
import io

import numpy as np
from netparity.spec.data import Dataset
from netparity.spec.errors import SpecError
from netparity.spec.layers import (
    LSTM,
    Dense,
    Embedding,
    LastStep,
    LayerNorm,
    PositionalEmbedding,
    Residual,
    SelfAttention,
)
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance, register

WINDOW = 16  # characters of context per example


def zen_of_python() -> str:
    """The Zen of Python, decoded from ``this.s`` (rot13) without printing it."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the poem
        import this
    return codecs.decode(this.s, "rot13")


def char_windows(text: str, window: int, seed: int, test_fraction: float = 0.2) -> tuple[Dataset, list[str]]:
    """Every ``window``-character slice as int64 ids, its next character as the label;
    a seeded train/test split of the slices. The vocab is the text's sorted characters."""
    if window <= 0 or len(text) <= window:
        raise SpecError(f"text of {len(text)} characters is too short for windows of {window}")
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text], dtype=np.int64)
    starts = np.arange(len(ids) - window)
    x = ids[starts[:, None] + np.arange(window)]
    y = ids[starts + window]
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test]), vocab


def _instance(name: str, layers: tuple, seed: int, lr: float, epochs: int) -> TaskInstance:
    # Adam, every hyper-parameter explicit; few epochs: 670 windows are memorized quickly, and
    # longer runs only overfit (the test loss rises again) while taking longer.
    # epsilon 1e-4, not 1e-8: Adam divides by sqrt(v) + eps, so a gradient entry near zero
    # moves its weight by up to lr * (its rounding error) / eps per step. In float32 the
    # backends' rounding then drifts apart as ~1/eps (measured on `sequence`, torch vs NumPy,
    # 96 rows: 1e-8 -> 1.3e-3 after 20 steps, 2.6e-2 after 100; 1e-6 -> 4.9e-3 after 100;
    # 1e-4 -> 2.1e-5 after 100), while learning is unchanged (test loss 2.61 vs 2.62).
    optimizer = Optimizer("adam", lr=lr, beta1=0.9, beta2=0.999, epsilon=1e-4)
    recipe = Recipe(loss="cross_entropy", optimizer=optimizer, epochs=epochs, batch_size=32, shuffle_seed=seed)
    data, _vocab = char_windows(zen_of_python(), WINDOW, seed)
    data.check()
    model = ModelSpec((WINDOW,), layers)
    return TaskInstance(name, model, recipe, data, "classification", ("test_loss", "test_accuracy"))


@register("sequence", "next character of the Zen of Python, Embedding(16)-LSTM(64)-Dense(vocab), cross-entropy")
def sequence(seed: int) -> TaskInstance:
    vocab = len(set(zen_of_python()))
    return _instance("sequence", (Embedding(vocab, 16), LSTM(64), Dense(vocab)), seed, lr=0.01, epochs=8)


@register(
    "attention",
    "next character of the Zen of Python, Embedding(32)-PositionalEmbedding-Residual(SelfAttention(4, causal))"
    "-LayerNorm-LastStep-Dense(vocab), cross-entropy",
)
def attention(seed: int) -> TaskInstance:
    vocab = len(set(zen_of_python()))
    layers = (
        Embedding(vocab, 32),
        PositionalEmbedding(WINDOW),
        Residual((SelfAttention(4, causal=True),)),
        LayerNorm(1e-5),
        LastStep(),
        Dense(vocab),
    )
    return _instance("attention", layers, seed, lr=0.003, epochs=5)
