"""compare.py end to end, and bad usage: one clear line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from netparity.backends import BACKENDS, available_backends

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_regression_float64_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("--task", "regression", "--dtype", "float64", "--out", str(out), "--epochs", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.backend) == available_backends()
    assert (summary.status == "ok").all(), summary[["backend", "status", "reason"]]
    assert (summary.filter(like="max_rel").fillna(0) <= 1e-10).all().all()
    for col in [
        "backend",
        "status",
        "reference",
        "max_abs_output_diff",
        "max_rel_output_diff",
        "max_abs_grad_diff",
        "max_rel_grad_diff",
        "max_abs_param_diff",
        "final_loss",
        "test_mse",
        "test_mape",
    ]:
        assert col in summary.columns
    losses = pd.read_csv(out / "losses.csv")
    assert list(losses.columns) == ["backend", "epoch", "step", "loss", "lr"]
    for _, group in losses.groupby("backend"):  # the loss falls
        first, last = group.loss.iloc[:12].mean(), group.loss.iloc[-12:].mean()
        assert last < 0.8 * first
    timings = pd.read_csv(out / "timings.csv")
    assert {"build", "first_call", "forward", "train_step"} <= set(timings.phase)
    assert (timings.median_ms > 0).all()
    assert list(pd.read_csv(out / "outputs.csv").columns) == ["backend", "sample", "output", "value"]
    assert "ok" in proc.stdout and f"report: {out}" in proc.stdout
    # the same folder is never overwritten
    again = cli("--task", "regression", "--out", str(out), "--epochs", "1")
    assert again.returncode == 2 and "already holds a report" in again.stderr


def test_default_out_folder_is_fresh(tmp_path: Path) -> None:
    args = ("--task", "regression", "--backends", "numpy,torch", "--epochs", "1", "--no-timing", "--no-isolate")
    first, second = cli(*args, cwd=tmp_path), cli(*args, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    runs = sorted((tmp_path / "reports").iterdir())
    assert len(runs) == 2 and all((r / "summary.csv").exists() for r in runs)


def test_list() -> None:
    proc = cli("--list")
    assert proc.returncode == 0
    assert "regression" in proc.stdout
    for name in BACKENDS:
        assert name in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "nope"], "unknown task 'nope'"),
        (["--backends", "numpy,mxnet"], "unknown backend mxnet"),
        (["--dtype", "float16"], "unknown dtype 'float16'"),
        (["--reference", "caffe"], "unknown reference backend 'caffe'"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--epochs", "three"], "invalid int value"),
        (["--lr", "-1"], "lr must be a positive number"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = (
        cli(*args, "--backends", "numpy", "--out", str(tmp_path / "o"), "--no-timing")
        if "--backends" not in args
        else cli(*args, "--out", str(tmp_path / "o"))
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
