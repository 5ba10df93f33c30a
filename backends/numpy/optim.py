"""Optimizers, learning-rate schedules and gradient clipping in NumPy: the reference for
every convention the recipe can name.

``step(params, grads)`` updates the parameter arrays in place with the learning rate
``self.lr`` (the schedule's value for this step, set by the model). Each class implements
one formula (its docstring); ``epsilon_mode`` and the weight-decay convention come from the
recipe's ``spec.recipe.Optimizer``; the schedule and clipping formulas are
``spec.recipe.Schedule`` and ``spec.recipe.Clip``.
"""

from __future__ import annotations

import math

import numpy as np
from netparity.spec.recipe import EPSILON_MODES, Clip, Optimizer, Schedule


class NpOptimizer:
    """Shared bookkeeping: step count, per-parameter slots, and weight decay.

    coupled:   g = g + wd*p                 (torch's weight_decay for SGD/Adagrad/RMSprop/Adam)
    decoupled: p = p - lr*wd*p, before the update (AdamW; every Keras optimizer)
    """

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt
        self.lr = opt.lr  # this step's learning rate (a schedule changes it between steps)
        self.t = 0  # steps taken, 1 on the first update
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self.flat: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # parameters, gradients: see ``step``

    def slot(self, name: str, kind: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        per = self.slots.setdefault(name, {})
        if kind not in per:
            per[kind] = np.full_like(like, fill)
        return per[kind]

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One update of every parameter. Every formula is elementwise, so all parameters are
        updated as one flat vector (each call on 10-100 small arrays costs more than the
        arithmetic) and copied back: the same numbers as one update per array."""
        o = self.opt
        self.t += 1
        if not grads:
            return
        name = ",".join(grads)  # the slots' key: one set of parameters, one flat vector
        p, g = self.flatten(name, params, grads)
        if o.weight_decay and o.decoupled:
            p -= self.lr * o.weight_decay * p
        elif o.weight_decay:
            g = g + o.weight_decay * p
        self.update(name, p, g)
        offset = 0
        for key in grads:
            arr = params[key]
            arr[...] = p[offset : offset + arr.size].reshape(arr.shape)
            offset += arr.size

    def flatten(
        self, name: str, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The parameters and the gradients named in ``grads``, each concatenated into a flat
        vector kept between steps."""
        if name not in self.flat:
            size = sum(v.size for v in grads.values())
            dtype = np.result_type(*(params[k] for k in grads), *grads.values())
            self.flat[name] = (np.empty(size, dtype), np.empty(size, dtype))
        p, g = self.flat[name]
        np.concatenate([params[k].reshape(-1) for k in grads], out=p)
        np.concatenate([v.reshape(-1) for v in grads.values()], out=g)
        return p, g

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(NpOptimizer):
    """v = momentum*v + g (v = g on the first step); p -= lr*(g + momentum*v if nesterov else v)."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        if o.momentum:
            first = name not in self.slots
            v = self.slot(name, "velocity", g)
            if first:
                v[...] = g
            else:
                v *= o.momentum
                v += g
            g = g + o.momentum * v if o.nesterov else v
        p -= self.lr * g


class Adagrad(NpOptimizer):
    """acc += g^2 (acc starts at initial_accumulator);
    p -= lr*g/(sqrt(acc) + eps)  ("outside")  or  p -= lr*g/sqrt(acc + eps)  ("inside")."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        acc = self.slot(name, "accumulator", g, o.initial_accumulator)
        acc += g * g
        den = np.sqrt(acc + o.epsilon) if o.epsilon_mode == "inside" else np.sqrt(acc) + o.epsilon
        p -= self.lr * g / den


class RMSprop(NpOptimizer):
    """s = rho*s + (1-rho)*g^2; centered: gbar = rho*gbar + (1-rho)*g, s' = s - gbar^2, else s' = s;
    den = sqrt(s') + eps ("outside") or sqrt(s' + eps) ("inside");
    momentum: b = momentum*b + g/den, p -= lr*b;  else p -= lr*g/den."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        s = self.slot(name, "square_avg", g)
        s *= o.rho
        s += (1 - o.rho) * g * g
        var = s
        if o.centered:
            gbar = self.slot(name, "grad_avg", g)
            gbar *= o.rho
            gbar += (1 - o.rho) * g
            var = s - gbar * gbar
        den = np.sqrt(var + o.epsilon) if o.epsilon_mode == "inside" else np.sqrt(var) + o.epsilon
        if o.momentum:
            b = self.slot(name, "momentum_buffer", g)
            b *= o.momentum
            b += g / den
            p -= self.lr * b
        else:
            p -= self.lr * g / den


class Adam(NpOptimizer):
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    "outside": p -= lr*(m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
    "hat":     p -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps)
    AdamW is this with decoupled weight decay (NpOptimizer.step)."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o, t = self.opt, self.t
        m = self.slot(name, "m", g)
        v = self.slot(name, "v", g)
        m *= o.beta1
        m += (1 - o.beta1) * g
        v *= o.beta2
        v += (1 - o.beta2) * g * g
        bc1, bc2 = 1 - o.beta1**t, 1 - o.beta2**t
        if o.epsilon_mode == "hat":
            p -= (self.lr * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + o.epsilon)
        else:
            p -= self.lr * (m / bc1) / (np.sqrt(v / bc2) + o.epsilon)


class Adadelta(NpOptimizer):
    """s = rho*s + (1-rho)*g^2; d = sqrt(u + eps)/sqrt(s + eps) * g; u = rho*u + (1-rho)*d^2;
    p -= lr*d."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        s = self.slot(name, "square_avg", g)
        u = self.slot(name, "acc_delta", g)
        s *= o.rho
        s += (1 - o.rho) * g * g
        d = np.sqrt(u + o.epsilon) / np.sqrt(s + o.epsilon) * g
        u *= o.rho
        u += (1 - o.rho) * d * d
        p -= self.lr * d


class Nadam(NpOptimizer):
    """mu_t = b1*(1 - 0.5*0.96^(t*psi)); P_t = mu_1*...*mu_t; m, v as in Adam;
    den = sqrt(v/(1-b2^t)) + eps; p -= lr*(1-mu_t)/(1-P_t) * g/den + lr*mu_{t+1}/(1-P_t*mu_{t+1}) * m/den."""

    def __init__(self, opt: Optimizer) -> None:
        super().__init__(opt)
        self.mu_product = 1.0
        self._product_step = 0

    def mu(self, t: int) -> float:
        o = self.opt
        return o.beta1 * (1 - 0.5 * 0.96 ** (t * o.momentum_decay))

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o, t = self.opt, self.t
        if self._product_step != t:  # once per step, shared by every parameter
            self.mu_product *= self.mu(t)
            self._product_step = t
        mu, mu_next = self.mu(t), self.mu(t + 1)
        m = self.slot(name, "m", g)
        v = self.slot(name, "v", g)
        m *= o.beta1
        m += (1 - o.beta1) * g
        v *= o.beta2
        v += (1 - o.beta2) * g * g
        den = np.sqrt(v / (1 - o.beta2**t)) + o.epsilon
        p -= self.lr * (1 - mu) / (1 - self.mu_product) * g / den
        p -= self.lr * mu_next / (1 - self.mu_product * mu_next) * m / den


class Adamax(NpOptimizer):
    """m = b1*m + (1-b1)*g; "max": u = max(b2*u, |g| + eps), p -= lr/(1-b1^t) * m/u;
    "outside": u = max(b2*u, |g|), p -= lr/(1-b1^t) * m/(u + eps)."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        m = self.slot(name, "m", g)
        u = self.slot(name, "u", g)
        m *= o.beta1
        m += (1 - o.beta1) * g
        if o.epsilon_mode == "max":
            np.maximum(o.beta2 * u, np.abs(g) + o.epsilon, out=u)
            den = u
        else:
            np.maximum(o.beta2 * u, np.abs(g), out=u)
            den = u + o.epsilon
        p -= self.lr / (1 - o.beta1**self.t) * m / den


OPTIMIZERS: dict[str, type[NpOptimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": Adam,
    "adadelta": Adadelta,
    "nadam": Nadam,
    "adamax": Adamax,
}


def describe(optimizer: NpOptimizer) -> str:
    """What ran, for the report: the class and the conventions the recipe chose."""
    o = optimizer.opt
    bits = [f"epsilon {o.epsilon_mode}"] if len(EPSILON_MODES[o.name]) > 1 else []
    if o.weight_decay:
        bits.append("decoupled decay" if o.decoupled else "coupled decay")
    name = "AdamW" if o.name == "adamw" else type(optimizer).__name__
    return f"numpy {name}" + (f" ({', '.join(bits)})" if bits else "")


def make_optimizer(opt: Optimizer) -> NpOptimizer:
    opt.check()
    return OPTIMIZERS[opt.name](opt)


class Scheduler:
    """The recipe's Schedule in plain Python (spec.recipe.Schedule.lr_at): k counts epochs
    (``per="epoch"``) or the optimizer steps already taken (``per="step"``)."""

    def __init__(self, schedule: Schedule | None, lr0: float) -> None:
        self.schedule, self.lr0 = schedule, lr0
        self.epoch = 0

    def lr(self, steps_taken: int) -> float:
        if self.schedule is None:
            return self.lr0
        k = self.epoch if self.schedule.per == "epoch" else steps_taken
        return self.schedule.lr_at(self.lr0, k)


def clip_gradients(clip: Clip | None, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """global:     g *= min(1, norm/(sqrt(sum of every g^2) + eps));
    per_tensor: g *= min(1, norm/(||g|| + eps)) for each tensor; value: g = clip(g, -value, value)."""
    if clip is None:
        return grads
    if clip.value is not None:
        return {k: np.clip(g, -clip.value, clip.value) for k, g in grads.items()}
    if clip.scope == "global":
        total = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
        scale = min(1.0, clip.norm / (total + clip.epsilon))
        return {k: g * scale for k, g in grads.items()}
    return {k: g * min(1.0, clip.norm / (float(np.sqrt(np.sum(g * g))) + clip.epsilon)) for k, g in grads.items()}
