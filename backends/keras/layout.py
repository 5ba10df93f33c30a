"""Canonical <-> Keras 3 layouts. Keras Dense keeps kernel (in, out) and Conv2D keeps
HWIO kernels with NHWC images, so most maps are the identity; layers whose Keras
weights differ (e.g. MultiHeadAttention's per-head kernels) declare their map here."""

from __future__ import annotations

from netparity.backends.base import IDENTITY, LayoutMap, LayoutTable

LAYOUTS = LayoutTable()

layout_for = LAYOUTS.lookup


def attention_layout(param: str, heads: int) -> LayoutMap:
    """SelfAttention parameter ``param`` in MultiHeadAttention's per-head layout (docs/semantics.md
    Appendix A): wq/wk/wv (d, d) -> kernel (d, heads, d/heads), bq/bv (d,) -> bias
    (heads, d/heads), wo (d, d) -> kernel (heads, d/heads, d), bo (d,) unchanged. Heads split
    the last canonical axis in the same order as torch's, so these are plain reshapes."""
    if param in ("wq", "wk", "wv"):
        return LayoutMap(lambda a: a.reshape(a.shape[0], heads, -1), lambda a: a.reshape(a.shape[0], -1))
    if param in ("bq", "bv"):
        return LayoutMap(lambda a: a.reshape(heads, -1), lambda a: a.reshape(-1))
    if param == "wo":
        return LayoutMap(lambda a: a.reshape(heads, -1, a.shape[-1]), lambda a: a.reshape(-1, a.shape[-1]))
    return IDENTITY
