"""Reports: per-layer divergence, failure isolation, atomic files, plots, report.md, and
custom --spec/--data runs end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import netparity.harness.report as report
import netparity.harness.run as harness_run
import numpy as np
import pandas as pd
import pytest
from netparity.backends import get_backend
from netparity.harness.progress import TrainingProgress, interactive
from netparity.harness.run import BackendResult, run, run_backend, with_overrides
from netparity.spec.files import custom_task
from netparity.spec.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
CSVS = ("summary", "losses", "outputs", "grads", "layers", "timings")


@pytest.fixture(scope="module")
def task():
    """The regression task, cut to two epochs so every test here stays fast."""
    return with_overrides(get_task("regression").build(0), epochs=2)


def numpy_as(name: str, tweak=None):
    """A runner that runs the NumPy backend but files the result under ``name`` (optionally
    tweaked): a second 'backend' without importing any framework."""

    def runner(backend: str, *args, **kwargs) -> BackendResult:
        res = run_backend("numpy", *args, **kwargs)
        if backend == name:
            res.backend = name
            if tweak:
                tweak(res)
        return res

    return runner


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------ per-layer divergence


def test_identical_backends_have_no_divergent_layer(task) -> None:
    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=numpy_as("torch"))
    tables = report.frames(result)
    assert result.results["torch"].status == "ok"
    assert tables["summary"].first_divergent_layer.fillna("").eq("").all()
    layers = tables["layers"]
    assert list(layers.columns[:5]) == ["backend", "layer_index", "layer", "max_abs_diff", "max_rel_diff"]
    assert list(layers.layer) == ["0.dense", "1.dense", "2.dense"]
    assert (layers.max_rel_diff == 0).all() and (layers.max_rel_grad_diff == 0).all()


def test_first_divergent_layer_is_named(task) -> None:
    def perturb_from_layer_1(res: BackendResult) -> None:  # layer 1 goes wrong, and so does all after it
        res.activations = [a if i < 1 else a * (1 + 1e-6) for i, a in enumerate(res.activations)]

    result = run(
        task, ["numpy", "torch"], dtype="float64", timing=False, runner=numpy_as("torch", perturb_from_layer_1)
    )
    tables = report.frames(result)
    row = tables["summary"].set_index("backend").loc["torch"]
    assert row.first_divergent_layer == "1.dense"
    layers = tables["layers"].set_index("layer")
    assert layers.loc["0.dense", "max_rel_diff"] == 0
    assert 1e-7 < layers.loc["1.dense", "max_rel_diff"] < 1e-5
    assert layers.loc["2.dense", "max_rel_diff"] > 1e-10


def test_layer_gradient_divergence_is_reported_per_layer(task) -> None:
    def perturb_grad(res: BackendResult) -> None:
        res.grads["2.dense.kernel"] = res.grads["2.dense.kernel"] * (1 + 1e-3)

    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=numpy_as("torch", perturb_grad))
    assert result.results["torch"].status == "mismatch"
    assert "gradients differ" in result.results["torch"].reason
    layers = report.frames(result)["layers"].set_index("layer")
    assert layers.loc["0.dense", "max_rel_grad_diff"] == 0
    assert layers.loc["2.dense", "max_rel_grad_diff"] == pytest.approx(1e-3, rel=1e-6)


# ------------------------------------------------------------ failure isolation


class Exploding:
    """The NumPy backend, except that ``build`` or the ``step``-th train step raises."""

    name = "torch"

    def __init__(self, *, in_build: bool = False, step: int = 3) -> None:
        self.real, self.in_build, self.step = get_backend("numpy"), in_build, step

    def unavailable(self) -> str | None:
        return None

    def set_threads(self, n: int) -> str:
        return self.real.set_threads(n) if hasattr(self.real, "set_threads") else ""

    def build(self, *args, **kwargs):
        if self.in_build:
            raise RuntimeError("simulated framework crash in build")
        model = self.real.build(*args, **kwargs)
        calls = {"n": 0}
        real_step = model.train_step

        def train_step(batch):
            calls["n"] += 1
            if calls["n"] == self.step:
                raise FloatingPointError("simulated crash in train_step")
            return real_step(batch)

        model.train_step = train_step
        return model


def with_fake_torch(monkeypatch: pytest.MonkeyPatch, fake: Exploding) -> None:
    real = harness_run.get_backend
    monkeypatch.setattr(harness_run, "get_backend", lambda name: fake if name == "torch" else real(name))


@pytest.mark.parametrize(
    ("fake", "reason"),
    [
        (Exploding(in_build=True), "RuntimeError: simulated framework crash in build"),
        (Exploding(step=3), "FloatingPointError: simulated crash in train_step"),
    ],
    ids=["build", "train_step"],
)
def test_a_crashing_backend_fails_alone_and_everything_is_written(
    task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: Exploding, reason: str
) -> None:
    with_fake_torch(monkeypatch, fake)
    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=run_backend)
    assert result.results["torch"].status == "failed"
    assert result.results["torch"].reason == reason
    assert result.results["numpy"].status == "ok" and not result.ok

    tables = report.write_report(result, tmp_path)
    for name in CSVS:
        assert (tmp_path / f"{name}.csv").exists(), name
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("backend")
    assert summary.loc["torch", "status"] == "failed" and summary.loc["torch", "reason"] == reason
    assert summary.loc["numpy", "status"] == "ok" and summary.loc["numpy", "final_loss"] > 0
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert (losses.backend == "numpy").sum() == len(tables["losses"][tables["losses"].backend == "numpy"]) > 0
    assert (losses.backend == "torch").sum() == (0 if fake.in_build else fake.step - 1)
    md = (tmp_path / "report.md").read_text()
    assert "FAIL" in md and reason in md
    assert "<summary>torch: traceback</summary>" in md and ("in build" in md or "in train_step" in md)


@pytest.mark.parametrize("required", [False, True], ids=["optional", "required"])
def test_a_framework_that_fails_to_import_is_skipped_or_failed(
    task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, required: bool
) -> None:
    from netparity.backends import REQUIRE_ENV, BackendUnavailable

    real = harness_run.get_backend

    def get_backend(name: str):
        if name == "torch":
            raise BackendUnavailable("torch: PyTorch is not installed or failed to import (ImportError: libtorch.so)")
        return real(name)

    monkeypatch.setattr(harness_run, "get_backend", get_backend)
    if required:
        monkeypatch.setenv(REQUIRE_ENV, "torch")
    else:
        monkeypatch.delenv(REQUIRE_ENV, raising=False)
    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=run_backend)
    torch = result.results["torch"]
    assert torch.status == ("failed" if required else "skipped")
    assert "ImportError: libtorch.so" in torch.reason
    assert not result.ok  # named and skipped (or required): the run compared nothing
    report.write_report(result, tmp_path)
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("backend")
    assert summary.loc["numpy", "status"] == "ok" and summary.loc["torch", "status"] == torch.status


def test_a_huge_learning_rate_diverges_and_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("--backends", "numpy", "--lr", "1e6", "--epochs", "2", "--no-timing", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["diverged"]
    assert summary.reason[0].startswith("loss became")
    losses = pd.read_csv(out / "losses.csv")
    assert not np.isfinite(losses.loss.iloc[-1])  # the step that blew up is recorded
    assert "diverged" in (out / "report.md").read_text()
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_reference_that_does_not_run_leaves_the_others_unverified(
    task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def runner(name: str, *args, **kwargs) -> BackendResult:
        if name == "numpy":
            return BackendResult("numpy", status="failed", reason="RuntimeError: reference crashed")
        return numpy_as("torch")(name, *args, **kwargs)

    result = run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=runner)
    assert result.results["torch"].status == "unverified"
    assert "reference backend numpy did not run" in result.results["torch"].reason
    assert not result.ok
    report.write_report(result, tmp_path)
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("backend")
    assert summary.loc["torch", "final_loss"] > 0  # its own results are still there
    assert "unverified" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------ atomic writing


def test_summary_is_written_last_and_atomically(task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(task, ["numpy"], dtype="float64", timing=False, runner=run_backend)
    order: list[str] = []
    real = report.atomic_write
    monkeypatch.setattr(report, "atomic_write", lambda path, text: (order.append(Path(path).name), real(path, text)))
    report.write_report(result, tmp_path)
    assert order[-1] == "summary.csv"
    assert {"report.md", "spec.json", *(f"{n}.csv" for n in CSVS)} <= set(order)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind
    mask = os.umask(0)
    os.umask(mask)
    for path in tmp_path.iterdir():  # readable like any file the user writes (mkstemp would give 0600)
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.csv"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_plotting_failure_costs_only_the_plots(task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import netparity.harness.plots

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(netparity.harness.plots, "write_plots", broken)
    result = run(task, ["numpy"], dtype="float64", timing=False, runner=run_backend)
    report.write_report(result, tmp_path)
    assert (tmp_path / "summary.csv").exists()
    assert "plots could not be drawn: RuntimeError: no fonts" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------ plots and report.md


def test_report_md_and_plots(task, tmp_path: Path) -> None:
    def perturb(res: BackendResult) -> None:
        res.activations = [a if i < 2 else a + 1.0 for i, a in enumerate(res.activations)]

    result = run(task, ["numpy", "torch"], dtype="float64", timing=True, runner=numpy_as("torch", perturb))
    report.write_report(result, tmp_path, extra={"defaults": "aligned", "nested": {"not": "shown"}})
    for png in ("loss_curves.png", "layers.png", "timings.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    md = (tmp_path / "report.md").read_text()
    lines = md.splitlines()
    assert lines[0] == "# netparity: regression, float64"
    assert "PASS:" not in md and "**❌ FAIL: torch mismatch (compared 2 of 2 backends against numpy)**" in md
    assert "## Summary" in md and "| torch | ❌ mismatch |" in md
    assert "| 2 | 2.dense | **" in md  # the divergent layer is flagged in the per-layer table
    assert "| 0 | 0.dense | 0.00e+00 | 0.00e+00 |" in md
    for png in ("loss_curves.png", "layers.png", "timings.png"):
        assert f"]({png})" in md
    assert "numpy SGD" in md  # what ran per backend
    assert "| train_step |" in md  # timing table with spread
    assert "- `layers.csv`: per-layer differences" in md and "- `summary.csv`" in md
    assert "| defaults | aligned |" in md and "nested" not in md  # simple extras join the run facts


def test_progress_bar_only_on_an_interactive_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert interactive(Tty())
    assert not interactive(open(os.devnull, "w"))
    monkeypatch.setenv("CI", "true")
    assert not interactive(Tty())
    quiet = TrainingProgress(enabled=False)
    quiet("numpy", 1, 10)  # draws nothing, holds no bar
    assert quiet._bar is None


# ------------------------------------------------------------ your own model and data

SPEC = {
    "input_shape": [4],
    "layers": [{"type": "Dense", "units": 8, "activation": "tanh"}, {"type": "Dense", "units": 3}],
    "recipe": {"loss": "cross_entropy", "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 2, "batch_size": 16},
}


def iris_csv(path: Path) -> Path:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns={"target": "species"})
    frame["species"] = frame.species.map(dict(enumerate(data.target_names)))
    frame.to_csv(path, index=False)
    return path


def test_json_and_yaml_specs_give_the_same_task(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "m.json").write_text(json.dumps(SPEC))
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(SPEC))
    a = custom_task(tmp_path / "m.json", None, None, loss=None, seed=3)
    b = custom_task(tmp_path / "m.yaml", None, None, loss=None, seed=3)
    assert a.model == b.model and a.recipe == b.recipe and a.kind == "classification"
    assert a.recipe.shuffle_seed == 3 and a.recipe.optimizer.lr == 0.1
    np.testing.assert_array_equal(a.data.x_train, b.data.x_train)
    assert a.data.y_train.dtype == np.int64 and set(np.unique(a.data.y_train)) <= {0, 1, 2}


def test_csv_regression_split_is_seeded_and_standardized(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)) * [1, 10, 100] + [0, 5, -7], columns=["a", "b", "c"])
    frame["y"] = frame.a * 2 + 30
    frame.to_csv(tmp_path / "d.csv", index=False)
    t1 = custom_task(None, tmp_path / "d.csv", "y", loss=None, seed=1)
    t2 = custom_task(None, tmp_path / "d.csv", "y", loss=None, seed=1)
    t3 = custom_task(None, tmp_path / "d.csv", "y", loss=None, seed=2)
    np.testing.assert_array_equal(t1.data.x_train, t2.data.x_train)
    assert not np.array_equal(t1.data.x_train, t3.data.x_train)
    assert (len(t1.data.x_train), len(t1.data.x_test)) == (40, 10)
    np.testing.assert_allclose(t1.data.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(t1.data.x_train.std(axis=0), 1, atol=1e-12)
    assert t1.model.input_shape == (3,) and t1.model.output_shape == (1,)  # the default MLP
    back = t1.data.y_test * t1.data.y_scale + t1.data.y_shift  # targets map back to their units
    np.testing.assert_allclose(np.sort(back.ravel()), np.sort(frame.y.to_numpy()[np.isin(frame.y, back)]))


def test_custom_run_through_the_cli(tmp_path: Path) -> None:
    spec = dict(SPEC)
    del spec["input_shape"]  # implied by the CSV's four feature columns
    (tmp_path / "m.json").write_text(json.dumps(spec))
    out = tmp_path / "run"
    proc = cli(
        "--spec", str(tmp_path / "m.json"), "--data", str(iris_csv(tmp_path / "iris.csv")), "--target", "species",
        "--backends", "numpy,torch", "--dtype", "float64", "--no-timing", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["ok", "ok"]
    assert {"test_accuracy", "test_loss"} <= set(summary.columns)
    stored = json.loads((out / "spec.json").read_text())
    assert stored["task"] == "custom-iris"
    assert stored["model"]["input_shape"] == [4]
    assert [x["units"] for x in stored["model"]["layers"]] == [8, 3]
    assert stored["recipe"]["loss"] == "cross_entropy" and stored["recipe"]["optimizer"]["lr"] == 0.1
    assert (out / "report.md").exists()
    # the stored spec is complete: it rebuilds the same model
    from netparity.spec.serialize import model_from_dict

    assert (
        model_from_dict(stored["model"])
        == custom_task(tmp_path / "m.json", tmp_path / "iris.csv", "species", loss=None, seed=0).model
    )


def test_a_recipe_field_left_out_keeps_its_default(tmp_path: Path) -> None:
    spec = {**SPEC, "recipe": {"optimizer": {"name": "adam", "lr": 0.01}}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    task = custom_task(tmp_path / "m.json", None, None, loss="cross_entropy", seed=0)
    default = dataclasses.replace(task.recipe.optimizer, lr=0.01)
    assert task.recipe.optimizer == default and task.recipe.optimizer.beta2 == 0.999
    assert task.recipe.loss == "cross_entropy" and task.recipe.epochs == 10


def test_the_readme_example_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli(
        "--spec", "examples/iris_mlp.yaml", "--data", "examples/iris.csv", "--target", "species",
        "--backends", "numpy,torch", "--epochs", "2", "--no-timing", "--no-isolate", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["ok", "ok"] and summary.test_accuracy[0] > 0.5
    assert "task custom-iris" in proc.stdout


def test_stand_in_data_fits_token_and_image_models(tmp_path: Path) -> None:
    import yaml

    tokens = {"input_shape": [6], "layers": [{"type": "Embedding", "vocab": 20, "dim": 4}, {"type": "LastStep"},
                                             {"type": "Dense", "units": 3}]}  # fmt: skip
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(tokens))
    task = custom_task(tmp_path / "t.yaml", None, None, loss="cross_entropy", seed=0)
    assert task.data.x_train.dtype.kind == "i" and 0 <= task.data.x_train.min() and task.data.x_train.max() < 20
    assert task.data.x_train.shape[1:] == (6,) and set(np.unique(task.data.y_train)) <= {0, 1, 2}

    image = {"input_shape": [5, 5, 2], "layers": [{"type": "Conv2D", "filters": 2, "kernel": 3}]}
    (tmp_path / "i.json").write_text(json.dumps(image))
    task = custom_task(tmp_path / "i.json", None, None, loss=None, seed=0)
    assert task.kind == "regression" and task.data.y_train.shape[1:] == (3, 3, 2)  # mse on the whole feature map
    result = run(task, ["numpy"], dtype="float64", timing=False, runner=run_backend)
    assert result.results["numpy"].status == "ok", result.results["numpy"].reason
