"""Plots and terminal (issue 11, items 6-7): NaN never drawn as agreement, a colour-blind-safe
palette with a marker per backend, integer steps, plain milliseconds, no warnings, the verdict
first, --no-timing without an empty column, report.md's optimizer fields and model table, and
a sweep's own report."""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from netparity.harness import plots
from netparity.harness.markdown import optimizer_text, render_report
from netparity.harness.report import console_table, format_ms, frames
from netparity.harness.run import run, run_backend, with_overrides
from netparity.harness.verdict import Verdict, console_line
from netparity.spec.recipe import Optimizer
from netparity.spec.tasks import get_task


def test_nan_is_never_drawn_as_exact_agreement() -> None:
    shown = plots._shown(np.array([0.0, 1e-7, np.nan, np.inf]), floor=1e-12)
    assert shown[0] == 1e-12 and shown[1] == 1e-7  # exact 0 at the 'exact' floor
    assert np.isnan(shown[2]) and np.isnan(shown[3])  # a gap, not 'exact'


def test_palette_is_colour_blind_safe_with_a_marker_per_backend() -> None:
    okabe_ito = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}
    names = ["numpy", "torch", "tf", "keras", "jax", "other"]
    colors, markers = [plots._color(n) for n in names], [plots._marker(n) for n in names]
    assert set(colors) <= okabe_ito and len(set(colors)) == len(names)
    assert len(set(markers)) == len(names)


def _figure_of(monkeypatch: pytest.MonkeyPatch) -> list:
    saved = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig) or path)
    return saved


def test_loss_curves_have_integer_steps_and_no_warnings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    saved = _figure_of(monkeypatch)
    constant = pd.DataFrame(
        {"backend": ["numpy"] * 3 + ["torch"] * 3, "epoch": 0, "step": [0, 1, 2] * 2, "loss": [0.5] * 5 + [np.nan]}
    )
    layers = pd.DataFrame(
        {"backend": "torch", "layer_index": [0, 1], "layer": ["0.dense", "1.dense"], "max_abs_diff": [0.0, np.nan]}
        | {"max_rel_diff": [0.0, np.nan], "max_abs_grad_diff": [0.0, 1e-16], "max_rel_grad_diff": [0.0, 1e-16]}
    )
    tables = {"losses": constant, "layers": layers, "timings": pd.DataFrame(columns=["backend", "phase"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a matplotlib or NumPy warning fails this test
        plots.write_plots(tables, tmp_path, reference="numpy", tolerance=1e-10, trained_tolerance=1e-10)
    axes = saved[0].axes
    assert isinstance(axes[0].xaxis.get_major_locator(), MaxNLocator)
    assert axes[0].xaxis.get_major_locator()._integer


def test_plain_milliseconds() -> None:
    assert format_ms(1683.4) == "1683" and format_ms(12.41) == "12.4" and format_ms(0.3152) == "0.315"
    assert format_ms(float("nan")) == ""


def test_console_verdict_is_coloured_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    v = Verdict(False, "FAIL: torch mismatch (compared 2 of 2 backends against numpy)")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert console_line(v, io.StringIO()) == v.headline
    assert console_line(v, Tty()) == f"\033[1;31m{v.headline}\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert console_line(v, Tty()) == v.headline


@pytest.fixture(scope="module")
def short_run():
    task = with_overrides(get_task("regression").build(0), epochs=1)
    opt = Optimizer("adam", lr=0.003, epsilon=1e-4)
    task = dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, optimizer=opt))
    return run(task, ["numpy", "torch"], dtype="float64", timing=False, runner=run_backend)


def test_no_timing_drops_the_train_step_column(short_run) -> None:
    text = console_table(frames(short_run)["summary"])
    assert "train_step_ms" not in text and "rel_grad" in text


def test_report_md_shows_optimizer_fields_and_the_model_table(short_run) -> None:
    assert optimizer_text(short_run.task.recipe.optimizer) == "adam lr=0.003 epsilon=0.0001"
    md = render_report(short_run, frames(short_run), {})
    assert "adam lr=0.003 epsilon=0.0001" in md
    assert "| # | layer | spec | output shape | parameters |" in md
    assert "| 0 | 0.dense | Dense(64, activation=relu) | (64,) | 704 |" in md  # 10 x 64 + 64
    assert "train step ms" not in md


def test_a_sweep_point_where_every_backend_diverges_reads_as_agreement(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    args = ["--task", "roots", "--lr", "0.01,0.2", "--epochs", "40", "--backends", "numpy,torch", "--no-timing"]
    proc = subprocess.run(
        [sys.executable, str(root / "compare.py"), *args, "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr  # no NumPy overflow warnings from the diverging rate
    table = pd.read_csv(tmp_path / "s" / "campaign.csv")
    diverged = table[table.status == "diverged"]
    assert len(diverged) and set(diverged.verdict) == {"diverged together (agreement)"}
