"""A loss means one thing on every backend (issue 11, item 2): cross-entropy of the model's
output as given. Keras's own loss strips a final softmax; ``from_logits: false`` takes
probabilities; softmax twice is warned about; one output unit is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FRAMEWORK_BACKENDS, require
from netparity.spec.errors import SpecError
from netparity.spec.files import custom_task
from netparity.spec.recipe import Loss, Optimizer, Recipe, softmax_twice
from netparity.spec.serialize import model_from_dict, recipe_from_dict, recipe_to_dict

from netparity.testing import check_parity

ROOT = Path(__file__).resolve().parents[1]
SOFTMAX_MODEL = {
    "input_shape": [4],
    "layers": [
        {"type": "Dense", "units": 8, "activation": "tanh"},
        {"type": "Dense", "units": 3, "activation": "softmax"},
    ],
}


def test_the_object_form_of_a_loss() -> None:
    assert recipe_from_dict({"loss": "cross_entropy"}).loss == Loss("cross_entropy", from_logits=True)
    probs = recipe_from_dict({"loss": {"name": "cross_entropy", "from_logits": False}})
    assert probs.loss == Loss("cross_entropy", from_logits=False) and not probs.loss.from_logits
    assert probs.loss == "cross_entropy" and probs.loss.integer_targets  # compares with its name
    assert recipe_from_dict(recipe_to_dict(probs)) == probs
    assert recipe_to_dict(Recipe(loss="mse"))["loss"] == "mse"  # the plain form stays a name
    for bad, message in [
        ({"name": "mse", "from_logits": False}, "from_logits applies to bce and cross_entropy only"),
        ({"name": "hinge"}, "unknown loss 'hinge'"),
        ({"name": "cross_entropy", "from_logits": "no"}, "from_logits"),
        ({"name": "cross_entropy", "smoothing": 0.1}, "unknown field(s) smoothing"),
        (3, "loss must be a name or an object"),
    ]:
        with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
            recipe_from_dict({"loss": bad})


def test_numpy_cross_entropy_on_probabilities_matches_finite_differences() -> None:
    from netparity.backends.numpy.losses import cross_entropy_on_probabilities

    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 1.0, (5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    value, grad = cross_entropy_on_probabilities(p, labels)
    assert value == pytest.approx(np.mean(-np.log(p[np.arange(5), labels])), rel=1e-15)
    numeric = np.zeros_like(p)
    for idx in np.ndindex(p.shape):  # central differences
        step = np.zeros_like(p)
        step[idx] = 1e-6
        up, down = (
            cross_entropy_on_probabilities(p + step, labels)[0],
            cross_entropy_on_probabilities(p - step, labels)[0],
        )
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probabilities"])
@pytest.mark.parametrize("backend", FRAMEWORK_BACKENDS)
def test_cross_entropy_on_a_softmax_output_agrees(backend: str, from_logits: bool) -> None:
    """Keras's loss took the softmax's input as the logits: 2.6 relative on gradients."""
    require(backend)
    model = model_from_dict(SOFTMAX_MODEL)
    recipe = Recipe(Loss("cross_entropy", from_logits), Optimizer("sgd", lr=0.1), batch_size=8)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(24, 4)), rng.integers(0, 3, 24)
    check_parity(backend, model, recipe, x, y, dtype="float64", steps=6)


def test_softmax_twice_is_warned_and_probabilities_need_a_softmax(tmp_path: Path) -> None:
    model = model_from_dict(SOFTMAX_MODEL)
    assert "softmax is applied twice" in softmax_twice(model.layers, Loss("cross_entropy"))
    assert softmax_twice(model.layers, Loss("cross_entropy", from_logits=False)) == ""
    spec = {**SOFTMAX_MODEL, "layers": [{"type": "Dense", "units": 3}]}
    spec["recipe"] = {"loss": {"name": "cross_entropy", "from_logits": False}}
    (tmp_path / "p.json").write_text(json.dumps(spec))
    with pytest.raises(SpecError, match="from_logits false needs probabilities: end the model in softmax"):
        custom_task(tmp_path / "p.json", None, None, loss=None, seed=0)


def test_cross_entropy_with_one_output_unit_is_refused(tmp_path: Path) -> None:
    spec = {"input_shape": [4], "layers": [{"type": "Dense", "units": 1}], "recipe": {"loss": "cross_entropy"}}
    (tmp_path / "one.json").write_text(json.dumps(spec))
    with pytest.raises(SpecError, match="cross_entropy needs at least two output units"):
        custom_task(tmp_path / "one.json", None, None, loss=None, seed=0)


def test_the_cli_warns_on_stderr_and_in_report_md(tmp_path: Path) -> None:
    spec = {**SOFTMAX_MODEL, "recipe": {"loss": "cross_entropy", "epochs": 1}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    out = tmp_path / "run"
    args = ["--spec", str(tmp_path / "s.json"), "--backends", "numpy", "--no-timing", "--out", str(out)]
    proc = subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], capture_output=True, text=True, cwd=ROOT)
    assert "warning: the model ends in softmax and cross_entropy takes logits" in proc.stderr
    assert "softmax is applied twice" in (out / "report.md").read_text()
