"""The library API: netparity.compare / Result / load_spec / tasks, assert_parity, your own
NumPy layer, and run folders that re-run exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from netparity.backends import BACKENDS
from netparity.spec import layers as L
from netparity.spec.errors import SpecError

import netparity
from netparity.testing import NpLayer, assert_parity, gradcheck_layer, numpy_layer, require

ROOT = Path(__file__).resolve().parents[1]
MLP = {
    "layers": [{"type": "Dense", "units": 8, "activation": "tanh"}, {"type": "Dense", "units": 1}],
    "recipe": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
}


def xy(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    return x, np.tanh(x @ rng.normal(size=5))


def test_import_netparity_imports_no_framework() -> None:
    code = (
        "import sys, netparity; netparity.tasks(); netparity.load_spec;"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_tasks_and_load_spec(tmp_path: Path) -> None:
    assert "regression" in netparity.tasks()
    path = tmp_path / "m.yaml"
    path.write_text("input_shape: [5]\nlayers:\n  - {type: Dense, units: 3, activation: relu}\n")
    spec = netparity.load_spec(path)
    assert spec.input_shape == (5,) and spec.layers == (L.Dense(3, "relu"),)
    with pytest.raises(SpecError, match="no such file"):
        netparity.load_spec(tmp_path / "missing.json")


def test_compare_arrays_result_and_saved_folder(tmp_path: Path) -> None:
    require("torch")
    res = netparity.compare(MLP, xy(), backends=["numpy", "torch"], dtype="float64")
    assert res.ok
    res.assert_ok()
    assert list(res.summary.backend) == ["numpy", "torch"]
    assert res.summary.max_rel_param_diff.max() <= 1e-10
    assert set(res.losses.backend) == {"numpy", "torch"} and len(res.losses) == 2 * 3 * 6  # 96 rows / 16
    assert {"layer", "max_rel_diff"} <= set(res.layers.columns)
    assert res.timings.phase.tolist().count("build") == 2  # no timing runs by default: build and first call
    for text in (repr(res), res._repr_html_()):
        assert "array(" not in text and "[[" not in text
    assert repr(res).startswith("<netparity.Result ok: custom, float64")
    assert "<table" in res._repr_html_()

    folder = res.save(tmp_path / "run")
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary.columns) == list(res.summary.columns)
    results = json.loads((folder / "results.json").read_text())
    assert results["ok"] is True and [r["backend"] for r in results["backends"]] == ["numpy", "torch"]
    assert results["backends"][1]["max_rel_param_diff"] == pytest.approx(res.summary.max_rel_param_diff[1], rel=1e-15)
    meta = json.loads((folder / "spec.json").read_text())
    env = meta["environment"]
    assert {"python", "numpy", "torch"} <= set(env["versions"]) and env["blas"] and env["cpu"] and env["os"]
    assert (folder / "data.npz").exists() and meta["rerun"]["source"] == {"kind": "file"}
    assert "## Environment" in (folder / "report.md").read_text()
    with pytest.raises(SpecError, match="already holds a report"):
        res.save(folder)


def test_rerun_reproduces_a_saved_api_run_bit_for_bit(tmp_path: Path, capsys) -> None:
    from netparity.cli import main

    # two backends: a run that compared nothing does not pass (harness.verdict)
    first = netparity.compare(MLP, xy(), backends=["numpy", "torch"], dtype="float32", out=tmp_path / "a")
    assert first.ok
    assert main(["--rerun", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    assert "loss trajectories identical to the original bit for bit: numpy" in capsys.readouterr().out
    a, b = (pd.read_csv(tmp_path / d / "losses.csv") for d in "ab")
    assert a.equals(b)
    # --spec RUN/spec.json is the same rerun
    assert main(["--spec", str(tmp_path / "a" / "spec.json"), "--out", str(tmp_path / "c")]) == 0
    # changed data are refused rather than silently re-run on something else
    np.savez(tmp_path / "a" / "data.npz", x_train=np.zeros((3, 5)), y_train=np.zeros((3, 1)),
             x_test=np.zeros((2, 5)), y_test=np.zeros((2, 1)), scaling=np.array([0.0, 1.0]))  # fmt: skip
    assert main(["--rerun", str(tmp_path / "a"), "--out", str(tmp_path / "d")]) == 2
    assert "sha256 differs" in capsys.readouterr().err


def test_dataframe_and_csv_give_the_same_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["label"] = np.where(frame.a + frame.b > 0, "yes", "no")
    frame.to_csv(tmp_path / "d.csv", index=False)
    model = {"layers": [{"type": "Dense", "units": 2}], "recipe": {"loss": "cross_entropy", "epochs": 2}}
    from_frame = netparity.compare(model, frame, target="label", backends=["numpy"], dtype="float64")
    from_csv = netparity.compare(model, tmp_path / "d.csv", target="label", backends=["numpy"], dtype="float64")
    assert from_frame.summary.final_loss[0] == from_csv.summary.final_loss[0]
    assert from_csv.run.task.name == "custom-d" and from_csv.run.task.kind == "classification"
    with pytest.raises(SpecError, match="target="):
        netparity.compare(model, frame, backends=["numpy"])


def test_bad_api_input_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpecError, match="exists and is not a folder"):  # before any training
        netparity.compare("regression", backends=["numpy"], out=tmp_path / "file")
    with pytest.raises(SpecError, match="expected a task name"):
        netparity.compare(42)
    with pytest.raises(SpecError, match="unknown dtype"):
        netparity.compare("regression", dtype="float16")
    with pytest.raises(SpecError, match="unknown backend"):
        netparity.compare("regression", backends=["numpy", "mxnet"])
    with pytest.raises(SpecError, match="X has 10 rows but y has 9"):
        netparity.compare(MLP, (np.zeros((10, 5)), np.zeros(9)), backends=["numpy"])
    with pytest.raises(SpecError, match="does not match the data's feature shape"):
        netparity.compare({**MLP, "input_shape": [4]}, xy(), backends=["numpy"])


def test_the_api_applies_the_command_lines_limits(tmp_path: Path) -> None:
    """Seeds, threads and the memory estimate are the command line's own checks (spec.limits)."""
    with pytest.raises(SpecError, match=r"seed must be an integer from 0 to 4294967295"):
        netparity.compare("regression", backends=["numpy"], seed=2**32)
    with pytest.raises(SpecError, match="--threads must be from 1 to"):
        netparity.compare("regression", backends=["numpy"], threads=10_000)
    huge = {"input_shape": [10_000_000], "layers": [{"type": "Dense", "units": 1}]}
    with pytest.raises(SpecError, match=r"the run needs about .* of memory"):  # before drawing the data
        netparity.compare(huge, backends=["numpy"])
    x, y = xy()
    frame = pd.DataFrame(np.c_[x[:, :2], y], columns=["a", "a", "y"])
    with pytest.raises(SpecError, match="the header repeats the column name"):
        netparity.compare(MLP, frame, target="y", backends=["numpy"])


