"""Timing a callable fairly: warm-up first, then repeats until the median is stable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    phase: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int

    @property
    def cv(self) -> float:
        """Spread as (p90 - p10) / median; robust to the odd outlier, unlike std/mean."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else 0.0

    @staticmethod
    def from_samples(phase: str, samples_s: list[float]) -> Timing:
        ms = np.asarray(samples_s) * 1e3
        return Timing(phase, float(np.median(ms)), float(np.percentile(ms, 10)), float(np.percentile(ms, 90)), len(ms))


def once(phase: str, fn: Callable[[], object]) -> tuple[Timing, object]:
    """Time a single call (build, first call with its tracing/compilation)."""
    start = time.perf_counter()
    result = fn()
    return Timing.from_samples(phase, [time.perf_counter() - start]), result


def repeat(
    phase: str,
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    min_repeats: int = 10,
    max_repeats: int = 200,
    budget_s: float = 0.5,
) -> Timing:
    """Median of repeated calls after ``warmup`` untimed ones; stops after ``max_repeats`` or
    once ``min_repeats`` are done and ``budget_s`` is spent."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < max_repeats and (len(samples) < min_repeats or spent < budget_s):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
        spent += samples[-1]
    return Timing.from_samples(phase, samples)
