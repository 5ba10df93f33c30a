"""The command line's bring-your-own-model flags: --model FILE.py:NAME / FILE.keras, --input-shape,
--weights, --export, --export-trained; every run's params_initial.npz / params_trained.npz; and
one clear line with exit status 2 for each bad use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netparity.cli import build_parser, main
from netparity.testing import require

ROOT = Path(__file__).resolve().parents[1]

USER_MODEL = """
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 3 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


class Signal(nn.Module):
    # a 1-D signal model: NCW input (channels, length) straight into Conv1d, a GRU after it

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        h = F.relu(self.conv(x)).transpose(1, 2)
        out, _ = self.gru(h)
        return self.fc(out.mean(1))


def make_unsupported():
    return nn.Sequential(nn.Linear(4, 4), nn.PReLU())


not_a_model = 3
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_model.py"
    path.write_text(USER_MODEL)
    return path


@pytest.mark.slow
def test_torch_model_file_imports_runs_exports_and_certifies(tmp_path: Path, user_file: Path) -> None:
    for b in ("torch", "tf", "keras"):
        require(b)
    out, exported = tmp_path / "run", tmp_path / "export"
    proc = cli(
        *("--model", f"{user_file}:Net", "--input-shape", "1,8,10", "--loss", "cross_entropy"),
        *("--backends", "numpy,torch", "--no-isolate", "--no-timing", "--epochs", "1", "--dtype", "float64"),
        *("--out", str(out), "--export", str(exported), "--export-trained"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "imported Net" in proc.stdout and "input NCHW (1, 8, 10)" in proc.stdout
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["verdict"] == "parity" and cert["training_steps"] == 7
    assert cert["backends"]["torch"]["rel_grad"] <= 1e-10
    assert {a["artifact"]: a["status"] for a in cert["artifacts"]} == {
        "model.keras": "ok",
        "torch_model.pt2": "ok",
        "tf_savedmodel": "ok",
    }
    assert "## Parity certificate" in (out / "report.md").read_text()
    with np.load(out / "params_trained.npz") as trained, np.load(exported / "params.npz") as written:
        assert sorted(trained.files) == sorted(written.files)
        assert all(np.array_equal(trained[k], written[k]) for k in trained.files)  # --export-trained
    with np.load(out / "params_initial.npz") as initial, np.load(out / "params_trained.npz") as trained:
        assert any(not np.array_equal(initial[k], trained[k]) for k in initial.files)


@pytest.mark.slow
def test_keras_model_file_runs_on_every_backend(tmp_path: Path) -> None:
    require("keras")
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((6,), dtype="int64"), keras.layers.Embedding(12, 4), keras.layers.LSTM(5), keras.layers.Dense(3)]
    )
    model.save(tmp_path / "lstm.keras")
    out = tmp_path / "run"
    proc = cli(
        *("--model", str(tmp_path / "lstm.keras"), "--loss", "cross_entropy", "--no-timing", "--epochs", "1"),
        "--no-isolate",
        *("--dtype", "float64", "--out", str(out)),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["verdict"] == "parity" and cert["artifacts"] == []
    assert set(cert["backends"]) >= {"numpy", "torch", "tf", "keras"}


def test_weights_npz_starts_any_spec_from_given_parameters(tmp_path: Path) -> None:
    base = ("--spec", "examples/iris_mlp.yaml", "--data", "examples/iris.csv", "--target", "species")
    common = (*base, "--loss", "cross_entropy", "--backends", "numpy,torch", "--no-timing", "--epochs", "2")
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    first = tmp_path / "a" / "params_trained.npz"
    assert main([*common, "--out", str(tmp_path / "b"), "--weights", str(first)]) == 0
    with np.load(first) as a, np.load(tmp_path / "b" / "params_initial.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_help_says_that_model_runs_code() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "FILE.py is executed" in text and "only flag that runs code" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--model", "{dir}/nope.py:Net", "--input-shape", "1,8,10"], "no such file"),
        (["--model", "{file}:Missing", "--input-shape", "1,8,10"], "defines no 'Missing'"),
        (["--model", "{file}:not_a_model", "--input-shape", "4"], "'int' object is not callable"),
        (["--model", "{file}:Net"], "needs --input-shape"),
        (["--model", "{file}:Net", "--input-shape", "1,x,8"], "expected positive integers"),
        (["--model", "{file}:make_unsupported", "--input-shape", "4"], "module 1 (PReLU): no canonical layer"),
        (["--model", "{file}:Net", "--input-shape", "1,8,10", "--task", "regression"], "excludes --task"),
        (["--model", "{dir}/m.onnx"], "expected FILE.keras or FILE.py:NAME"),
        (["--model", "{dir}/missing.keras"], "--model"),
        (["--task", "regression", "--export-trained"], "--export-trained needs --export DIR"),
        (["--task", "regression", "--weights", "w.pt"], "goes with --model FILE.py:NAME"),
        (["--task", "regression", "--input-shape", "3"], "--input-shape applies to --model"),
        (["--task", "regression", "--weights", "{dir}/none.npz"], "no such file"),
    ],
)
def test_bad_uses_are_one_line_and_exit_2(tmp_path: Path, user_file: Path, capsys, args, says) -> None:
    if any("{file}" in a for a in args):
        require("torch")
    argv = [a.format(dir=tmp_path, file=user_file) for a in args]
    assert main([*argv, "--backends", "numpy", "--no-timing", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err


def test_data_columns_are_read_in_the_models_own_layout(tmp_path: Path) -> None:
    """--model with --data: a torch image model's CSV columns are in (C, H, W) order; the task
    holds them canonical (H, W, C)."""
    from netparity.spec.files import read_csv_data
    from netparity.spec.serialize import model_from_dict

    from netparity.port import task_for

    spec = model_from_dict({"input_shape": [3, 4, 2], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 1}]})
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(20, 2 * 3 * 4))
    header = ",".join(f"f{i}" for i in range(rows.shape[1])) + ",y"
    np.savetxt(tmp_path / "d.csv", np.c_[rows, rng.normal(size=20)], delimiter=",", header=header, comments="")
    task = task_for(spec, data=tmp_path / "d.csv", target="y", input_layout="NCHW")
    flat, _, _ = read_csv_data(tmp_path / "d.csv", "y", classification=False, seed=0)  # the same split
    expected = flat.x_train.reshape(-1, 2, 3, 4).transpose(0, 2, 3, 1)  # (C, H, W) columns -> NHWC
    np.testing.assert_array_equal(task.data.x_train, expected)
    assert not np.array_equal(task.data.x_train, flat.x_train.reshape(-1, 3, 4, 2))  # a plain reshape differs


