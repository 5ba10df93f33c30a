"""Float32 trained-parameter tolerance: widened only by the reference's own measured
float32 drift, never below the fixed tolerance, never in float64."""

from __future__ import annotations

import math

import pytest
from netparity.harness.diff import ROUNDING_MARGIN, TOLERANCES, trained_tolerance
from netparity.harness.run import run, with_overrides
from netparity.spec.tasks import get_task


def test_trained_tolerance_rules() -> None:
    base = TOLERANCES["float32"]["trained"]
    assert trained_tolerance("float32", float("nan")) == base
    assert trained_tolerance("float32", base / 100) == base
    assert trained_tolerance("float32", 0.004) == pytest.approx(ROUNDING_MARGIN * 0.004)
    assert trained_tolerance("float64", 0.5) == TOLERANCES["float64"]["trained"]


def test_float32_run_measures_reference_drift() -> None:
    task = with_overrides(get_task("regression").build(0), epochs=2)
    result = run(task, ["numpy"], dtype="float32", timing=False)
    assert 0 < result.rounding_drift < 1e-3  # float32 rounding moves the reference, a little
    assert result.tolerance["trained"] == trained_tolerance("float32", result.rounding_drift)
    result64 = run(task, ["numpy"], dtype="float64", timing=False)
    assert math.isnan(result64.rounding_drift)
    assert {k: result64.tolerance[k] for k in ("single", "trained")} == TOLERANCES["float64"]
