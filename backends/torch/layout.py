"""Canonical <-> PyTorch layouts, one entry per (layer kind, canonical parameter).

Linear keeps weight (out, in); Conv2d keeps weight (out, in, kh, kw) and NCHW activations.
"""

from __future__ import annotations

import numpy as np
from netparity.backends.base import TRANSPOSE, LayoutMap, LayoutTable, permute


def _swap_first_two_gates(a: np.ndarray) -> np.ndarray:
    """Blocks (z, r, h) <-> (r, z, n) along axis 0: swapping the first two is its own inverse."""
    z, r, h = np.split(a, 3, axis=0)
    return np.ascontiguousarray(np.concatenate([r, z, h], axis=0))


GRU_MATRIX = LayoutMap(lambda a: _swap_first_two_gates(a.T), lambda a: _swap_first_two_gates(a).T.copy())
GRU_VECTOR = LayoutMap(_swap_first_two_gates, _swap_first_two_gates)

LAYOUTS = LayoutTable(
    {
        ("dense", "kernel"): TRANSPOSE,  # (in, out) -> Linear.weight (out, in)
        ("conv2d", "kernel"): permute((3, 2, 0, 1)),  # (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw)
        ("lstm", "kernel"): TRANSPOSE,  # (in, 4H) -> weight_ih_l0 (4H, in), same gate order i, f, g, o
        ("lstm", "recurrent_kernel"): TRANSPOSE,  # (H, 4H) -> weight_hh_l0 (4H, H)
        **{("self_attention", w): TRANSPOSE for w in ("wq", "wk", "wv", "wo")},  # x @ w -> Linear-style (out, in)
        ("conv1d", "kernel"): permute((2, 1, 0)),  # (k, in, out) -> Conv1d.weight (out, in, k)
        # GRU: canonical gate blocks z, r, h (Keras's); nn.GRU stacks r, z, n, rows (out, in)
        ("gru", "kernel"): GRU_MATRIX,  # (in, 3H) -> weight_ih_l0 (3H, in)
        ("gru", "recurrent_kernel"): GRU_MATRIX,  # (H, 3H) -> weight_hh_l0 (3H, H)
        ("gru", "bias"): GRU_VECTOR,  # (3H,) -> bias_ih_l0
        ("gru", "recurrent_bias"): GRU_VECTOR,  # (3H,) -> bias_hh_l0
    }
)

layout_for = LAYOUTS.lookup


#: activations: torch keeps images NCHW, canonical is NHWC
NCHW = permute((0, 3, 1, 2))
