"""Port a trained PyTorch LeNet to Keras and prove the copy computes the same numbers.

    python examples/port_torch_lenet.py            # train, import, export, compare
    python compare.py --model examples/port_torch_lenet.py:LeNet --input-shape 1,28,28 --loss cross_entropy

LeNet takes NCHW images as torch does; the imported spec is channels-last (NHWC), so the
first Linear after the Flatten gets its input rows permuted (c, h, w -> h, w, c) — the step
whose absence leaves a converted LeNet at chance accuracy. BatchNorm's running statistics
come along, trained.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a source checkout: import netparity from it


class LeNet(nn.Module):
    """Two conv blocks (conv, BatchNorm, ReLU, max-pool), Flatten, two Linear: 28x28 -> 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 5 * 5, 84)
        self.fc2 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stand-in digits: 10 class templates plus noise, NCHW float32."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(0).normal(size=(10, 1, 28, 28))
    y = rng.integers(0, 10, n)
    return (templates[y] + 0.5 * rng.normal(size=(n, 1, 28, 28))).astype(np.float32), y


def train(model: nn.Module, steps: int = 20, seed: int = 0) -> nn.Module:
    """A few SGD steps in torch (BatchNorm's running statistics move too)."""
    torch.manual_seed(seed)
    x, y = images(32 * steps, seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for i in range(steps):
        xb, yb = torch.from_numpy(x[i * 32 : (i + 1) * 32]), torch.from_numpy(y[i * 32 : (i + 1) * 32])
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    return model.eval()


def port_to_keras(out_dir: Path, steps: int = 20) -> dict[str, float]:
    """Train LeNet, import it, export model.keras, and compare Keras's predictions with torch's."""
    import keras

    import netparity

    torch.manual_seed(0)
    model = train(LeNet(), steps)
    imported = netparity.from_torch(model, (1, 28, 28))  # verified against the original on import
    x, _ = images(64, seed=99)
    checks = netparity.export(
        imported.spec, imported.params, out_dir, frameworks=["keras"], probe=x.transpose(0, 2, 3, 1)
    )
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    keras_model = keras.saving.load_model(out_dir / "model.keras")
    keras_logits = np.asarray(keras_model.predict(x.transpose(0, 2, 3, 1), verbose=0))  # Keras takes NHWC
    diff = np.abs(keras_logits - torch_logits)
    return {
        "max_abs_diff": float(diff.max()),
        "rel_diff": float(diff.max() / np.abs(torch_logits).max()),
        "prediction_agreement": float(np.mean(keras_logits.argmax(1) == torch_logits.argmax(1))),
        "reload_rel_diff": checks[0].rel_output,
    }


if __name__ == "__main__":
    figures = port_to_keras(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
    print("  ".join(f"{k} {v:.3g}" for k, v in figures.items()))
