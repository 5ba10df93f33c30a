"""Floating-point operations of a model, counted from the spec (multiply-add = 2 FLOPs).

Only the matrix work is counted (matmuls, convolutions, attention products); elementwise
layers are O(activations) and negligible next to it. A training step costs three times the
forward pass: the forward itself, and two products of the same size in the backward pass
(gradient w.r.t. the inputs and w.r.t. the weights).
"""

from __future__ import annotations

import math

from netparity.spec import layers as L
from netparity.spec.model import ModelSpec
from netparity.spec.walk import stack

TRAIN_FACTOR = 3


def layer_flops(layer: L.Layer, in_shape: L.Shape) -> int:
    """Forward FLOPs of one layer for one sample."""
    out_shape = layer.output_shape(in_shape)
    if isinstance(layer, L.Dense):
        rows = math.prod(in_shape[:-1])
        return 2 * rows * in_shape[-1] * layer.units
    if isinstance(layer, L.Conv2D):
        kh, kw = layer.kernel_hw
        return 2 * out_shape[0] * out_shape[1] * kh * kw * (in_shape[-1] // layer.groups) * layer.filters
    if isinstance(layer, L.Conv1D):
        return 2 * out_shape[0] * layer.kernel * in_shape[-1] * layer.filters
    if isinstance(layer, L.GRU):
        t, n_in = in_shape
        return 2 * t * (n_in + layer.units) * 3 * layer.units
    if isinstance(layer, L.LSTM):
        t, n_in = in_shape
        return 2 * t * (n_in + layer.units) * 4 * layer.units
    if isinstance(layer, L.SelfAttention):
        t, d = in_shape
        projections = 4 * 2 * t * d * d  # q, k, v and output
        scores = 2 * 2 * t * t * d  # q k^T and weights @ v (full; the causal mask halves useful work)
        return projections + scores
    if isinstance(layer, L.Residual):
        return sum(layer_flops(site.layer, site.in_shape) for site in stack(layer.layers, in_shape))
    return 0


def forward_flops(model: ModelSpec, batch: int) -> int:
    """Forward FLOPs for a batch of ``batch`` samples."""
    return batch * sum(layer_flops(info.layer, info.in_shape) for info in model.infer())


def train_flops(model: ModelSpec, batch: int) -> int:
    """FLOPs of one training step (forward + backward) on ``batch`` samples."""
    return TRAIN_FACTOR * forward_flops(model, batch)
