"""Canonical <-> PyTorch layouts, one entry per (layer kind, canonical parameter).

Linear keeps weight (out, in); Conv2d keeps weight (out, in, kh, kw) and NCHW activations.
"""

from __future__ import annotations

import numpy as np

from backends.base import IDENTITY, TRANSPOSE, LayoutMap, permute

LAYOUTS: dict[tuple[str, str], LayoutMap] = {
    ("dense", "kernel"): TRANSPOSE,  # (in, out) -> Linear.weight (out, in)
    ("conv2d", "kernel"): permute((3, 2, 0, 1)),  # (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw)
    ("lstm", "kernel"): TRANSPOSE,  # (in, 4H) -> weight_ih_l0 (4H, in), same gate order i, f, g, o
    ("lstm", "recurrent_kernel"): TRANSPOSE,  # (H, 4H) -> weight_hh_l0 (4H, H)
    **{("self_attention", w): TRANSPOSE for w in ("wq", "wk", "wv", "wo")},  # x @ w -> Linear-style (out, in)
}


def layout_for(name: str) -> LayoutMap:
    """The map for a canonical parameter name such as ``"1.dense.kernel"``."""
    *_, kind, param = name.split(".")
    return LAYOUTS.get((kind, param), IDENTITY)


def to_native(name: str, value: np.ndarray) -> np.ndarray:
    return layout_for(name).to_native(value)


def from_native(name: str, value: np.ndarray) -> np.ndarray:
    return layout_for(name).from_native(value)


#: activations: torch keeps images NCHW, canonical is NHWC
NCHW = permute((0, 3, 1, 2))
