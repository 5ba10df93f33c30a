"""Dropout in NumPy, driven by the harness's shared masks (spec/dropout.py)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L
from netparity.spec.model import ModelSpec


@register(L.Dropout)
class Dropout(NpLayer):
    """Training: y = x * mask (mask = keep / (1 - rate)); inference: y = x. dx = dy * mask."""

    mask: np.ndarray | None = None  # set by the model from Batch.masks before each call

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        rate = self.spec.rate
        if not training or rate == 0:
            self.used = None
            return x
        if self.mask is None:  # no shared mask: NumPy's own RNG (not comparable across backends)
            keep = np.random.default_rng().random(x.shape) >= rate
            self.used = (keep * (1.0 / (1.0 - rate))).astype(x.dtype)
        else:
            self.used = self.mask
        return x * self.used

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.used is None else dy * self.used


def all_layers(layers: list[NpLayer]) -> Iterator[NpLayer]:
    """Every layer depth first, Residual blocks' inner layers right after them: the order of
    ``spec.walk.walk``, so zipping the two names every NumPy layer."""
    for layer in layers:
        yield layer
        yield from all_layers(getattr(layer, "inner", []))


def find_dropouts(spec: ModelSpec, layers: list[NpLayer]) -> dict[str, Dropout]:
    """Canonical name -> Dropout layer, looking inside Residual blocks too."""
    return {site.name: x for site, x in zip(spec.walk(), all_layers(layers), strict=True) if isinstance(x, Dropout)}