def test_a_saved_folder_is_held_like_a_command_line_run(tmp_path: Path, capsys) -> None:
    from netparity.harness.report import RUNNING

    from netparity.cli import main

    res = netparity.compare(MLP, xy(), backends=["numpy"], dtype="float64")
    folder = res.save(tmp_path / "a")
    assert (folder / "summary.csv").exists() and not (folder / RUNNING).exists()
    with pytest.raises(SpecError, match="already holds a report"):
        res.save(tmp_path / "a")
    (folder / RUNNING).write_text('{"pid": 1, "started": "then"}')  # a run killed mid-way
    assert main(["--rerun", str(folder), "--out", str(tmp_path / "b")]) == 2
    assert "holds an unfinished run (pid 1, started then; stopped before it finished)" in capsys.readouterr().err


# ------------------------------------------------------------------ your own NumPy layer


class MyDense(NpLayer):
    """y = act(x @ W + b) written from scratch: what a student would hand in."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x
        return self.activate(x @ self.params["kernel"] + self.params["bias"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dz = self.activation_grad(dy)
        self.grads["kernel"] = self.x.T @ dz  # a new array: numpy_layer copies it into place
        self.grads["bias"] = dz.sum(axis=0)
        return dz @ self.params["kernel"].T


class WrongBiasDense(MyDense):
    """The classic mistake: the bias gradient averaged over the batch instead of summed."""

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = super().backward(dy)
        self.grads["bias"] = self.grads["bias"] / len(dy)
        return dx


def test_own_numpy_layer_passes_gradcheck_and_matches_torch() -> None:
    require("torch")
    from netparity.backends.numpy.layers import REGISTRY

    builtin = REGISTRY.builders[L.Dense]
    with numpy_layer(L.Dense, MyDense):
        assert REGISTRY.builders[L.Dense] is not builtin
        gradcheck_layer(L.Dense(4, "tanh"), (3,))
        res = assert_parity(MLP, xy(), backends=["torch"])
        assert res.run.results["numpy"].implementation["layers"] == "hand-written NumPy"
    assert REGISTRY.builders[L.Dense] is builtin


def test_wrong_backward_is_caught_with_the_worst_array_and_element() -> None:
    require("torch")
    with numpy_layer(L.Dense, WrongBiasDense):
        with pytest.raises(AssertionError, match=r"dbias.*: analytic"):
            gradcheck_layer(L.Dense(4, "tanh"), (3,))
        with pytest.raises(AssertionError) as err:
            assert_parity(MLP, xy(), backends=["torch"])
    message = str(err.value)
    assert "torch: mismatch" in message
    assert "Worst array: gradient of " in message and ".dense.bias" in message
    assert "Greatest absolute difference" in message and "at index (" in message


@pytest.mark.parametrize("flag", ["--list", "--help", "--version"])
def test_fast_flags_import_no_framework(flag: str) -> None:
    code = (
        "import sys\nfrom netparity.cli import main\n"
        f"try:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
        "print('loaded:', sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "loaded: []"
    if flag == "--list":
        for name in BACKENDS:
            assert f"\n  {name:<16}" in proc.stdout


@pytest.mark.parametrize("source", ["task", "csv", "synthetic"])
def test_rerun_of_command_line_runs(source: str, tmp_path: Path, capsys) -> None:
    """Every data source the command line records re-runs to the same losses bit for bit."""
    from netparity.cli import main

    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"input_shape": [4], **MLP}))
    args = {
        "task": ["--task", "roots", "--poly", "1,-3,2", "--epochs", "30"],
        "csv": ["--spec", str(ROOT / "examples" / "iris_mlp.yaml"), "--data", str(ROOT / "examples" / "iris.csv"),
                "--target", "species", "--epochs", "2"],
        "synthetic": ["--spec", str(spec), "--lr", "0.02"],
    }[source]  # fmt: skip
    common = ["--backends", "numpy,torch", "--no-timing", "--seed", "3"]  # two: a run must compare something
    assert main([*args, *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["--rerun", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    assert "identical to the original bit for bit: numpy" in capsys.readouterr().out
    before, after = (json.loads((tmp_path / d / "spec.json").read_text()) for d in "ab")
    assert after["model"] == before["model"] and after["recipe"] == before["recipe"] and after["seed"] == 3
    assert after["rerun"]["source"] == before["rerun"]["source"]
    assert before["rerun"]["source"]["kind"] == source
