"""Exporting a spec with its weights to model.keras, torch_model.pt2 and tf_savedmodel/: each
artifact reloads in a fresh process with only its own framework (no netparity, no user class)
and reproduces the reference; and the two porting examples run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from netparity.spec.init import init_params
from netparity.spec.serialize import model_from_dict

from netparity import export
from netparity.testing import require

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.keras, pytest.mark.torch, pytest.mark.tf]

IMAGE = {
    "input_shape": [9, 10, 2],
    "layers": [
        {"type": "Conv2D", "filters": 3, "padding": "same", "activation": "relu"},
        {"type": "BatchNorm"},
        {"type": "MaxPool2D"},
        {"type": "Conv2D", "filters": 4, "kernel": 2, "stride": 2},
        {"type": "AvgPool2D", "pool": 1},
        {"type": "Flatten"},
        {"type": "Dropout", "rate": 0.3},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}
TEXT = {
    "input_shape": [6],
    "layers": [
        {"type": "Embedding", "vocab": 11, "dim": 8},
        {"type": "Residual", "layers": [{"type": "LayerNorm"}, {"type": "SelfAttention", "heads": 2}]},
        {"type": "LSTM", "units": 5, "return_sequences": True},
        {"type": "LastStep"},
        {"type": "Dense", "units": 3},
    ],
}

# Each snippet loads one artifact with its framework alone, in a process where importing
# netparity fails: no netparity (or user) class can help.
PLAIN = {
    "model.keras": "import os; os.environ['KERAS_BACKEND'] = 'tensorflow'; import keras\n"
    "m = keras.saving.load_model('model.keras'); out = np.asarray(m(x, training=False))",
    "torch_model.pt2": "import torch; m = torch.export.load('torch_model.pt2').module()\n"
    "xt = torch.as_tensor(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x)\n"
    "xt = xt if x.dtype == np.int64 else xt.float(); out = m(xt).detach().numpy()",
    "tf_savedmodel": "import tensorflow as tf; f = tf.saved_model.load('tf_savedmodel').signatures['serving_default']\n"
    "out = f(x=tf.constant(x))['output'].numpy()",
}


def _params(spec) -> dict[str, np.ndarray]:
    """Seeded weights moved off their initial values (biases, BatchNorm statistics too)."""
    rng = np.random.default_rng(5)
    return {
        k: v + 0.2 * rng.normal(size=v.shape) + (0.5 if k.endswith("moving_var") else 0.0)
        for k, v in init_params(spec, 0).items()
    }


def _reference(spec, params, x) -> np.ndarray:
    from netparity.backends import get_backend
    from netparity.spec.recipe import Recipe

    model = get_backend("numpy").build(spec, params, Recipe(), dtype="float64", device="cpu")
    return model.forward(model.stage(x))


@pytest.mark.parametrize("spec_dict", [IMAGE, TEXT], ids=["image", "text"])
def test_every_artifact_reloads_and_matches_the_reference(tmp_path: Path, spec_dict: dict) -> None:
    for b in ("torch", "tf", "keras"):
        require(b)
    spec = model_from_dict(spec_dict)
    params = _params(spec)
    rng = np.random.default_rng(6)
    x = rng.integers(0, 11, (16, 6)) if spec.integer_inputs else rng.normal(size=(16, *spec.input_shape))
    checks = export(spec, params, tmp_path, probe=x)
    assert {c.artifact: c.status for c in checks} == dict.fromkeys(PLAIN, "ok"), checks
    assert all(c.rel_output <= 1e-5 for c in checks)  # float32 artifacts vs the float64 reference
    assert model_from_dict(json.loads((tmp_path / "spec.json").read_text())) == spec
    with np.load(tmp_path / "params.npz") as saved:
        assert all(np.array_equal(saved[k], v) for k, v in params.items())

    reference = _reference(spec, params, x)
    np.save(tmp_path / "x.npy", x.astype(np.int64 if spec.integer_inputs else np.float32))
    # sys.modules["netparity"] = None makes any import of netparity fail, even where it is installed
    code = ["import sys", "sys.modules['netparity'] = None", "import numpy as np", "x = np.load('x.npy')"]
    for i, snippet in enumerate(PLAIN.values()):
        code += [snippet, f"np.save('out{i}.npy', out)"]
    proc = subprocess.run(
        [sys.executable, "-c", "\n".join(code)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for i, artifact in enumerate(PLAIN):
        out = np.load(tmp_path / f"out{i}.npy")
        assert np.abs(out - reference).max() / np.abs(reference).max() <= 1e-5, artifact


def test_a_probe_that_differs_is_reported_as_a_mismatch(tmp_path: Path, monkeypatch) -> None:
    """The reload check compares with the reference, not with itself: change the reference's
    weights after writing and the artifacts no longer agree."""
    require("keras")
    from netparity import port

    spec = model_from_dict({"input_shape": [4], "layers": [{"type": "Dense", "units": 2}]})
    params = _params(spec)
    real = port._reference_outputs
    monkeypatch.setattr(port, "_reference_outputs", lambda s, p, x: real(s, p, x) * 1.01)
    checks = export(spec, params, tmp_path, frameworks=["keras"])
    assert checks[0].status == "mismatch" and "differ by" in checks[0].reason


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_torch_lenet_ported_to_keras(tmp_path: Path) -> None:
    """A LeNet trained a few steps in torch, imported and exported to Keras: Keras's float32
    predictions equal torch's to 1e-5 (normwise relative) and every class decision agrees."""
    require("keras")
    figures = _example("port_torch_lenet").port_to_keras(tmp_path, steps=5)
    assert figures["rel_diff"] <= 1e-5 and figures["reload_rel_diff"] <= 1e-5, figures
    assert figures["prediction_agreement"] == 1.0, figures


def test_example_keras_lstm_ported_to_torch(tmp_path: Path) -> None:
    require("torch")
    require("keras")
    figures = _example("port_keras_lstm").port_to_torch(tmp_path, epochs=1)
    assert figures["rel_diff"] <= 1e-5 and figures["reload_rel_diff"] <= 1e-5, figures
    assert figures["prediction_agreement"] == 1.0, figures
