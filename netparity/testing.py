"""Cross-backend checks for your own tests: same spec, same canonical parameters, same
batches; forward, gradients and a training trajectory against the reference backend."""

from __future__ import annotations

import numpy as np

from netparity.backends import get_backend
from netparity.backends.base import learning_rate, start_epoch
from netparity.harness.diff import TOLERANCES, Diff
from netparity.spec.data import batch_plan
from netparity.spec.dropout import dropout_masks
from netparity.spec.init import init_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe


def assert_close(what: str, got: np.ndarray, ref: np.ndarray, tol: float) -> None:
    d = Diff.of(got, ref)
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
    for name in grads_ref:
        assert_close(f"gradient {name}", grads[name], grads_ref[name], tol["single"])

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
    assert_close(f"loss trajectory over {steps} steps", np.array(losses), np.array(losses_ref), tol["trained"])
    final_ref = ref.params()
    for name, value in got.params().items():
        assert_close(f"{name} after {steps} steps", value, final_ref[name], tol["trained"])
