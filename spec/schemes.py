"""Names of the canonical initializer schemes and their parser (no NumPy needed)."""

from __future__ import annotations

from netparity.spec.errors import SpecError

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
        raise SpecError(f"unknown initializer {init!r} (known: {', '.join(SCHEMES)})")
    if not arg:
        return name, None
    try:
        value = float(arg)
    except ValueError:
        raise SpecError(f"initializer {init!r}: {arg!r} is not a number") from None
    if name == "constant":  # any finite value, zero and negatives included
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(f"initializer {init!r}: the value must be finite")
        return name, value
    if not value > 0:
        raise SpecError(f"initializer {init!r}: the scale must be positive")
    return name, value
