"""Comparing canonical arrays: normwise relative differences and tolerances per dtype.

Relative means ``max|a - b| / max|b|`` over the whole array: elementwise ratios explode
near zero and prove nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tolerances on the normwise relative difference to the reference.
#
# float64: the backends compute the same formulas in a different order, so they may differ
# by rounding only: a few ulps (2.2e-16) per operation, grown by the depth of the model and
# the number of steps. 1e-10 leaves four orders of magnitude for that and still catches any
# real formula difference (which shows up at 1e-8 or above; e.g. a hyper-parameter rounded
# through float32 gives ~1e-8).
#
# float32: one matmul over k=64..256 terms rounds to ~sqrt(k)*6e-8 ~ 1e-6 relative; a few
# layers and the reductions in the loss keep single evaluations (outputs, gradients, loss)
# within 1e-5, so we allow 1e-4. Training compounds the rounding over hundreds of steps
# (measured: ~1e-5 after 280 SGD steps on `regression`), so trained parameters and the
# loss trajectory get 1e-3: still far below the 1e-1-level gaps a wrong formula, layout or
# hyper-parameter produces.
TOLERANCES = {
    "float64": {"single": 1e-10, "trained": 1e-10},
    "float32": {"single": 1e-4, "trained": 1e-3},
}

# Training through a kink (ReLU, max-pooling) is chaotic in float32: a pre-activation within
# rounding of zero lands on different sides in different backends, switches a unit's
# gradient on or off, and momentum or Adam carry the difference on. How far that goes
# depends on the model and the recipe (measured: 2.8e-4 to 1.2e-2 after 100-300 steps on
# ReLU models, with the same runs agreeing to 1e-15 in float64). So a float32 run also
# trains the reference in float64 and measures the reference's own float32 drift; another
# backend may differ from the reference by ROUNDING_MARGIN times that drift (never less than
# the fixed tolerance above). A wrong formula is caught by the float64 run at 1e-10.
ROUNDING_MARGIN = 10.0


def trained_tolerance(dtype: str, rounding_drift: float) -> float:
    """The tolerance for trained parameters and the loss trajectory, given the reference's
    own float32-vs-float64 drift (NaN or 0 when not measured)."""
    base = TOLERANCES[dtype]["trained"]
    if dtype == "float64" or not np.isfinite(rounding_drift):
        return base
    return max(base, ROUNDING_MARGIN * rounding_drift)


@dataclass(frozen=True)
class Diff:
    max_abs: float
    max_rel: float

    @staticmethod
    def of(a: np.ndarray, ref: np.ndarray) -> Diff:
        """Max abs and normwise relative difference of ``a`` against ``ref`` (NaN if shapes differ)."""
        a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if a.shape != ref.shape:
            return Diff(float("nan"), float("nan"))
        if a.size == 0:
            return Diff(0.0, 0.0)
        abs_diff = float(np.max(np.abs(a - ref)))
        scale = float(np.max(np.abs(ref)))
        rel = abs_diff / scale if scale > 0 else (0.0 if abs_diff == 0 else float("inf"))
        return Diff(abs_diff, rel)

    @staticmethod
    def worst(diffs: list[Diff]) -> Diff:
        """The largest abs and rel difference over several arrays (NaN if any is NaN)."""
        if not diffs:
            return Diff(0.0, 0.0)
        abs_, rel = [d.max_abs for d in diffs], [d.max_rel for d in diffs]
        return Diff(float(np.max(abs_)), float(np.max(rel)))  # np.max propagates NaN

    def within(self, tol: float) -> bool:
        return bool(self.max_rel <= tol)  # False for NaN


def dict_diff(a: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> tuple[Diff, dict[str, Diff]]:
    """Per-name diffs and their worst; a name missing on one side counts as NaN."""
    per = {k: Diff.of(a[k], ref[k]) if k in a else Diff(float("nan"), float("nan")) for k in ref}
    return Diff.worst(list(per.values())), per


def scalar_diff(a: float, ref: float) -> Diff:
    return Diff.of(np.array([a]), np.array([ref]))
