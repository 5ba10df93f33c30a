"""Names of the canonical initializer schemes and their parser (no NumPy needed)."""

from __future__ import annotations

import math

from netparity.spec.errors import SpecError, quoted
from netparity.spec.limits import MAX_INIT_SCALE

SCHEMES = (
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "normal",
    "uniform",
    "zeros",
    "ones",
    "orthogonal",
    "unit_forget",
    "constant",
)


def parse_scheme(init: str) -> tuple[str, float | None]:
    """``"normal:0.02"`` -> ("normal", 0.02); ``"zeros"`` -> ("zeros", None)."""
    name, _, arg = init.partition(":")
    if name not in SCHEMES:
        raise SpecError(f"unknown initializer {quoted(init)} (known: {', '.join(SCHEMES)})")
    if not arg:
        return name, None
    try:
        value = float(arg)
    except ValueError:
        raise SpecError(f"initializer {quoted(init)}: not a number after the colon") from None
    if not math.isfinite(value):
        raise SpecError(f"initializer {quoted(init)}: the value must be finite")
    if name == "constant":  # any finite value, zero and negatives included
        return name, value
    if not 0 < value <= MAX_INIT_SCALE:
        raise SpecError(f"initializer {quoted(init)}: the scale must be in (0, {MAX_INIT_SCALE:g}]")
    return name, value
