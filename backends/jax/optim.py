"""The recipe's optimizer as an optax chain; a named hand-written transformation (in jnp
ops, optax's GradientTransformation protocol) where no optax transform has the formula.

Every optimizer is ``chain([coupled decay], direction, [decoupled decay], scale_by_learning_rate)``:
  coupled decay   optax.add_decayed_weights before the direction: g += wd*p
  decoupled decay optax.add_decayed_weights after it: p -= lr*(u + wd*p) = (p - lr*wd*p) - lr*u
  sgd             optax.trace(momentum, nesterov): v = mu*v + g (v0 = g); u = v or g + mu*v
  adagrad         inside:  optax.scale_by_rss: u = g/sqrt(acc + eps) (acc = acc0 + sum g^2)
                  outside: scale_by_rss_eps_outside (hand-written): u = g/(sqrt(acc) + eps)
  rmsprop         optax.scale_by_rms / scale_by_stddev (centered) with eps_in_sqrt for the mode,
                  then optax.trace(momentum): b = mu*b + g/den
  adam, adamw     outside: optax.scale_by_adam: m_hat/(sqrt(v_hat) + eps)
                  hat:     scale_by_adam_eps_hat (hand-written): sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from netparity.spec.recipe import Optimizer


class RssState(NamedTuple):
    sum_of_squares: optax.Updates


def scale_by_rss_eps_outside(initial_accumulator: float, eps: float) -> optax.GradientTransformation:
    """acc += g^2 (acc0 = initial_accumulator); u = g/(sqrt(acc) + eps): Adagrad with epsilon
    outside the sqrt (torch). optax.scale_by_rss puts it inside, with no switch."""

    def init(params: optax.Params) -> RssState:
        return RssState(jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator), params))

    def update(updates: optax.Updates, state: RssState, params: optax.Params | None = None):
        acc = jax.tree.map(lambda g, a: a + g * g, updates, state.sum_of_squares)
        out = jax.tree.map(lambda g, a: g / (jnp.sqrt(a) + eps), updates, acc)
        return out, RssState(acc)

    return optax.GradientTransformation(init, update)


class AdamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_adam_eps_hat(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; u = sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps):
    Adam with epsilon-hat (Keras, TF). optax.scale_by_adam has eps outside the bias-corrected sqrt."""

    def init(params: optax.Params) -> AdamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(updates: optax.Updates, state: AdamState, params: optax.Params | None = None):
        t = state.count + 1
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)

        def direction(m: jax.Array, v: jax.Array) -> jax.Array:
            tt = t.astype(m.dtype)
            factor = jnp.sqrt(1 - jnp.power(jnp.asarray(b2, m.dtype), tt)) / (
                1 - jnp.power(jnp.asarray(b1, m.dtype), tt)
            )
            return factor * m / (jnp.sqrt(v) + eps)

        return jax.tree.map(direction, mu, nu), AdamState(t, mu, nu)

    return optax.GradientTransformation(init, update)


def make_optimizer(opt: Optimizer) -> tuple[optax.GradientTransformation, str]:
    """The optax chain for the recipe's optimizer and a description of what it is."""
    opt.check()
    parts: list[tuple[optax.GradientTransformation, str]] = []
    if opt.weight_decay and not opt.decoupled:
        parts.append((optax.add_decayed_weights(opt.weight_decay), f"add_decayed_weights({opt.weight_decay})"))
    if opt.name == "sgd":
        if opt.momentum:
            parts.append((optax.trace(opt.momentum, opt.nesterov), f"trace({opt.momentum}, nesterov={opt.nesterov})"))
    elif opt.name == "adagrad":
        if opt.epsilon_mode == "inside":
            parts.append((optax.scale_by_rss(opt.initial_accumulator, opt.epsilon), "scale_by_rss"))
        else:
            parts.append(
                (
                    scale_by_rss_eps_outside(opt.initial_accumulator, opt.epsilon),
                    "hand-written scale_by_rss_eps_outside",
                )
            )
    elif opt.name == "rmsprop":
        inside = opt.epsilon_mode == "inside"
        rms = optax.scale_by_stddev if opt.centered else optax.scale_by_rms
        parts.append((rms(opt.rho, opt.epsilon, 0.0, eps_in_sqrt=inside), f"{rms.__name__}(eps_in_sqrt={inside})"))
        if opt.momentum:
            parts.append((optax.trace(opt.momentum), f"trace({opt.momentum})"))
    elif opt.epsilon_mode == "hat":
        parts.append((scale_by_adam_eps_hat(opt.beta1, opt.beta2, opt.epsilon), "hand-written scale_by_adam_eps_hat"))
    else:
        parts.append((optax.scale_by_adam(opt.beta1, opt.beta2, opt.epsilon), "scale_by_adam"))
    if opt.weight_decay and opt.decoupled:
        parts.append((optax.add_decayed_weights(opt.weight_decay), f"add_decayed_weights({opt.weight_decay})"))
    parts.append((optax.scale_by_learning_rate(opt.lr), "scale_by_learning_rate"))
    chain = optax.chain(*(t for t, _ in parts))
    return chain, f"optax.chain({', '.join(d for _, d in parts)})"
