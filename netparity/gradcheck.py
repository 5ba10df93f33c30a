"""Central finite differences against the NumPy layers' hand-written backward (float64)."""

from __future__ import annotations

import numpy as np

from netparity.backends.numpy.layers import build_layer
from netparity.spec.init import init_params
from netparity.spec.layers import Embedding, Layer
from netparity.spec.model import ModelSpec

H = 1e-6  # central differences: truncation O(h^2) ~ 1e-12, rounding ~ eps/h ~ 1e-10
RTOL = 1e-6


def _entries(shape: tuple[int, ...], rng: np.random.Generator, limit: int = 40) -> list[tuple[int, ...]]:
    """All indices of a small array, or ``limit`` random ones of a large one."""
    size = int(np.prod(shape))
    flat = range(size) if size <= limit else rng.choice(size, limit, replace=False)
    return [np.unravel_index(int(i), shape) for i in flat]


def numeric_grad(f, arr: np.ndarray, idx: tuple[int, ...]) -> float:
    old = arr[idx]
    arr[idx] = old + H
    up = f()
    arr[idx] = old - H
    down = f()
    arr[idx] = old
    return (up - down) / (2 * H)


def check_close(what: str, analytic: float, numeric: float, scale: float) -> None:
    err = abs(analytic - numeric)
    assert err <= RTOL * max(scale, 1e-3), f"{what}: analytic {analytic:.10g} vs numeric {numeric:.10g}"


def check_layer(
    layer: Layer, in_shape: tuple[int, ...], *, batch: int = 3, seed: int = 0, training: bool = True, prepare=None
) -> None:
    """d(sum(y * dy))/d(x and every parameter): the layer's backward against finite differences.

    ``prepare(np_layer)`` runs before every forward (e.g. to fix a dropout mask).
    """
    rng = np.random.default_rng(seed)
    spec = ModelSpec(in_shape, (layer,))
    info = spec.infer()[0]
    prefix = info.name + "."
    canonical = init_params(spec, seed)
    params = {k[len(prefix) :]: v + 0.1 * rng.normal(size=v.shape) for k, v in canonical.items() if k in info.params}
    np_layer = build_layer(layer, in_shape, params, np.dtype("float64"))
    for k in info.state:
        np_layer.state[k[len(prefix) :]][...] = canonical[k]
    integer = isinstance(layer, Embedding)
    if integer:
        x = rng.integers(0, layer.vocab, size=(batch, *in_shape))
    else:
        x = rng.normal(size=(batch, *in_shape))
    dy = rng.normal(size=(batch, *info.out_shape))

    def f() -> float:
        if prepare:
            prepare(np_layer)
        return float(np.sum(np_layer.forward(x, training) * dy))

    f()
    dx = np_layer.backward(dy)
    grads = {k: v.copy() for k, v in np_layer.grads.items()}
    if not integer:
        scale = float(np.max(np.abs(dx))) if dx.size else 1.0
        for idx in _entries(x.shape, rng):
            check_close(f"dx{idx}", dx[idx], numeric_grad(f, x, idx), scale)
    assert set(grads) == set(params), f"gradients for {sorted(grads)}, parameters {sorted(params)}"
    for name, arr in np_layer.params.items():
        scale = float(np.max(np.abs(grads[name]))) if grads[name].size else 1.0
        for idx in _entries(arr.shape, rng):
            check_close(f"d{name}{idx}", grads[name][idx], numeric_grad(f, arr, idx), scale)
