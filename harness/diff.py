"""Comparing canonical arrays: normwise relative differences and tolerances per dtype.

How a difference is judged (README, "How differences are judged"):

1. **Normwise, per array.** ``max|a - b| / max|b|`` over the whole array: elementwise ratios
   explode near zero and prove nothing.
2. **Against its kind when the array itself is at rounding level.** Some exact values are
   zero: the bias gradient of a standardized linear regression, the bias before a BatchNorm,
   everything behind a LayerNorm over one feature. Each backend computes them as a sum that
   cancels, in its own order, and returns rounding noise: a few ulps of the *terms* summed,
   which are as large as the other arrays of its kind. Divided by its own (noise) scale,
   that noise reads 0.4 or ``inf``. So every array is also judged against a floor tied to
   its kind (all gradients; all parameters; a layer's activations against its input's
   scale): the denominator is ``max(max|b|, floor)`` with
   ``floor = kind scale * ROUNDING_ULPS * eps / tolerance`` (``zero_floor``). Noise of up to
   ROUNDING_ULPS ulps of the kind's scale then stays within the tolerance (measured: up to
   5 ulps on Dense/Conv2D -> BatchNorm, 12 (float64) and 53 (float32) on torch's LayerNorm
   over one feature, whose normalized value is not exactly 0 but noise times 1/sqrt(eps)).
   An array above the floor is judged by its own scale exactly as before; one below it
   (float64: under 2.8e-4 of its kind; float32: under 0.15) is judged against the floor,
   which still catches a 1 % error in any array larger than 2.8e-12 (float64) or 1.5e-3
   (float32) of its kind's scale.
3. **Training with an adaptive optimizer.** Adam, AdamW, RMSprop, Adagrad, Adadelta, Nadam and Adamax divide a
   gradient by its own running size, so a gradient known only to a relative accuracy ``r``
   moves its parameter by ``r * lr`` per step whatever its size: a gradient that is small
   next to the others (behind a LayerNorm over two features) carries rounding noise
   amplified by ``kind scale / its scale``. The trained value of such a parameter, and the
   loss trajectory it feeds, are allowed that amplification (``adaptive_amplification``),
   capped at the floor above. A parameter whose reference gradient is itself rounding noise
   (the bias before a BatchNorm, a LayerNorm's beta before one) is moved by noise divided by
   noise, about ``lr`` per step in a random direction: its trained value is reported but not
   judged (the loss does not depend on it, and its gradient is still judged as in point 2).
   Plain SGD scales noise by ``lr`` only and gets no allowance.
"""

from __future__ import annotations

from collections.abc import Iterable
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

# Rounding noise an exactly-zero array may carry, in ulps of its kind's scale (see the module
# docstring, point 2): twice the worst measured (53).
ROUNDING_ULPS = 128

#: optimizers whose update divides the gradient by its own running size (point 3)
ADAPTIVE_OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam", "adamax")


def zero_floor(dtype: str) -> float:
    """The floor of an array's scale as a fraction of its kind's scale: ROUNDING_ULPS ulps of
    the kind, divided by the single-evaluation tolerance (float64 2.8e-4, float32 0.15)."""
    return ROUNDING_ULPS * float(np.finfo(dtype).eps) / TOLERANCES[dtype]["single"]


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


def _number(x: float) -> str:
    return f"{x:.3e}" if np.isfinite(x) and x != 0 else f"{x:g}"


