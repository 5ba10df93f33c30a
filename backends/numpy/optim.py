"""Optimizers in NumPy, the reference for every convention the recipe can name.

``step(params, grads)`` updates the parameter arrays in place. Each class implements one
formula (its docstring); ``epsilon_mode`` and the weight-decay convention come from the
recipe's ``spec.recipe.Optimizer``.
"""

from __future__ import annotations

import math

import numpy as np
from netparity.spec.recipe import Optimizer


class NpOptimizer:
    """Shared bookkeeping: step count, per-parameter slots, and weight decay.

    coupled:   g = g + wd*p                 (torch's weight_decay for SGD/Adagrad/RMSprop/Adam)
    decoupled: p = p - lr*wd*p, before the update (AdamW; every Keras optimizer)
    """

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt
        self.t = 0  # steps taken, 1 on the first update
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def slot(self, name: str, kind: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        per = self.slots.setdefault(name, {})
        if kind not in per:
            per[kind] = np.full_like(like, fill)
        return per[kind]

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        o = self.opt
        self.t += 1
        for name, g in grads.items():
            p = params[name]
            if o.weight_decay and o.decoupled:
                p -= o.lr * o.weight_decay * p
            elif o.weight_decay:
                g = g + o.weight_decay * p
            self.update(name, p, g)

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
        p -= o.lr * g


class Adagrad(NpOptimizer):
    """acc += g^2 (acc starts at initial_accumulator);
    p -= lr*g/(sqrt(acc) + eps)  ("outside")  or  p -= lr*g/sqrt(acc + eps)  ("inside")."""

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        o = self.opt
        acc = self.slot(name, "accumulator", g, o.initial_accumulator)
        acc += g * g
        den = np.sqrt(acc + o.epsilon) if o.epsilon_mode == "inside" else np.sqrt(acc) + o.epsilon
        p -= o.lr * g / den


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
            p -= o.lr * b
        else:
            p -= o.lr * g / den


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
            p -= (o.lr * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + o.epsilon)
        else:
            p -= o.lr * (m / bc1) / (np.sqrt(v / bc2) + o.epsilon)


OPTIMIZERS: dict[str, type[NpOptimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": Adam,
}


def describe(optimizer: NpOptimizer) -> str:
    """What ran, for the report: the class and the conventions the recipe chose."""
    o = optimizer.opt
    bits = [f"epsilon {o.epsilon_mode}"] if o.name != "sgd" else []
    if o.weight_decay:
        bits.append("decoupled decay" if o.decoupled else "coupled decay")
    name = "AdamW" if o.name == "adamw" else type(optimizer).__name__
    return f"numpy {name}" + (f" ({', '.join(bits)})" if bits else "")


def make_optimizer(opt: Optimizer) -> NpOptimizer:
    opt.check()
    return OPTIMIZERS[opt.name](opt)