def test_a_conv1d_model_takes_ncw_and_its_data_columns_are_channel_major(
    tmp_path: Path, user_file: Path, capsys
) -> None:
    """--model with a torch Conv1d model: --input-shape is (C, L), the model takes NCW; CSV
    columns are read in (C, L) order and transposed to the canonical (L, C)."""
    require("torch")
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(40, 2 * 6))
    header = ",".join(f"f{i}" for i in range(rows.shape[1])) + ",y"
    np.savetxt(tmp_path / "d.csv", np.c_[rows, rng.integers(0, 3, 40)], delimiter=",", header=header, comments="")
    argv = ["--model", f"{user_file}:Signal", "--input-shape", "2,6", "--loss", "cross_entropy"]
    argv += ["--data", str(tmp_path / "d.csv"), "--target", "y", "--backends", "numpy,torch", "--no-timing"]
    argv += ["--epochs", "1", "--dtype", "float64", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert "input NCW (2, 6)" in capsys.readouterr().out
    cert = json.loads((tmp_path / "out" / "certificate.json").read_text())
    assert cert["verdict"] == "parity" and cert["backends"]["torch"]["rel_grad"] <= 1e-10

    from netparity.spec.files import read_csv_data
    from netparity.spec.serialize import model_from_dict

    from netparity.port import task_for

    spec = model_from_dict({"input_shape": [6, 2], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 3}]})
    task = task_for(spec, data=tmp_path / "d.csv", target="y", loss="cross_entropy", input_layout="NCW")
    flat, _, _ = read_csv_data(tmp_path / "d.csv", "y", classification=True, seed=0)
    np.testing.assert_array_equal(task.data.x_train, flat.x_train.reshape(-1, 2, 6).transpose(0, 2, 1))
