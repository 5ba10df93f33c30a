"""Timing methodology: warm-up kept out of the samples, robust statistics, FLOP counts from
the spec, per-backend subprocesses (a crash loses only that backend), equal thread counts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from netparity.harness.isolate import run_isolated
from netparity.harness.run import BackendResult, RunConfig, run, run_backend, with_overrides
from netparity.harness.timing import Timing, repeat
from netparity.spec import layers as L
from netparity.spec.flops import forward_flops, train_flops
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.tasks import get_task


def test_statistics_from_samples() -> None:
    t = Timing.from_samples("x", [0.001, 0.002, 0.003, 0.004, 0.100])
    assert t.median_ms == pytest.approx(3.0)
    assert t.p10_ms == pytest.approx(1.4)
    assert t.p90_ms == pytest.approx(61.6)
    ms = np.array([1, 2, 3, 4, 100.0])
    assert t.cv == pytest.approx(ms.std() / ms.mean())
    assert t.repeats == 5


def test_warmup_is_not_timed_and_repeats_are_bounded() -> None:
    calls = []
    t = repeat("p", lambda: calls.append(1), warmup=4, min_repeats=7, max_repeats=9, budget_s=0.0)
    assert t.repeats == 7 and len(calls) == 4 + 7
    t = repeat("p", lambda: None, warmup=0, min_repeats=1, max_repeats=25, budget_s=10.0)
    assert t.repeats == 25


def test_gflops_from_work() -> None:
    t = Timing("train_step", 2.0, 1.0, 3.0, 10).with_work(4_000_000, peak_rss_mb=12.5)
    assert t.gflops == pytest.approx(2.0)  # 4e6 FLOPs in 2 ms
    assert t.peak_rss_mb == 12.5


def test_flop_counts() -> None:
    mlp = ModelSpec((10,), (L.Dense(64, "relu"), L.Dense(1)))
    assert forward_flops(mlp, 32) == 32 * 2 * (10 * 64 + 64 * 1)
    assert train_flops(mlp, 32) == 3 * forward_flops(mlp, 32)
    conv = ModelSpec((8, 8, 3), (L.Conv2D(4, 3, padding="same"), L.MaxPool2D(2), L.Flatten(), L.Dense(2)))
    assert forward_flops(conv, 1) == 2 * 8 * 8 * 3 * 3 * 3 * 4 + 2 * 64 * 2
    seq = ModelSpec((5, 6), (L.LSTM(7), L.Dense(3)))
    assert forward_flops(seq, 1) == 2 * 5 * (6 + 7) * 28 + 2 * 7 * 3
    att = ModelSpec((5, 8), (L.Residual((L.SelfAttention(2),)),))
    assert forward_flops(att, 1) == 8 * 5 * 64 + 4 * 25 * 8


def _crash(name: str, *args: object, **kwargs: object) -> BackendResult:
    os._exit(3)  # a framework dying hard (segfault, OOM kill) takes its process with it


def test_isolated_backend_runs_in_its_own_process() -> None:
    task = with_overrides(get_task("regression").build(0), epochs=1)
    result = run(task, ["numpy"], dtype="float64", isolate=True, threads=1, timing=True)
    res = result.results["numpy"]
    assert res.status == "ok", res.reason
    assert "BLAS threads=1" in res.implementation["threads"]
    phases = [t.phase for t in res.timings]
    assert phases[:3] == ["import", "build", "first_call"]
    assert {"first_train_step", "forward", "train_step", "epoch"} <= set(phases)
    assert all(t.peak_rss_mb > 10 for t in res.timings)
    step = next(t for t in res.timings if t.phase == "train_step")
    assert step.gflops > 0 and step.repeats >= 10


def test_a_crashing_backend_loses_only_itself() -> None:
    res = run_isolated("numpy", None, None, RunConfig(dtype="float64"), target=_crash)
    assert res.status == "failed" and "process died" in res.reason


def test_the_timing_budget_bounds_the_repeats() -> None:
    """RunConfig.timing_budget_s: a budget of ~0 stops every repeated phase at its minimum
    (10 calls, 3 epochs); the default lets a fast phase run on to its cap (200)."""
    task = with_overrides(get_task("regression").build(0), epochs=1)
    params = init_params(task.model, 0)
    phases = {}
    for budget in (1e-9, RunConfig().timing_budget_s):
        res = run_backend("numpy", task, params, RunConfig(dtype="float64", timing_budget_s=budget))
        phases[budget] = {t.phase: t.repeats for t in res.timings}
    assert phases[1e-9]["forward"] == phases[1e-9]["train_step"] == 10 and phases[1e-9]["epoch"] == 3
    assert phases[0.5]["forward"] == 200
