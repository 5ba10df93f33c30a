"""Cross-backend checks for your own tests: same spec, same canonical parameters, same
batches; forward, gradients and a training trajectory against the reference backend."""

from __future__ import annotations

import numpy as np

from netparity.backends import get_backend
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
    (mini-batches in the shared seeded order) agree with the reference backend."""
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

    losses, losses_ref, done, epoch = [], [], 0, 0
    while done < steps:
        for step, idx in enumerate(batch_plan(len(x), recipe.batch_size, recipe.shuffle_seed, epoch)):
            if done == steps:
                break
            masks = dropout_masks(spec, len(idx), (seed, epoch, step))
            losses_ref.append(ref.train_step(ref.stage(x[idx], y[idx], masks)))
            losses.append(got.train_step(got.stage(x[idx], y[idx], masks)))
            done += 1
        epoch += 1
    trajectory_tol = tol["trained"] * max((a for a in allowance.values() if np.isfinite(a)), default=1.0)
    assert_close(f"loss trajectory over {steps} steps", np.array(losses), np.array(losses_ref), trajectory_tol)
    final_ref = ref.params()
    param_floor = fraction * kind_scale(final_ref.values())
    for name, value in got.params().items():
        trained_tol = tol["trained"] * allowance.get(name, 1.0)
        assert_close(f"{name} after {steps} steps", value, final_ref[name], trained_tol, param_floor)
