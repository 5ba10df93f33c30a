"""The JAX model: a list of pure layer functions over a canonical parameter pytree; the
loss, its gradient (jax.value_and_grad) and the optax update compiled into one jax.jit step."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from netparity.backends.base import Batch
from netparity.backends.jax.layers import Ctx, Params, Run, build_layer
from netparity.backends.jax.optim import clip_transform, lr_schedule, make_optimizer
from netparity.spec.dropout import check_mask_names
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Loss, Recipe, l2_applies


def make_loss(loss: Loss) -> tuple[Callable[[jax.Array, jax.Array], jax.Array], str]:
    """The recipe's Loss (spec.recipe.Loss) as a batch-mean over optax.losses, and what it is."""
    if loss.name == "mse":
        return lambda out, y: jnp.mean(optax.losses.squared_error(out, y)), "optax.losses.squared_error"
    if loss.name == "mae":  # optax.losses has no absolute error
        return lambda out, y: jnp.mean(jnp.abs(out - y)), "jnp mean(|out - y|)"
    if loss.name == "huber":
        return lambda out, y: jnp.mean(optax.losses.huber_loss(out, y, delta=loss.delta)), "optax.losses.huber_loss"
    if loss.name == "bce" and loss.from_logits:
        return (
            lambda z, y: jnp.mean(optax.losses.sigmoid_binary_cross_entropy(z, y)),
            "optax.losses.sigmoid_binary_cross_entropy",
        )
    if loss.name == "bce":  # optax's binary losses take logits only
        return (
            lambda p, y: jnp.mean(-(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))),
            "jnp mean(-(y log p + (1-y) log(1-p)))",
        )
    if not loss.from_logits:  # the model ends in softmax: -log p[label]

        def on_probabilities(p: jax.Array, labels: jax.Array) -> jax.Array:
            return jnp.mean(-jnp.log(jnp.take_along_axis(p, labels[:, None], axis=-1)))

        return on_probabilities, "jnp mean(-log p[label])"
    if loss.label_smoothing:
        s = loss.label_smoothing

        def smoothed(logits: jax.Array, labels: jax.Array) -> jax.Array:
            q = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype), s)
            return jnp.mean(optax.losses.softmax_cross_entropy(logits, q))

        return smoothed, "optax.smooth_labels + optax.losses.softmax_cross_entropy"
    return (
        lambda logits, labels: jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)),
        "optax.losses.softmax_cross_entropy_with_integer_labels",
    )


class JaxModel:
    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str, device: str) -> None:
        self.spec, self.recipe, self.dtype = spec, recipe, dtype
        self.device = jax.devices("gpu" if device.startswith("cuda") else "cpu")[0]
        dropouts: list[str] = []
        self.layers = [build_layer(i.layer, Ctx(i.name + ".", i.in_shape, dtype, dropouts)) for i in spec.infer()]
        self.dropouts = dict.fromkeys(dropouts)
        self.weights: Params = {k: self._put(params[k], dtype) for k in spec.param_specs()}
        self.state: Params = {k: self._put(params[k], dtype) for k in spec.state_specs()}
        schedule = recipe.lr_schedule
        self.schedule = None if schedule is None else lr_schedule(schedule, recipe.optimizer.lr)
        self.epoch, self.steps = 0, 0
        self.tx, optimizer = make_optimizer(recipe.optimizer, recipe.clip, scheduled=schedule is not None)
        self.loss_fn, loss = make_loss(recipe.loss)
        self.opt_state = self.tx.init(self.weights)
        self.key = jax.random.key(0)  # only for Dropout without a shared mask
        self._predict = jax.jit(lambda p, s, x: self._apply(p, s, x, Run(False, state=s))[0])
        self._activations = jax.jit(lambda p, s, x: self._apply(p, s, x, Run(False, state=s), collect=True)[2])
        self._train_forward = jax.jit(lambda p, s, x, m, k: self._apply(p, s, x, Run(True, m, s, key=k))[:2])
        self._loss_and_grads = jax.jit(jax.value_and_grad(self._loss, has_aux=True))
        self._step = jax.jit(self._step_fn)
        self.implementation = {"layers": "jax functions (jax.jit)", "optimizer": optimizer, "loss": loss}
        if schedule is not None:
            self.implementation["lr_schedule"] = (
                f"optax schedule per {schedule.per} -> inject_hyperparams learning_rate"
            )
        if recipe.clip is not None:
            self.implementation["clip"] = clip_transform(recipe.clip)[1]

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
        loss = self.loss_fn(out, y)
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

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of every epoch (a per-epoch schedule moves on)."""
        self.epoch = epoch

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses: the optax schedule at the epoch or step."""
        if self.schedule is None:
            return self.recipe.optimizer.lr
        return float(self.schedule(self.epoch if self.recipe.lr_schedule.per == "epoch" else self.steps))

    def train_step(self, batch: Batch) -> float:
        if self.schedule is not None:
            lr = jnp.asarray(self.learning_rate(), self.dtype)
            self.opt_state = self.opt_state._replace(hyperparams={**self.opt_state.hyperparams, "learning_rate": lr})
        self.steps += 1
        self.weights, self.state, self.opt_state, loss = self._step(
            self.weights, self.state, self.opt_state, batch.x, batch.y, batch.masks, self._next_key()
        )
        return float(loss)

    def params(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in {**self.weights, **self.state}.items()}
