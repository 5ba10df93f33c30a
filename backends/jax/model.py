"""The JAX model: a list of pure layer functions over a canonical parameter pytree; the
loss, its gradient (jax.value_and_grad) and the optax update compiled into one jax.jit step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from netparity.backends.base import Batch
from netparity.backends.jax.layers import Ctx, Params, Run, build_layer
from netparity.backends.jax.optim import make_optimizer
from netparity.spec.dropout import check_mask_names
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, l2_applies

LOSSES = {
    "mse": lambda out, y: jnp.mean(optax.losses.squared_error(out, y)),
    "cross_entropy": lambda logits, labels: jnp.mean(
        optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)
    ),
}


def check_supported(recipe: Recipe) -> None:
    """Refuse what the jax backend does not implement yet (issue 15's recipes), never run
    another formula in its place."""
    loss = recipe.loss
    name = getattr(loss, "name", loss)
    missing = []
    if name not in LOSSES or getattr(loss, "label_smoothing", 0) or not getattr(loss, "from_logits", True):
        missing.append(f"loss {loss!r}")
    if recipe.optimizer.name not in ("sgd", "adagrad", "rmsprop", "adam", "adamw"):
        missing.append(f"optimizer {recipe.optimizer.name}")
    if getattr(recipe, "lr_schedule", None) is not None:
        missing.append("learning-rate schedules")
    if getattr(recipe, "clip", None) is not None:
        missing.append("gradient clipping")
    if missing:
        raise NotImplementedError(f"the jax backend has no {', '.join(missing)} yet")


class JaxModel:
    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str, device: str) -> None:
        check_supported(recipe)
        self.spec, self.recipe, self.dtype = spec, recipe, dtype
        self.device = jax.devices("gpu" if device.startswith("cuda") else "cpu")[0]
        dropouts: list[str] = []
        self.layers = [build_layer(i.layer, Ctx(i.name + ".", i.in_shape, dtype, dropouts)) for i in spec.infer()]
        self.dropouts = dict.fromkeys(dropouts)
        self.weights: Params = {k: self._put(params[k], dtype) for k in spec.param_specs()}
        self.state: Params = {k: self._put(params[k], dtype) for k in spec.state_specs()}
        self.tx, optimizer = make_optimizer(recipe.optimizer)
        self.opt_state = self.tx.init(self.weights)
        self.key = jax.random.key(0)  # only for Dropout without a shared mask
        self._predict = jax.jit(lambda p, s, x: self._apply(p, s, x, Run(False, state=s))[0])
        self._activations = jax.jit(lambda p, s, x: self._apply(p, s, x, Run(False, state=s), collect=True)[2])
        self._train_forward = jax.jit(lambda p, s, x, m, k: self._apply(p, s, x, Run(True, m, s, key=k))[:2])
        self._loss_and_grads = jax.jit(jax.value_and_grad(self._loss, has_aux=True))
        self._step = jax.jit(self._step_fn)
        self.implementation = {"layers": "jax functions (jax.jit)", "optimizer": optimizer, "loss": "optax.losses"}

    def _put(self, a: np.ndarray, dtype: str) -> jax.Array:
        return jax.device_put(np.asarray(a, dtype=dtype), self.device)

    def _apply(self, p: Params, state: Params, x: jax.Array, run: Run, collect: bool = False):
        acts = []
        for layer in self.layers:
            x = layer(p, x, run)
            if collect:
                acts.append(x)
        return x, {**state, **run.new_state}, acts

    def _loss(self, p: Params, state: Params, x: jax.Array, y: jax.Array, masks: Params, key: jax.Array):
        out, new_state, _ = self._apply(p, state, x, Run(True, masks, state, key=key))
        loss = LOSSES[getattr(self.recipe.loss, "name", self.recipe.loss)](out, y)
        if self.recipe.l2:  # loss += l2 * sum(w^2) over kernels
            loss = loss + self.recipe.l2 * sum(jnp.sum(w * w) for name, w in p.items() if l2_applies(name))
        return loss, new_state

    def _step_fn(self, p: Params, state: Params, opt_state, x, y, masks: Params, key: jax.Array):
        (loss, new_state), grads = jax.value_and_grad(self._loss, has_aux=True)(p, state, x, y, masks, key)
        updates, opt_state = self.tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), new_state, opt_state, loss

    def _next_key(self) -> jax.Array:
        """A fresh key for Dropout's own masks; models without Dropout reuse one (a split
        per step is a dispatch of its own)."""
        if not self.dropouts:
            return self.key
        self.key, key = jax.random.split(self.key)
        return key

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        masks = masks or {}
        check_mask_names(masks, self.dropouts, "jax")
        xt = self._put(x, "int64" if self.spec.integer_inputs else self.dtype)
        yt = None if y is None else self._put(y, "int64" if self.recipe.loss == "cross_entropy" else self.dtype)
        return Batch(xt, yt, len(x), {k: self._put(m, self.dtype) for k, m in masks.items()})

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        if not training:
            return np.asarray(self._predict(self.weights, self.state, batch.x))
        out, self.state = self._train_forward(self.weights, self.state, batch.x, batch.masks, self._next_key())
        return np.asarray(out)

    def activations(self, batch: Batch) -> list[np.ndarray]:
        return [np.asarray(a) for a in self._activations(self.weights, self.state, batch.x)]

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        (loss, self.state), grads = self._loss_and_grads(
            self.weights, self.state, batch.x, batch.y, batch.masks, self._next_key()
        )
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    def train_step(self, batch: Batch) -> float:
        self.weights, self.state, self.opt_state, loss = self._step(
            self.weights, self.state, self.opt_state, batch.x, batch.y, batch.masks, self._next_key()
        )
        return float(loss)

    def params(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in {**self.weights, **self.state}.items()}
