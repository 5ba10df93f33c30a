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
  adadelta        optax.scale_by_adadelta (the same formula as spec.recipe / torch)
  nadam           scale_by_nadam_psi (hand-written): optax's nesterov Adam has a constant mu = b1,
                  the recipe's mu_t = b1*(1 - 0.5*0.96^(t*psi)) with their product P_t
  adamax          max:     optax.scale_by_adamax: u = max(b2*u, |g| + eps)
                  outside: scale_by_adamax_eps_outside (hand-written): m_hat/(max(b2*u, |g|) + eps)

The learning rate is an optax.inject_hyperparams hyper-parameter when a schedule sets it each
step; clipping (clip_transform) comes first in the chain, before coupled decay.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from netparity.spec.recipe import Clip, Optimizer, Schedule


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


def zero_moments(params: optax.Params) -> AdamState:
    """Step 0 and zero first and second moments: the initial state of both Adam-like updates below."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return AdamState(jnp.zeros([], jnp.int32), zeros, zeros)


def scale_by_adam_eps_hat(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; u = sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps):
    Adam with epsilon-hat (Keras, TF). optax.scale_by_adam has eps outside the bias-corrected sqrt."""

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

    return optax.GradientTransformation(zero_moments, update)


class NadamState(NamedTuple):
    count: jax.Array
    mu_product: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_nadam_psi(b1: float, b2: float, eps: float, psi: float) -> optax.GradientTransformation:
    """mu_t = b1*(1 - 0.5*0.96^(t*psi)); P_t = mu_1*...*mu_t; m, v as Adam; den = sqrt(v/(1-b2^t)) + eps;
    u = (1-mu_t)/(1-P_t) * g/den + mu_{t+1}/(1-P_t*mu_{t+1}) * m/den  (torch NAdam, Keras Nadam).
    optax.nadam is the psi -> infinity case (mu_t = b1, P_t = b1^t)."""

    def init(params: optax.Params) -> NadamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        dtype = jax.tree.leaves(params)[0].dtype
        return NadamState(jnp.zeros([], jnp.int32), jnp.ones([], dtype), zeros, zeros)

    def update(updates: optax.Updates, state: NadamState, params: optax.Params | None = None):
        t = state.count + 1
        tt = t.astype(state.mu_product.dtype)
        mu_t = b1 * (1 - 0.5 * jnp.power(0.96, tt * psi))
        mu_next = b1 * (1 - 0.5 * jnp.power(0.96, (tt + 1) * psi))
        product = state.mu_product * mu_t
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g * g, updates, state.nu)
        bc2 = 1 - jnp.power(b2, tt)

        def direction(g: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            den = jnp.sqrt(v / bc2) + eps
            return (1 - mu_t) / (1 - product) * g / den + mu_next / (1 - product * mu_next) * m / den

        return jax.tree.map(direction, updates, mu, nu), NadamState(t, product, mu, nu)

    return optax.GradientTransformation(init, update)


def scale_by_adamax_eps_outside(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """m = b1*m + (1-b1)*g; u = max(b2*u, |g|); out = m/(1-b1^t) / (u + eps): Adamax with epsilon
    outside the max (Keras, TF). optax.scale_by_adamax puts it inside the max (torch)."""

    def update(updates: optax.Updates, state: AdamState, params: optax.Params | None = None):
        t = state.count + 1
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, u: jnp.maximum(b2 * u, jnp.abs(g)), updates, state.nu)

        def direction(m: jax.Array, u: jax.Array) -> jax.Array:
            return m / (1 - jnp.power(jnp.asarray(b1, m.dtype), t.astype(m.dtype))) / (u + eps)

        return jax.tree.map(direction, mu, nu), AdamState(t, mu, nu)

    return optax.GradientTransformation(zero_moments, update)


def clip_by_norm_eps(norm: float, eps: float, per_tensor: bool) -> optax.GradientTransformation:
    """global: g *= min(1, norm/(||all g|| + eps)); per_tensor: g *= min(1, norm/(||g|| + eps)).
    optax.clip_by_global_norm is the global case with eps 0 and has no per-tensor form."""

    def scale(total: jax.Array) -> jax.Array:
        return jnp.minimum(1.0, norm / (total + eps))

    def update(updates: optax.Updates, state: optax.EmptyState, params: optax.Params | None = None):
        if per_tensor:
            return jax.tree.map(lambda g: g * scale(jnp.sqrt(jnp.sum(g * g))), updates), state
        factor = scale(optax.tree.norm(updates))
        return jax.tree.map(lambda g: g * factor, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def clip_transform(clip: Clip) -> tuple[optax.GradientTransformation, str]:
    """The recipe's Clip (spec.recipe.Clip) as the first transformation of the chain."""
    if clip.value is not None:
        return optax.clip(clip.value), f"clip({clip.value})"
    if clip.scope == "global" and clip.epsilon == 0:
        return optax.clip_by_global_norm(clip.norm), f"clip_by_global_norm({clip.norm})"
    return (
        clip_by_norm_eps(clip.norm, clip.epsilon, clip.scope == "per_tensor"),
        f"hand-written clip_by_norm_eps({clip.norm}, {clip.scope}, eps={clip.epsilon})",
    )


def lr_schedule(schedule: Schedule, lr0: float) -> optax.Schedule:
    """The recipe's Schedule (spec.recipe.Schedule.lr_at) as an optax schedule of k (epochs or steps)."""
    if schedule.name == "step":
        return optax.exponential_decay(lr0, schedule.step_size, schedule.gamma, staircase=True)
    if schedule.name == "exponential":
        return optax.exponential_decay(lr0, 1, schedule.gamma)

    def cosine() -> optax.Schedule:
        if not lr0:  # optax's alpha is eta_min / lr0
            return optax.constant_schedule(0.0)
        return optax.cosine_decay_schedule(lr0, schedule.t_max, schedule.eta_min / lr0)

    if schedule.name == "cosine":
        return cosine()
    warmup = optax.linear_schedule(lr0 * schedule.start_factor, lr0, schedule.warmup_steps)
    then = optax.constant_schedule(lr0) if schedule.then == "constant" else cosine()
    return optax.join_schedules([warmup, then], [schedule.warmup_steps])


def make_optimizer(
    opt: Optimizer, clip: Clip | None = None, scheduled: bool = False
) -> tuple[optax.GradientTransformation, str]:
    """The optax chain for the recipe's optimizer (clipping first) and a description of what it
    is; ``scheduled``: the learning rate is an inject_hyperparams value the model sets each step."""
    opt.check()
    if scheduled:
        inner = optax.inject_hyperparams(lambda learning_rate: _chain(opt, clip, learning_rate)[0])
        return inner(learning_rate=opt.lr), "optax.inject_hyperparams(" + _chain(opt, clip, opt.lr)[1] + ")"
    return _chain(opt, clip, opt.lr)


def _chain(opt: Optimizer, clip: Clip | None, lr) -> tuple[optax.GradientTransformation, str]:
    parts: list[tuple[optax.GradientTransformation, str]] = []
    if clip is not None:
        parts.append(clip_transform(clip))
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
    elif opt.name == "adadelta":
        parts.append((optax.scale_by_adadelta(opt.rho, opt.epsilon), "scale_by_adadelta"))
    elif opt.name == "nadam":
        parts.append(
            (
                scale_by_nadam_psi(opt.beta1, opt.beta2, opt.epsilon, opt.momentum_decay),
                f"hand-written scale_by_nadam_psi(psi={opt.momentum_decay})",
            )
        )
    elif opt.name == "adamax":
        if opt.epsilon_mode == "max":
            parts.append((optax.scale_by_adamax(opt.beta1, opt.beta2, opt.epsilon), "scale_by_adamax"))
        else:
            parts.append(
                (
                    scale_by_adamax_eps_outside(opt.beta1, opt.beta2, opt.epsilon),
                    "hand-written scale_by_adamax_eps_outside",
                )
            )
    elif opt.epsilon_mode == "hat":
        parts.append((scale_by_adam_eps_hat(opt.beta1, opt.beta2, opt.epsilon), "hand-written scale_by_adam_eps_hat"))
    else:
        parts.append((optax.scale_by_adam(opt.beta1, opt.beta2, opt.epsilon), "scale_by_adam"))
    if opt.weight_decay and opt.decoupled:
        parts.append((optax.add_decayed_weights(opt.weight_decay), f"add_decayed_weights({opt.weight_decay})"))
    parts.append((optax.scale_by_learning_rate(lr), "scale_by_learning_rate"))
    chain = optax.chain(*(t for t, _ in parts))
    return chain, f"optax.chain({', '.join(d for _, d in parts)})"
