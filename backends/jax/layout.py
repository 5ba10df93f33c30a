"""Canonical <-> JAX layouts: the JAX backend computes on canonical arrays (kernels (in, out)
and HWIO, NHWC images, (T, D) sequences), so every map is the identity."""

from __future__ import annotations

from netparity.backends.base import LayoutTable

LAYOUTS = LayoutTable()

layout_for = LAYOUTS.lookup
