"""Dropout masks drawn once, in NumPy, from the shared seed, so that every backend drops
exactly the same units in training mode (four framework RNGs can never agree).

A mask is the multiplier ``m = keep / (1 - rate)`` (0 or 1/(1 - rate)) in the canonical
(channels-last) layout of the Dropout layer's input, batch axis first; every backend
computes ``y = x * m`` and ``dx = dy * m``. Masks travel with a staged batch
(``Model.stage(x, y, masks=...)``, see backends/base.py), keyed by the canonical layer
name (``"2.dropout"``, or ``"3.residual.1.dropout"`` inside a Residual).
"""

from __future__ import annotations

import zlib

import numpy as np
from netparity.spec.layers import Dropout, Shape
from netparity.spec.model import ModelSpec


def dropout_sites(spec: ModelSpec) -> list[tuple[str, Dropout, Shape]]:
    """(canonical name, layer, input shape) of every Dropout with rate > 0, Residuals included."""
    return [
        (site.name, site.layer, site.in_shape)
        for site in spec.walk()
        if isinstance(site.layer, Dropout) and site.layer.rate > 0
    ]


def dropout_masks(
    spec: ModelSpec, n: int, key: tuple[int, ...], sites: list[tuple[str, Dropout, Shape]] | None = None
) -> dict[str, np.ndarray]:
    """Float64 masks for a batch of ``n`` samples; ``key`` (e.g. (seed, epoch, step)) picks
    the draw, and each layer has its own stream, so the masks depend on nothing else.
    ``sites`` (``dropout_sites(spec)``) saves re-inferring the spec when called per step."""
    masks = {}
    for name, layer, shape in dropout_sites(spec) if sites is None else sites:
        rng = np.random.default_rng([*key, zlib.crc32(name.encode())])
        keep = rng.random((n, *shape)) >= layer.rate
        masks[name] = keep * (1.0 / (1.0 - layer.rate))
    return masks


def check_mask_names(masks: dict[str, object], dropouts: dict[str, object], backend: str) -> None:
    """A mask for a layer the model does not have is a caller error, never silently ignored."""
    unknown = sorted(set(masks) - set(dropouts))
    if unknown:
        raise ValueError(f"{backend}: masks for {unknown}, but the model's Dropout layers are {sorted(dropouts)}")
