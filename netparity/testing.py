"""Helpers for your own tests.

- ``assert_parity(model, ...)``: ``netparity.compare`` in this process without timing, then
  ``Result.assert_ok()``; returns the Result.
- ``check_parity(backend, spec, recipe, x, y, dtype=...)``: a lower-level check of one backend
  against the reference on given arrays (forward, per-layer activations, loss, every
  gradient, ``steps`` optimizer steps).
- ``numpy_layer(SpecType, MyLayer)``: your own hand-written NumPy layer (forward and backward)
  for a layer type, in place of the built-in one while the block runs; ``gradcheck_layer``
  checks its backward against central finite differences.
- ``backend_params(names)`` and ``require(name)``: pytest parameters with one marker per
  backend, and a clean skip (with the reason) for a backend that cannot run here. The pytest
  plugin (netparity/pytest_plugin.py) builds its ``netparity_backend`` fixture from them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netparity.backends import BACKENDS, get_backend, installed_reason, required_backends, unavailable_reason
from netparity.backends.base import learning_rate, start_epoch
from netparity.backends.numpy.layers import REGISTRY as NUMPY_LAYERS
from netparity.backends.numpy.layers import NpLayer
from netparity.gradcheck import check_layer as gradcheck_layer
from netparity.harness.diff import (
    ADAPTIVE_OPTIMIZERS,
    TOLERANCES,
    Diff,
    adaptive_amplification,
    kind_scale,
    with_state,
    zero_floor,
)
from netparity.spec.data import batch_plan
from netparity.spec.dropout import dropout_masks
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

if TYPE_CHECKING:
    from netparity.result import Result

__all__ = [
    "NpLayer",
    "assert_close",
    "assert_parity",
    "backend_params",
    "check_parity",
    "gradcheck_layer",
    "installed_backends",
    "numpy_layer",
    "require",
]

FRAMEWORK_BACKENDS = tuple(b for b in BACKENDS if b != "numpy")


def assert_parity(
    model: Any,
    data: Any = None,
    *,
    backends: Sequence[str] | str | None = None,
    dtype: str = "float64",
    seed: int = 0,
    recipe: Any = None,
    reference: str = "numpy",
    **options: Any,
) -> Result:
    """``netparity.compare(model, data, ...)`` without timing, every backend in this process
    (so a layer registered with ``numpy_layer`` is the one that runs), then ``assert_ok()``.

    ``dtype`` defaults to float64, where a correct implementation agrees at rounding level
    (1e-10 relative) and any formula difference stands out; other keywords go to ``compare``."""
    from netparity.api import compare

    options.setdefault("timing", False)
    options["isolate"] = False
    result = compare(
        model, data, backends=backends, dtype=dtype, seed=seed, recipe=recipe, reference=reference, **options
    )
    named = [backends] if isinstance(backends, str) else list(backends or [])
    if named == [reference]:  # the reference against itself: it must run; there is nothing to compare
        ran = result.run.results[reference]
        assert ran.status == "ok", f"netparity: the reference {reference} did not run: {ran.status} {ran.reason}"
        return result
    result.assert_ok()
    return result


# ------------------------------------------------------------------ your own NumPy layer


def _grads_in_place(layer_class: type[NpLayer]) -> type[NpLayer]:
    """``layer_class`` whose backward may assign ``self.grads[name] = ...``: the model (and its
    optimizer) hold the arrays made at construction, so new arrays are copied into them."""

    class Registered(layer_class):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self._grad_arrays = dict(self.grads)

        def backward(self, dy: np.ndarray) -> np.ndarray:
            dx = super().backward(dy)
            for name, arr in self._grad_arrays.items():
                if self.grads.get(name) is not arr:
                    arr[...] = self.grads[name]
                    self.grads[name] = arr
            return dx

    Registered.__name__ = Registered.__qualname__ = layer_class.__name__
    Registered.__doc__ = layer_class.__doc__
    return Registered


@contextlib.contextmanager
def numpy_layer(spec_type: type, layer_class: type[NpLayer]) -> Iterator[type[NpLayer]]:
    """Inside the block, the NumPy backend builds ``layer_class`` for every ``spec_type`` layer
    (e.g. ``Dense``) instead of its own, in this process (``assert_parity`` runs there).

    ``layer_class`` subclasses ``NpLayer``: ``forward(x, training)`` keeps what backward needs,
    ``backward(dy)`` returns dx and fills ``self.grads[name]`` for each ``self.params[name]``
    (canonical layout, e.g. Dense's ``kernel`` is (inputs, units))."""
    previous = NUMPY_LAYERS.builders.get(spec_type)
    NUMPY_LAYERS.builders[spec_type] = registered = _grads_in_place(layer_class)
    try:
        yield registered
    finally:
        if previous is None:
            NUMPY_LAYERS.builders.pop(spec_type, None)
        else:
            NUMPY_LAYERS.builders[spec_type] = previous


# ------------------------------------------------------------------ pytest parameters


def installed_backends() -> list[str]:
    """Backends whose packages are installed (looked up, not imported), plus any that
    NETPARITY_REQUIRE_BACKENDS demands (so that a missing one fails instead of vanishing)."""
    required = required_backends()
    return [b for b in BACKENDS if installed_reason(b) is None or b in required]


def marker(name: str) -> str:
    """A backend's pytest marker: its name with '-' as '_' (``-m keras_jax``)."""
    return name.replace("-", "_")


def backend_params(names: Sequence[str] = BACKENDS) -> list:
    """pytest params for backends, each with its own marker (``-m torch`` selects PyTorch,
    ``-m keras_jax`` Keras on JAX)."""
    import pytest

    return [pytest.param(n, marks=getattr(pytest.mark, marker(n)), id=n) for n in names]


def require(name: str):
    """The backend, or skip the test (fail it when NETPARITY_REQUIRE_BACKENDS demands the
    backend) with the reason it cannot run here."""
    import pytest

    reason = unavailable_reason(name)
    if reason is not None:
        if name in required_backends():
            pytest.fail(f"backend {name} is required (NETPARITY_REQUIRE_BACKENDS) but unavailable: {reason}")
        pytest.skip(f"backend {name} unavailable: {reason}")
    return get_backend(name)


# ------------------------------------------------------------------ one backend on given arrays


def assert_close(what: str, got: np.ndarray, ref: np.ndarray, tol: float, floor: float = 0.0) -> None:
    """Normwise relative difference within ``tol``, the scale being at least ``floor`` (the
    rounding floor of the array's kind, harness.diff)."""
    d = Diff.of(got, ref, floor)
    assert np.shape(got) == np.shape(ref), f"{what}: shape {np.shape(got)} != reference {np.shape(ref)}"
    assert d.within(tol), f"{what}: max rel diff {d.max_rel:.3e} (abs {d.max_abs:.3e}) > {tol:.0e}"


def check_parity(
    backend: str,
    spec: ModelSpec,
    recipe: Recipe,
    x: np.ndarray,
    y: np.ndarray,
    *,
    dtype: str,
    steps: int = 50,
    seed: int = 0,
    reference: str = "numpy",
) -> None:
    """Forward, per-layer activations, loss, every gradient, and ``steps`` optimizer steps
    (mini-batches in the shared order: seeded, or in row order when the recipe does not
    shuffle) agree with the reference backend, the learning rate of every step included
    (the recipe's schedule; models are told where each epoch starts)."""
    params = init_params(spec, seed)
    tol = TOLERANCES[dtype]
    models = {
        name: get_backend(name).build(spec, params, recipe, dtype=dtype, device="cpu") for name in (reference, backend)
    }
    ref, got = models[reference], models[backend]

    # the model starts from exactly the canonical parameters (layout round trip)
    for name, value in got.params().items():
        assert_close(f"initial {name}", value, params[name].astype(dtype), 0.0)

    bx_ref, bx = ref.stage(x), got.stage(x)
    assert_close("forward", got.forward(bx), ref.forward(bx_ref), tol["single"])
    for i, (a, b) in enumerate(zip(got.activations(bx), ref.activations(bx_ref), strict=True)):
        assert_close(f"activation of layer {i}", a, b, tol["single"])

    masks = dropout_masks(spec, len(x), (seed, 0, 0))  # the same Dropout masks for both
    loss_ref, grads_ref = ref.loss_and_grads(ref.stage(x, y, masks))
    loss, grads = got.loss_and_grads(got.stage(x, y, masks))
    assert_close("loss", np.array([loss]), np.array([loss_ref]), tol["single"])
    assert set(grads) == set(grads_ref), f"gradient names differ: {sorted(set(grads) ^ set(grads_ref))}"
    fraction = zero_floor(dtype)
    grad_floor = fraction * kind_scale(grads_ref.values())
    for name in grads_ref:
        assert_close(f"gradient {name}", grads[name], grads_ref[name], tol["single"], grad_floor)
    adaptive = recipe.optimizer.name in ADAPTIVE_OPTIMIZERS
    allowance = adaptive_amplification(grads_ref, fraction, tol["single"]) if adaptive else {}
    allowance = with_state(allowance, ref.params())

    losses, losses_ref, lrs, lrs_ref, done, epoch = [], [], [], [], 0, 0
    while done < steps:
        for model in (ref, got):
            start_epoch(model, epoch)
        plan = batch_plan(len(x), recipe.batch_size, recipe.shuffle_seed, epoch, shuffle=recipe.shuffle)
        for step, idx in enumerate(plan):
            if done == steps:
                break
            masks = dropout_masks(spec, len(idx), (seed, epoch, step))
            lrs_ref.append(learning_rate(ref, recipe))
            lrs.append(learning_rate(got, recipe))
            losses_ref.append(ref.train_step(ref.stage(x[idx], y[idx], masks)))
            losses.append(got.train_step(got.stage(x[idx], y[idx], masks)))
            done += 1
        epoch += 1
    assert_close(f"learning rate over {steps} steps", np.array(lrs), np.array(lrs_ref), tol["single"])
    trajectory_tol = tol["trained"] * max((a for a in allowance.values() if np.isfinite(a)), default=1.0)
    assert_close(f"loss trajectory over {steps} steps", np.array(losses), np.array(losses_ref), trajectory_tol)
    final_ref = ref.params()
    param_floor = fraction * kind_scale(final_ref.values())
    for name, value in got.params().items():
        trained_tol = tol["trained"] * allowance.get(name, 1.0)
        assert_close(f"{name} after {steps} steps", value, final_ref[name], trained_tol, param_floor)
