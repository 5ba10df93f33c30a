"""Port a trained Keras LSTM classifier to PyTorch and prove the copy computes the same numbers.

    python examples/port_keras_lstm.py             # train, save .keras, import, export, compare
    python compare.py --model lstm.keras --loss cross_entropy

Token ids -> Embedding -> LSTM -> Dense logits. Keras and the spec share the gate order
(i, f, c, o) and one bias; torch adds two biases (b_ih + b_hh), so the exported program
holds the canonical bias in b_ih and zero in b_hh.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a source checkout: import netparity from it

VOCAB, STEPS, CLASSES = 50, 12, 4


def lstm_classifier():
    import keras

    return keras.Sequential(
        [
            keras.Input((STEPS,), dtype="int64"),
            keras.layers.Embedding(VOCAB, 16),
            keras.layers.LSTM(24),
            keras.layers.Dense(CLASSES),
        ]
    )


def tokens(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stand-in sequences: the class is which quarter of the vocabulary dominates."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.integers(0, VOCAB, (n, STEPS))
    x[:, ::2] = rng.integers(0, VOCAB // CLASSES, (n, (STEPS + 1) // 2)) + (y * (VOCAB // CLASSES))[:, None]
    return x.astype(np.int64), y


def port_to_torch(out_dir: Path, epochs: int = 2) -> dict[str, float]:
    """Train the classifier in Keras, save and import the .keras file, export torch_model.pt2,
    and compare torch's predictions with Keras's."""
    import keras
    import torch

    import netparity

    keras.utils.set_random_seed(0)
    model = lstm_classifier()
    x, y = tokens(256, seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "lstm.keras")

    imported = netparity.from_keras(out_dir / "lstm.keras")  # verified against the original on import
    probe, _ = tokens(64, seed=99)
    checks = netparity.export(imported.spec, imported.params, out_dir / "export", frameworks=["torch"], probe=probe)
    keras_logits = np.asarray(model.predict(probe, verbose=0))
    program = torch.export.load(str(out_dir / "export" / "torch_model.pt2")).module()
    with torch.no_grad():
        torch_logits = program(torch.from_numpy(probe)).numpy()
    diff = np.abs(torch_logits - keras_logits)
    return {
        "max_abs_diff": float(diff.max()),
        "rel_diff": float(diff.max() / np.abs(keras_logits).max()),
        "prediction_agreement": float(np.mean(torch_logits.argmax(1) == keras_logits.argmax(1))),
        "reload_rel_diff": checks[0].rel_output,
    }


if __name__ == "__main__":
    figures = port_to_torch(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
    print("  ".join(f"{k} {v:.3g}" for k, v in figures.items()))
