"""Canonical <-> Keras 3 layouts. Keras Dense keeps kernel (in, out) and Conv2D keeps
HWIO kernels with NHWC images, so most maps are the identity; layers whose Keras
weights differ (e.g. MultiHeadAttention's per-head kernels) declare their map here."""

from __future__ import annotations

import numpy as np

from backends.base import IDENTITY, LayoutMap

LAYOUTS: dict[tuple[str, str], LayoutMap] = {}


def layout_for(name: str) -> LayoutMap:
    *_, kind, param = name.split(".")
    return LAYOUTS.get((kind, param), IDENTITY)


def to_native(name: str, value: np.ndarray) -> np.ndarray:
    return layout_for(name).to_native(value)


def from_native(name: str, value: np.ndarray) -> np.ndarray:
    return layout_for(name).from_native(value)
