"""Sequence layers and the `sequence` / `attention` tasks: every new layer alone and both task
models agree with NumPy on every backend (forward, gradients, trajectory; float64 and float32),
the text data is deterministic, and both tasks run end to end through the CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from netparity.backends import available_backends
from netparity.spec import layers as L
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import get_task
from netparity.spec.tasks.text import char_windows, zen_of_python

from netparity.testing import FRAMEWORK_BACKENDS, backend_params, check_parity, require

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ["float64", "float32"]
ADAM = Optimizer("adam", lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)

# (id, input shape, layers, integer inputs); each layer alone under an MSE loss
LAYER_CASES = [
    ("embedding", (6,), (L.Embedding(11, 4),)),
    ("positional_embedding", (5, 3), (L.PositionalEmbedding(7),)),
    # epsilon far from every framework default (1e-5 torch, 1e-3 Keras) on low-variance input
    ("layer_norm", (5, 4), (L.LayerNorm(0.05),)),
    ("lstm_last_step", (5, 3), (L.LSTM(4),)),
    ("lstm_sequences", (5, 3), (L.LSTM(4, return_sequences=True),)),
    ("attention_causal", (5, 8), (L.SelfAttention(2),)),
    ("attention_full", (5, 6), (L.SelfAttention(3, causal=False),)),
    ("residual_attention_last_step", (5, 8), (L.Residual((L.SelfAttention(4),)), L.LastStep())),
]


def _layer_data(spec: ModelSpec, n: int = 24, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    first = spec.layers[0]
    if isinstance(first, L.Embedding):
        x = rng.integers(0, first.vocab, size=(n, *spec.input_shape))
    else:
        x = rng.normal(size=(n, *spec.input_shape))
        if isinstance(first, L.LayerNorm):
            x = 1.0 + 0.05 * x  # low variance: epsilon matters
    return x, rng.normal(size=(n, *spec.output_shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
@pytest.mark.parametrize(("in_shape", "layers"), [c[1:] for c in LAYER_CASES], ids=[c[0] for c in LAYER_CASES])
def test_sequence_layer_alone(backend: str, dtype: str, in_shape: tuple[int, ...], layers: tuple) -> None:
    require(backend)
    spec = ModelSpec(in_shape, layers)
    x, y = _layer_data(spec)
    check_parity(backend, spec, Recipe(loss="mse", optimizer=ADAM, batch_size=8), x, y, dtype=dtype, steps=12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", backend_params(FRAMEWORK_BACKENDS))
@pytest.mark.parametrize("task", ["sequence", "attention"])
def test_task_model(backend: str, dtype: str, task: str) -> None:
    """The task's own model and recipe (Adam, cross-entropy) on a slice of its data."""
    require(backend)
    inst = get_task(task).build(0)
    x, y = inst.data.x_train[:96], inst.data.y_train[:96]
    check_parity(backend, inst.model, inst.recipe, x, y, dtype=dtype, steps=30)


def test_char_windows_are_deterministic_next_character_pairs() -> None:
    text = zen_of_python()
    assert text.startswith("The Zen of Python, by Tim Peters")
    data, vocab = char_windows(text, 16, seed=0)
    again, _ = char_windows(text, 16, seed=0)
    other, _ = char_windows(text, 16, seed=1)
    assert vocab == sorted(set(text))
    np.testing.assert_array_equal(data.x_train, again.x_train)
    assert not np.array_equal(data.x_train, other.x_train)
    assert len(data.x_train) + len(data.x_test) == len(text) - 16
    pairs = zip(data.x_train, data.y_train, strict=True)
    windows = {"".join(vocab[i] for i in row) + vocab[label] for row, label in pairs}
    assert all(w in text for w in list(windows)[:50])


def test_text_too_short_is_a_clear_error() -> None:
    from netparity.spec.errors import SpecError

    with pytest.raises(SpecError, match="too short"):
        char_windows("abc", 16, seed=0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sequence", "attention"])
def test_task_end_to_end(task: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _cli("--task", task, "--dtype", "float64", "--epochs", "1", "--no-timing", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.backend) == available_backends()
    assert (summary.status == "ok").all(), summary[["backend", "status", "reason"]]
    assert {"test_loss", "test_accuracy"} <= set(summary.columns)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sequence", "attention"])
def test_default_recipe_learns(task: str, tmp_path: Path) -> None:
    """The full default run (NumPy; the others follow it to 1e-10 above) ends far below the
    uniform guess ln(vocab)."""
    out = tmp_path / "run"
    proc = _cli("--task", task, "--backends", "numpy", "--no-timing", "--out", str(out))
    assert proc.returncode == 1 and "nothing was compared" in proc.stdout, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    vocab = len(set(zen_of_python()))
    assert summary.test_loss.iloc[0] < 0.75 * math.log(vocab)
    assert summary.test_accuracy.iloc[0] > 5 / vocab
