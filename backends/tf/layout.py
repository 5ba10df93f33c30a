"""Canonical <-> tf.Module layouts. Our raw-TF layers are written in the canonical layout
(tf.matmul(x, W) with W (in, out), tf.nn.conv2d with HWIO filters and NHWC images), so
every map is the identity; the table exists so that a layer needing one declares it here."""

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