@dataclass(frozen=True)
class Diff:
    """How far an array (or the worst of several) is from the reference, and where.

    ``max_rel`` divides by ``max(max|ref|, floor)``; ``floored`` says the floor (the scale of
    the array's kind) was the larger. ``where`` names the worst element, e.g.
    ``1.dense.bias[3]``; ``value``/``ref_value`` are the two numbers there."""

    max_abs: float
    max_rel: float
    where: str = ""
    value: float = float("nan")
    ref_value: float = float("nan")
    floored: bool = False

    @staticmethod
    def of(a: np.ndarray, ref: np.ndarray, floor: float = 0.0, name: str = "") -> Diff:
        """Max abs and normwise relative difference of ``a`` against ``ref`` (NaN if shapes
        differ), the scale being at least ``floor``; ``name`` labels the worst element."""
        with np.errstate(over="ignore", invalid="ignore"):  # inf - inf: a NaN, judged below
            return Diff._of(np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64), floor, name)

    @staticmethod
    def _of(a: np.ndarray, ref: np.ndarray, floor: float, name: str) -> Diff:
        if a.shape != ref.shape:
            return Diff(float("nan"), float("nan"), f"{name} (shape {a.shape} vs {ref.shape})".strip())
        if a.size == 0:
            return Diff(0.0, 0.0, name)
        gap = np.abs(a - ref)
        gap = np.where(np.isnan(gap), np.inf, gap)  # a NaN on one side is the worst element
        flat = int(np.argmax(gap))
        abs_diff = float(gap.flat[flat])
        own = float(np.max(np.abs(np.where(np.isfinite(ref), ref, 0.0))))
        scale = max(own, floor)
        if not np.all(np.isfinite(ref)) or not np.all(np.isfinite(a)):
            rel = 0.0 if np.array_equal(a, ref, equal_nan=True) else float("inf")
        else:
            rel = abs_diff / scale if scale > 0 else (0.0 if abs_diff == 0 else float("inf"))
        index = np.unravel_index(flat, a.shape)
        where = f"{name}[{', '.join(map(str, index))}]" if a.size > 1 else name
        return Diff(abs_diff, rel, where, float(a.flat[flat]), float(ref.flat[flat]), floor > own)

    @staticmethod
    def worst(diffs: list[Diff]) -> Diff:
        """The array with the largest relative difference (NaN first), with the largest
        absolute difference over all of them."""
        if not diffs:
            return Diff(0.0, 0.0)
        worst = max(diffs, key=lambda d: (np.isnan(d.max_rel), np.nan_to_num(d.max_rel, nan=0.0, posinf=np.inf)))
        abs_ = float(np.max([d.max_abs for d in diffs]))  # np.max propagates NaN
        return Diff(abs_, worst.max_rel, worst.where, worst.value, worst.ref_value, worst.floored)

    def within(self, tol: float) -> bool:
        return bool(self.max_rel <= tol)  # False for NaN

    def place(self, backend: str, reference: str) -> str:
        """``worst at 1.dense.bias[3]: torch 1.2e-03, numpy 8.1e-04`` (empty if unknown)."""
        if not self.where:
            return ""
        text = f"worst at {self.where}: {backend} {_number(self.value)}, {reference} {_number(self.ref_value)}"
        if self.floored:
            text += " (an array at rounding level, judged against the scale of its kind)"
        return text


def kind_scale(arrays: Iterable[np.ndarray]) -> float:
    """The largest finite magnitude over a kind's reference arrays (0 if none)."""
    scales = [float(np.max(np.abs(a[np.isfinite(a)]))) for a in map(np.asarray, arrays) if np.isfinite(a).any()]
    return max(scales, default=0.0)


def dict_diff(
    a: dict[str, np.ndarray], ref: dict[str, np.ndarray], fraction: float = 0.0
) -> tuple[Diff, dict[str, Diff]]:
    """Per-name diffs and their worst; a name missing on one side counts as NaN. An array is
    judged against at least ``fraction`` of the largest reference array (its kind's floor)."""
    floor = fraction * kind_scale(ref.values())
    per = {k: Diff.of(a[k], ref[k], floor, k) if k in a else Diff(float("nan"), float("nan"), k) for k in ref}
    return Diff.worst(list(per.values())), per


def scalar_diff(a: float, ref: float, name: str = "") -> Diff:
    return Diff.of(np.array([a]), np.array([ref]), name=name)


def adaptive_amplification(grads: dict[str, np.ndarray], fraction: float, tolerance: float) -> dict[str, float]:
    """Per parameter, how much an adaptive optimizer amplifies its gradient's rounding noise
    relative to the largest gradient: ``kind scale / max(its scale, floor)``, between 1 and
    ``1 / fraction``; ``inf`` where the gradient itself is rounding noise (at most
    ROUNDING_ULPS ulps of the largest, ``fraction * tolerance``): the optimizer then moves the
    parameter by noise divided by its own size, and its trained value is not judged
    (module docstring, point 3)."""
    top = kind_scale(grads.values())
    if top == 0:
        return {k: 1.0 for k in grads}
    floor, noise = fraction * top, fraction * tolerance * top
    return {k: top / max(own, floor) if (own := kind_scale([g])) > noise else float("inf") for k, g in grads.items()}


def with_state(amplification: dict[str, float], names: Iterable[str]) -> dict[str, float]:
    """``amplification`` extended to the state arrays among ``names`` (parameters without a
    gradient: BatchNorm's moving statistics). They measure the activations that every earlier
    parameter feeds, so a state array at or after a layer with an unjudged parameter (an
    infinite allowance) is not judged either."""

    def layer(name: str) -> int:
        return int(name.split(".", 1)[0])

    unjudged = [layer(n) for n, a in amplification.items() if not np.isfinite(a)]
    out = dict(amplification)
    for name in names:
        if name not in out and unjudged and layer(name) >= min(unjudged):
            out[name] = float("inf")
    return out
