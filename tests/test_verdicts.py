"""Verdicts you can trust (issue 11): no false mismatch where an exact value is zero, no false
pass when nothing was compared, every mismatch names its place, and the words agree with the
exit status."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require
from netparity.harness.diff import Diff, adaptive_amplification, dict_diff, zero_floor
from netparity.harness.run import BackendResult, RunConfig, RunResult, run, run_backend
from netparity.harness.verdict import combine, judge
from netparity.spec.files import custom_task

# ------------------------------------------------------------ arrays at rounding level


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_exact_zero_computed_as_noise_is_judged_against_its_kind(dtype: str) -> None:
    """The linear-regression repro: bias gradient exactly 0, backends return 7e-17 and 1e-16."""
    eps = float(np.finfo(dtype).eps)
    ref = {"0.dense.kernel": np.array([[0.8], [-1.2]]), "0.dense.bias": np.array([eps / 2])}
    got = {"0.dense.kernel": ref["0.dense.kernel"] * (1 + eps), "0.dense.bias": np.array([-eps])}
    tol = 1e-10 if dtype == "float64" else 1e-4
    assert not Diff.of(got["0.dense.bias"], ref["0.dense.bias"]).within(tol)  # alone: 3.0 relative
    worst, per = dict_diff(got, ref, zero_floor(dtype))
    assert worst.within(tol), worst
    assert per["0.dense.bias"].floored and not per["0.dense.kernel"].floored
    # an exactly-zero reference against noise was 'inf'
    assert Diff.of(np.array([4e-16]), np.array([0.0])).max_rel == np.inf
    assert Diff.of(np.array([4e-16]), np.array([0.0]), floor=zero_floor("float64")).within(1e-10)


@pytest.mark.parametrize(("dtype", "size"), [("float64", 1.0), ("float64", 1e-6), ("float32", 1.0), ("float32", 3e-3)])
def test_a_one_percent_error_is_still_caught_in_a_small_array(dtype: str, size: float) -> None:
    """Down to 2.8e-12 (float64) and 1.5e-3 (float32) of the largest array of its kind (harness.diff)."""
    tol = 1e-10 if dtype == "float64" else 1e-4
    ref = {"kernel": np.linspace(-1, 1, 12).reshape(3, 4), "bias": size * np.array([0.3, -1.0, 0.5, 0.2])}
    got = {**ref, "bias": ref["bias"] * np.array([1, 1.01, 1, 1])}
    worst, _ = dict_diff(got, ref, zero_floor(dtype))
    assert not worst.within(tol)
    assert worst.where == "bias[1]" and worst.value == pytest.approx(-1.01 * size)


def test_adaptive_amplification_is_bounded_by_the_floor() -> None:
    grads = {"a": np.array([1.0, -2.0]), "b": np.array([2e-3]), "c": np.array([1e-9]), "d": np.array([3e-16, 0])}
    amp = adaptive_amplification(grads, zero_floor("float64"), 1e-10)
    assert amp["a"] == 1.0 and amp["b"] == pytest.approx(1000.0)
    assert amp["c"] == pytest.approx(1 / zero_floor("float64"))  # capped at the floor
    assert amp["d"] == np.inf  # rounding noise: its trained value is not judged


def _spec(tmp_path: Path, layers: list, optimizer: dict, input_shape=(4,), epochs=2, loss="mse") -> Path:
    path = tmp_path / "spec.json"
    recipe = {"loss": loss, "optimizer": optimizer, "epochs": epochs, "batch_size": 32}
    path.write_text(json.dumps({"input_shape": list(input_shape), "layers": layers, "recipe": recipe}))
    return path


def _run(path: Path, backends=("numpy", "torch"), dtype="float64", data=None, target=None):
    task = custom_task(path, data, target, loss=None, seed=0)
    return run(task, list(backends), dtype=dtype, timing=False, runner=run_backend)


SGD = {"name": "sgd", "lr": 0.05}
ZERO_GRADIENT_MODELS = {
    "dense-batchnorm": ([{"type": "Dense", "units": 6}, {"type": "BatchNorm"}, {"type": "Dense", "units": 2}], (4,)),
    "conv-batchnorm": (
        [
            {"type": "Conv2D", "filters": 3, "kernel": 3},
            {"type": "BatchNorm"},
            {"type": "Flatten"},
            {"type": "Dense", "units": 2},
        ],
        (6, 6, 2),
    ),
    "layernorm-width-1": ([{"type": "Dense", "units": 1}, {"type": "LayerNorm"}, {"type": "Dense", "units": 2}], (4,)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("model", sorted(ZERO_GRADIENT_MODELS))
def test_models_with_exactly_zero_gradients_agree(tmp_path: Path, model: str, dtype: str) -> None:
    """Dense/Conv2D -> BatchNorm (the bias before it), LayerNorm over one feature: mismatch
    (0.6-1.6 relative, or inf) before issue 11."""
    require("torch")
    layers, shape = ZERO_GRADIENT_MODELS[model]
    result = _run(_spec(tmp_path, layers, SGD, shape), dtype=dtype)
    assert result.results["torch"].status == "ok", result.results["torch"].reason
    assert result.ok


def test_layernorm_over_two_features_trained_with_adam_agrees(tmp_path: Path) -> None:
    """Adam divides the pre-LayerNorm gradients' rounding noise by its own size: 2.7e-10
    (trained parameters) and 1.2e-10 (loss curve) before issue 11."""
    require("torch")
    layers = [{"type": "Dense", "units": 2}, {"type": "LayerNorm"}, {"type": "Dense", "units": 2}]
    spec = _spec(tmp_path, layers, {"name": "adam", "lr": 0.01}, epochs=5)
    result = _run(spec)
    assert result.results["torch"].status == "ok", result.results["torch"].reason
    amp = result.comparisons["torch"].amplification
    assert amp["0.dense.kernel"] > 100 and amp["2.dense.kernel"] == 1.0


@pytest.mark.parametrize("name", ["adamax", "nadam", "adadelta"])
def test_issue_15_adaptive_optimizers_get_the_noise_allowance(tmp_path: Path, name: str) -> None:
    """Found by `--fuzz 200 --fuzz-seed 1`: BatchNorm > BatchNorm on one feature, adamax with
    coupled weight decay. The first beta's exact gradient is 0; adamax divides its noise by
    epsilon and moved it 1e-11 differently per backend: a false mismatch (2.2e-7), since
    adamax, nadam and adadelta were missing from ADAPTIVE_OPTIMIZERS."""
    require("torch")
    layers = [{"type": "BatchNorm", "momentum": 0.99}, {"type": "BatchNorm", "momentum": 0.5}]
    optimizer = {"name": name, "lr": 0.01, "weight_decay": 0.01, "beta1": 0.8, "beta2": 0.99}
    if name == "adadelta":
        optimizer = {"name": name, "lr": 1.0, "weight_decay": 0.01}
    result = _run(_spec(tmp_path, layers, optimizer, (1,), epochs=2))
    assert result.results["torch"].status == "ok", result.results["torch"].reason
    assert math.isinf(result.comparisons["torch"].amplification["0.batch_norm.beta"])


def test_standardized_linear_regression_agrees(tmp_path: Path) -> None:
    """The issue's first repro: Dense(1) on a standardized CSV, 100 full-batch SGD steps."""
    require("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=x @ [1.0, 2.0, -1.0] + 0.5)
    frame.to_csv(tmp_path / "lin.csv", index=False)
    spec = tmp_path / "lin.json"
    recipe = {"loss": "mse", "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 100, "batch_size": 100}
    spec.write_text(json.dumps({"layers": [{"type": "Dense", "units": 1}], "recipe": recipe}))
    result = _run(spec, data=tmp_path / "lin.csv", target="y")
    assert result.results["torch"].status == "ok", result.results["torch"].reason
    assert abs(result.results["numpy"].grads["0.dense.bias"][0]) < 1e-14  # the exact value is 0


@pytest.fixture
def biased_torch_bias_gradient(monkeypatch: pytest.MonkeyPatch):
    """A test-only switch: torch's gradient of every ``*.bias`` parameter scaled by 1.01 (the
    reported gradient and every training step)."""
    require("torch")
    from netparity.backends.torch.model import TorchModel

    build = TorchModel.__init__

    def init(self, *args, **kwargs) -> None:
        build(self, *args, **kwargs)
        for b in self.bindings:
            if b.name.endswith(".bias") and b.trainable:
                b.native.register_hook(lambda g: g * 1.01)

    monkeypatch.setattr(TorchModel, "__init__", init)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamax"])
def test_a_one_percent_bias_gradient_error_is_caught(
    tmp_path: Path, biased_torch_bias_gradient, dtype: str, optimizer: str
) -> None:
    layers = [
        {"type": "Dense", "units": 6, "activation": "tanh", "bias_init": "normal:0.1"},
        {"type": "Dense", "units": 2},
    ]
    result = _run(_spec(tmp_path, layers, {"name": optimizer, "lr": 0.01}), dtype=dtype)
    torch = result.results["torch"]
    assert torch.status == "mismatch"
    # the place: the worst array and element, with both values
    assert "gradients differ by" in torch.reason and "worst at " in torch.reason and ".bias[" in torch.reason
    assert "torch " in torch.reason and "numpy " in torch.reason


def test_the_gradient_place_is_in_the_console_and_report(tmp_path: Path, biased_torch_bias_gradient) -> None:
    from netparity.harness.report import console_table, write_report

    layers = [{"type": "Dense", "units": 3, "bias_init": "normal:0.5"}, {"type": "Dense", "units": 2}]
    result = _run(_spec(tmp_path, layers, SGD))
    (tmp_path / "out").mkdir()
    tables = write_report(result, tmp_path / "out")
    reason = result.results["torch"].reason
    assert "worst at 1.dense.bias[" in reason or "worst at 0.dense.bias[" in reason
    assert reason in console_table(tables["summary"])
    assert reason in (tmp_path / "out" / "report.md").read_text()


# ------------------------------------------------------------ the verdict policy


def _result(named=(), explained=(), **statuses: str) -> RunResult:
    results = {n: BackendResult(n, status=s, reason=f"{n} {s}") for n, s in statuses.items()}
    return RunResult(None, "float64", "cpu", 0, "numpy", results, {}, named=named, explained=explained)


def test_a_run_that_compared_nothing_fails() -> None:
    v = judge(_result(numpy="ok", torch="skipped"))
    assert not v.passed and "nothing was compared" in v.headline and "only: numpy" in v.headline
    assert not judge(_result(numpy="ok")).passed
    assert not _result(numpy="ok", torch="skipped").ok


def test_a_named_backend_that_is_skipped_fails_the_run() -> None:
    assert judge(_result(numpy="ok", torch="ok", keras="skipped")).passed
    v = judge(_result(named=("numpy", "torch", "keras"), numpy="ok", torch="ok", keras="skipped"))
    assert not v.passed and "keras named but skipped" in v.headline


def test_without_named_backends_a_skip_is_counted() -> None:
    v = judge(_result(numpy="ok", torch="ok", tf="ok", keras="skipped"))
    assert v.passed and "compared 3 of 4" in v.headline and "keras skipped" in v.headline


def test_diverging_together_is_agreement_only_in_a_sweep() -> None:
    run_ = _result(numpy="diverged", torch="diverged", tf="diverged")
    sweep = run_.verdict(diverging_together_agrees=True)
    assert sweep.passed and sweep.outcomes["torch"].words == "diverged together (agreement)"
    assert not run_.ok  # a plain run whose training diverged has nothing to compare after training
    alone = _result(numpy="ok", torch="diverged").verdict(diverging_together_agrees=True)
    assert not alone.passed
    both = combine({"lr=0.1": judge(_result(numpy="ok", torch="ok")), "lr=1": sweep}, "rates")
    assert both.passed and "diverged together (agreement)" in both.headline


def test_native_defaults_words() -> None:
    v = judge(_result(explained=("keras",), numpy="ok", torch="ok", keras="mismatch"))
    assert v.passed and "differences explained by framework defaults" in v.headline
    assert not judge(_result(explained=("keras",), numpy="ok", torch="mismatch", keras="ok")).passed


def test_an_installed_framework_that_fails_to_import_is_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import netparity.backends as registry

    real = importlib.import_module

    def broken(name: str, *args, **kwargs):
        if name == "torch":
            raise ImportError("libtorch_cpu.so: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(registry.importlib, "import_module", broken)
    monkeypatch.setattr(registry, "installed_reason", lambda name: None)
    res = run_backend("torch", None, {}, RunConfig())
    assert res.status == "failed"
    assert "torch is installed but fails to import (ImportError: libtorch_cpu.so" in res.reason


# ------------------------------------------------------------ a known framework bug, reported


def test_keras_multi_head_attention_bias_bug_is_reported_at_its_layer(tmp_path: Path) -> None:
    """Keras 3.15.1: keras.ops.add takes MultiHeadAttention's (heads, 1) query/value bias for
    an NCHW bias_add when num_heads equals the sequence length, adding it along time
    (docs/semantics.md, "Issue 11"). Activations agree at the initial zero biases; the
    gradients of the attention layer do not, and the report names that layer."""
    require("keras")
    import keras
    import tensorflow as tf

    x = tf.zeros((1, 2, 2, 1), dtype=tf.float64)  # (batch, time, heads, per-head size 1)
    bias = tf.constant([[1.0], [2.0]], dtype=tf.float64)  # (heads, 1)
    added = keras.ops.add(x, bias).numpy()[0, :, :, 0]  # rows: time, columns: heads
    assert added.tolist() == [[1.0, 1.0], [2.0, 2.0]], "fixed in this Keras? update docs/semantics.md"

    layers = [{"type": "SelfAttention", "heads": 2, "causal": False}, {"type": "LastStep"}]
    result = _run(_spec(tmp_path, layers, SGD, input_shape=(2, 2)), backends=("numpy", "keras"))
    keras_result, c = result.results["keras"], result.comparisons["keras"]
    assert keras_result.status == "mismatch"
    assert all(d.within(1e-10) for _, _, d in c.layers)  # the activations agree
    assert c.first_divergent_layer == "0.self_attention (gradients)"
    assert keras_result.reason.startswith("activations agree but the gradients of layer 0.self_attention diverge")
    assert "worst at 0.self_attention.b" in keras_result.reason
