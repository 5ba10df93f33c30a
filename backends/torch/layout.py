"""Canonical <-> PyTorch layouts, one entry per (layer kind, canonical parameter).

Linear keeps weight (out, in); Conv2d keeps weight (out, in, kh, kw) and NCHW activations.
"""

from __future__ import annotations

from netparity.backends.base import TRANSPOSE, LayoutTable, permute

LAYOUTS = LayoutTable(
    {
        ("dense", "kernel"): TRANSPOSE,  # (in, out) -> Linear.weight (out, in)
        ("conv2d", "kernel"): permute((3, 2, 0, 1)),  # (kh, kw, in, out) -> Conv2d.weight (out, in, kh, kw)
        ("lstm", "kernel"): TRANSPOSE,  # (in, 4H) -> weight_ih_l0 (4H, in), same gate order i, f, g, o
        ("lstm", "recurrent_kernel"): TRANSPOSE,  # (H, 4H) -> weight_hh_l0 (4H, H)
        **{("self_attention", w): TRANSPOSE for w in ("wq", "wk", "wv", "wo")},  # x @ w -> Linear-style (out, in)
    }
)

layout_for = LAYOUTS.lookup


#: activations: torch keeps images NCHW, canonical is NHWC
NCHW = permute((0, 3, 1, 2))
