"""Timing a callable fairly: warm-up first, then repeats until the median is stable."""

from __future__ import annotations

import dataclasses
import resource
import sys
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
    cv: float = 0.0  # coefficient of variation of the samples: std / mean
    gflops: float = float("nan")  # achieved GFLOP/s at the median (matrix work from the spec)
    peak_rss_mb: float = float("nan")  # peak resident memory of the process that ran it

    def with_work(self, flops: int | None = None, peak_rss_mb: float | None = None) -> Timing:
        """The same timing with the GFLOP/s of ``flops`` per call and the process's peak RSS."""
        gflops = flops / (self.median_ms * 1e6) if flops and self.median_ms > 0 else self.gflops
        return dataclasses.replace(self, gflops=gflops, peak_rss_mb=peak_rss_mb if peak_rss_mb else self.peak_rss_mb)

    @staticmethod
    def from_samples(phase: str, samples_s: list[float]) -> Timing:
        ms = np.asarray(samples_s) * 1e3
        cv = float(ms.std() / ms.mean()) if len(ms) > 1 and ms.mean() > 0 else 0.0
        return Timing(
            phase, float(np.median(ms)), float(np.percentile(ms, 10)), float(np.percentile(ms, 90)), len(ms), cv
        )


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


def peak_rss_mb() -> float:
    """Peak resident set size of this process since it started (or since
    :func:`reset_peak_rss`), in MiB."""
    try:  # Linux: VmHWM, the high-water mark that reset_peak_rss can lower
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # KiB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def reset_peak_rss() -> bool:
    """Start the peak over from the current resident size (Linux >= 4.0), so that a process
    running job after job reports each job's own peak; False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False
