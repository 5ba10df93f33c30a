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
  OutsideEpsAdamax Adamax with u = max(b2*u, |g|), p -= clr*m/(u + eps) (Keras/TF); torch
                   puts eps inside the max.
stock also: Adadelta, NAdam (momentum_decay is the recipe's psi; coupled or decoupled
decay), Adamax ("max").

Schedules are torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR, LinearLR,
SequentialLR), stepped after every optimizer step (per "step") or at every epoch's end
(per "epoch"). Clipping is torch.nn.utils (clip_grad_norm_, clip_grad_value_; see
clip_gradients for the recipe's epsilon).
"""

from __future__ import annotations

import math

import torch
from netparity.spec.recipe import Clip, Optimizer, Schedule


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


class OutsideEpsAdamax(torch.optim.Adamax):
    """Adamax with epsilon outside the max (Keras, TF ResourceApplyAdaMax): m = lerp(m, g, 1-b1);
    u = max(b2*u, |g|); p -= lr/(1-b1^t) * m/(u + eps). Coupled weight decay as in torch."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            (beta1, beta2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_inf"] = torch.zeros_like(p)
                state["step"] += 1
                m, u = state["exp_avg"], state["exp_inf"]
                m.lerp_(g, 1 - beta1)
                torch.maximum(u.mul_(beta2), g.abs(), out=u)
                p.addcdiv_(m, u.add(eps), value=-group["lr"] / (1 - beta1 ** state["step"]))


class Float64ProductNAdam(torch.optim.NAdam):
    """torch.optim.NAdam with its running product of mu_t kept in float64: torch keeps it in
    the default dtype (float32), which moves a float64 run by ~2e-9 within 100 steps."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if p.grad is not None and not state:  # what NAdam's _init_group makes, the product in float64
                    state["step"] = torch.tensor(0.0, dtype=torch.float32)
                    state["mu_product"] = torch.ones((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return super().step(closure)


class DecoupledDecayAdadelta(DecoupledDecay, torch.optim.Adadelta):
    """torch.optim.Adadelta after a decoupled weight-decay step."""


class DecoupledDecayAdamax(DecoupledDecay, torch.optim.Adamax):
    """torch.optim.Adamax after a decoupled weight-decay step."""


class DecoupledDecayOutsideEpsAdamax(DecoupledDecay, OutsideEpsAdamax):
    """OutsideEpsAdamax after a decoupled weight-decay step."""


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
    if opt.name == "adadelta":
        cls = DecoupledDecayAdadelta if opt.decoupled else torch.optim.Adadelta
        return cls(params, lr=opt.lr, rho=opt.rho, eps=opt.epsilon, foreach=False, **wd)
    betas = (opt.beta1, opt.beta2)
    if opt.name == "nadam":
        cls = Float64ProductNAdam if params and params[0].dtype == torch.float64 else torch.optim.NAdam
        return cls(
            params,
            lr=opt.lr,
            betas=betas,
            eps=opt.epsilon,
            weight_decay=opt.weight_decay,
            momentum_decay=opt.momentum_decay,
            decoupled_weight_decay=opt.decoupled,
            foreach=False,
        )
    if opt.name == "adamax":
        if opt.epsilon_mode == "max":
            cls = DecoupledDecayAdamax if opt.decoupled else torch.optim.Adamax
            return cls(params, lr=opt.lr, betas=betas, eps=opt.epsilon, foreach=False, **wd)
        cls = DecoupledDecayOutsideEpsAdamax if opt.decoupled else OutsideEpsAdamax
        return cls(params, lr=opt.lr, betas=betas, eps=opt.epsilon, **wd)
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


def make_scheduler(
    schedule: Schedule | None, optimizer: torch.optim.Optimizer
) -> tuple[torch.optim.lr_scheduler.LRScheduler | None, str]:
    """The recipe's schedule as torch.optim.lr_scheduler, and its name for the report.

    step: StepLR; exponential: ExponentialLR; cosine: CosineAnnealingLR; linear_warmup:
    LinearLR(start_factor, 1, warmup_steps), then (cosine) SequentialLR into CosineAnnealingLR."""
    if schedule is None:
        return None, ""
    sched = torch.optim.lr_scheduler
    s = schedule
    if s.name == "step":
        made = sched.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
    elif s.name == "exponential":
        made = sched.ExponentialLR(optimizer, gamma=s.gamma)
    elif s.name == "cosine":
        made = sched.CosineAnnealingLR(optimizer, T_max=s.t_max, eta_min=s.eta_min)
    else:
        warmup = sched.LinearLR(optimizer, start_factor=s.start_factor, end_factor=1.0, total_iters=s.warmup_steps)
        made = warmup
        if s.then == "cosine":
            cosine = sched.CosineAnnealingLR(optimizer, T_max=s.t_max, eta_min=s.eta_min)
            made = sched.SequentialLR(optimizer, [warmup, cosine], milestones=[s.warmup_steps])
    name = type(made).__name__
    if isinstance(made, sched.SequentialLR):
        name += "(" + ", ".join(type(x).__name__ for x in made._schedulers) + ")"
    return made, f"torch.optim.lr_scheduler.{name}, stepped per {s.per}"


#: the epsilon torch.nn.utils.clip_grads_with_norm_ adds to the norm (hard-coded in torch)
TORCH_CLIP_EPSILON = 1e-6


def clip_gradients(clip: Clip, params: list[torch.nn.Parameter]) -> None:
    """The recipe's clipping on the .grad of ``params``, with torch.nn.utils.

    value: clip_grad_value_. norm: clip_grad_norm_ computes g *= min(1, norm/(||g|| + 1e-6));
    for the recipe's epsilon it runs as get_total_norm + clip_grads_with_norm_ with the norm
    handed over as ||g|| + (epsilon - 1e-6), which torch's own + 1e-6 turns back into
    ||g|| + epsilon (exact up to one rounding). per_tensor: the same on each tensor alone."""
    utils = torch.nn.utils
    with_grad = [p for p in params if p.grad is not None]
    if clip.value is not None:
        utils.clip_grad_value_(with_grad, clip.value, foreach=False)
        return
    groups = [with_grad] if clip.scope == "global" else [[p] for p in with_grad]
    for group in groups:
        if clip.epsilon == TORCH_CLIP_EPSILON:
            utils.clip_grad_norm_(group, clip.norm, foreach=False)
        else:
            norm = utils.get_total_norm([p.grad for p in group], foreach=False)
            utils.clip_grads_with_norm_(group, clip.norm, norm + (clip.epsilon - TORCH_CLIP_EPSILON), foreach=False)


def describe_clip(clip: Clip) -> str:
    if clip.value is not None:
        return "torch.nn.utils.clip_grad_value_"
    how = "each tensor" if clip.scope == "per_tensor" else "all tensors"
    if clip.epsilon == TORCH_CLIP_EPSILON:
        return f"torch.nn.utils.clip_grad_norm_ over {how}"
    return f"torch.nn.utils.get_total_norm + clip_grads_with_norm_ over {how} (norm + epsilon - 1e-6)"
