"""The recipe's optimizer as torch.optim, configured explicitly; subclasses where no argument
of the stock optimizer gives the recipe's formula.

stock:  SGD (coupled decay), Adagrad (epsilon outside; "inside" via a shifted accumulator,
        see below), RMSprop (epsilon outside), Adam (epsilon outside, coupled or decoupled
        decay), AdamW.
subclasses (torch ops, torch's own bookkeeping):
  DecoupledDecay*  p -= lr*wd*p before the stock step (torch has decoupled decay only in
                   Adam/AdamW).
  HatEpsilonAdam   torch.optim.Adam whose eps is set each step to eps/sqrt(1-b2^t): torch's
                   lr*m_hat/(sqrt(v_hat) + eps_t) is then exactly Keras/TF's epsilon-hat form
                   lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps).
  InsideEpsRMSprop RMSprop with den = sqrt(s + eps) (Keras/TF); torch has no such switch.
"""

from __future__ import annotations

import math

import torch
from netparity.spec.recipe import Optimizer


class DecoupledDecay:
    """Mixin: decoupled weight decay p -= lr*wd*p before the wrapped optimizer's step,
    which itself runs with weight_decay=0."""

    def __init__(self, params, *, decoupled_wd: float, **kw) -> None:
        super().__init__(params, **kw)
        self.decoupled_wd = decoupled_wd

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p, alpha=-group["lr"] * self.decoupled_wd)
        return super().step(closure)


class DecoupledDecaySGD(DecoupledDecay, torch.optim.SGD):
    """torch.optim.SGD after a decoupled weight-decay step."""


class DecoupledDecayAdagrad(DecoupledDecay, torch.optim.Adagrad):
    """torch.optim.Adagrad after a decoupled weight-decay step."""


class HatEpsilonAdam(torch.optim.Adam):
    """torch.optim.Adam with Keras/TF's epsilon-hat: eps_t = eps/sqrt(1 - b2^t) each step."""

    def __init__(self, params, *, eps: float, **kw) -> None:
        super().__init__(params, eps=eps, **kw)
        self.eps_hat = eps

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta2 = group["betas"][1]
            t = 1 + next((int(self.state[p]["step"]) for p in group["params"] if self.state[p]), 0)
            group["eps"] = self.eps_hat / math.sqrt(1 - beta2**t)
        return super().step(closure)


class InsideEpsRMSprop(torch.optim.RMSprop):
    """RMSprop with epsilon inside the square root (Keras, TF ResourceApplyRMSProp):
    s = a*s + (1-a)*g^2; [centered: gbar = lerp(gbar, g, 1-a); s' = s - gbar^2];
    den = sqrt(s' + eps); momentum: buf = mu*buf + g/den, p -= lr*buf; else p -= lr*g/den.
    Coupled weight decay as in torch (g += wd*p)."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            alpha, eps, mu, wd = group["alpha"], group["eps"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    state["grad_avg"] = torch.zeros_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                s = state["square_avg"]
                s.mul_(alpha).addcmul_(g, g, value=1 - alpha)
                if group["centered"]:
                    gbar = state["grad_avg"].lerp_(g, 1 - alpha)
                    den = s.addcmul(gbar, gbar, value=-1).add_(eps).sqrt_()
                else:
                    den = s.add(eps).sqrt_()
                if mu > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(mu).addcdiv_(g, den)
                    p.add_(buf, alpha=-group["lr"])
                else:
                    p.addcdiv_(g, den, value=-group["lr"])


class DecoupledDecayRMSprop(DecoupledDecay, torch.optim.RMSprop):
    """torch.optim.RMSprop after a decoupled weight-decay step."""


class DecoupledDecayInsideEpsRMSprop(DecoupledDecay, InsideEpsRMSprop):
    """InsideEpsRMSprop after a decoupled weight-decay step."""


def make_optimizer(opt: Optimizer, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    opt.check()
    # foreach=False: the single-tensor path on every device, so CPU and GPU round alike
    wd = dict(weight_decay=0.0, decoupled_wd=opt.weight_decay) if opt.decoupled else dict(weight_decay=opt.weight_decay)
    if opt.name == "sgd":
        cls = DecoupledDecaySGD if opt.decoupled else torch.optim.SGD
        return cls(params, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov, dampening=0.0, foreach=False, **wd)
    if opt.name == "adagrad":
        # "inside": sqrt(acc + eps) == sqrt(acc') with acc' = acc + eps, i.e. the stock
        # optimizer with the accumulator started at initial + eps and eps = 0
        inside = opt.epsilon_mode == "inside"
        cls = DecoupledDecayAdagrad if opt.decoupled else torch.optim.Adagrad
        return cls(
            params,
            lr=opt.lr,
            lr_decay=0.0,
            initial_accumulator_value=opt.initial_accumulator + (opt.epsilon if inside else 0.0),
            eps=0.0 if inside else opt.epsilon,
            foreach=False,
            **wd,
        )
    if opt.name == "rmsprop":
        kw = dict(lr=opt.lr, alpha=opt.rho, eps=opt.epsilon, momentum=opt.momentum, centered=opt.centered)
        if opt.epsilon_mode == "inside":
            cls = DecoupledDecayInsideEpsRMSprop if opt.decoupled else InsideEpsRMSprop
        else:
            cls = DecoupledDecayRMSprop if opt.decoupled else torch.optim.RMSprop
            kw["foreach"] = False
        return cls(params, **kw, **wd)
    # adam / adamw: torch's own decoupled_weight_decay flag covers both decay conventions
    kw = dict(lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.epsilon, weight_decay=opt.weight_decay, foreach=False)
    if opt.epsilon_mode == "hat":
        return HatEpsilonAdam(params, decoupled_weight_decay=opt.decoupled, **kw)
    if opt.name == "adamw":
        return torch.optim.AdamW(params, **kw)
    return torch.optim.Adam(params, decoupled_weight_decay=opt.decoupled, **kw)


def describe(optimizer: torch.optim.Optimizer) -> str:
    """What ran, for the report: the stock class, or the subclass and the class it extends."""
    cls = type(optimizer)
    if cls.__module__.startswith("torch.optim"):
        return f"torch.optim.{cls.__name__}"
    stock = next(b for b in cls.__mro__ if b.__module__.startswith("torch.optim"))
    return f"torch subclass {cls.__name__} of torch.optim.{stock.__name__}"
