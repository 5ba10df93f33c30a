"""The recipe's optimizer on TensorFlow's own training kernels (tf.raw_ops.ResourceApply*).

Each update runs inside the compiled train step; slots are tf.Variables created up front,
hyper-parameters are constants in the run's dtype (never rounded through float32).

Where a kernel's formula is not literally the recipe's, an exact rewrite feeds it:
  Adagrad "inside"  sqrt(acc + eps) == sqrt(acc') with acc' started at initial + eps:
                    ResourceApplyAdagradV2 with epsilon = 0.
  Adam "outside"    lr*m_hat/(sqrt(v_hat) + eps) == lr_t*m/(sqrt(v) + eps*sqrt(1-b2^t)):
                    ResourceApplyAdam (epsilon-hat form) with epsilon_t = eps*sqrt(1-b2^t).
  decoupled decay   var -= lr*wd*var in tf ops before the kernel (AdamW = that + Adam).
  coupled decay     g += wd*var before the kernel.
No kernel puts epsilon outside the square root of RMSProp's mean square, so RMSprop
"outside" with epsilon > 0 is written in tf ops (TfOpsRMSprop); so is RMSprop with momentum
under a schedule (the kernels keep lr inside the momentum buffer, the recipe outside).
Adadelta is ResourceApplyAdadelta, Adamax "outside" ResourceApplyAdaMax; Adamax "max"
(TfOpsAdamax) and Nadam (TfOpsNadam: no kernel has the mu_t schedule; ResourceApplyAdam's
use_nesterov is a different, schedule-free rule) are tf ops.

TensorFlow's only schedule functions (tf.compat.v1.train.*_decay) are legacy tf.keras code
without linear warmup, so the schedule (spec.recipe.Schedule) is written in tf ops
(``schedule_lr``) and evaluated inside the compiled step; clipping is TF's own
tf.clip_by_global_norm / tf.clip_by_norm / tf.clip_by_value (``clip_gradients``).
"""

from __future__ import annotations

import math

import tensorflow as tf
from netparity.spec.recipe import Clip, Optimizer, Schedule


class RawOptimizer:
    """Shared: constants, slots, the step counter and weight decay; ``kernel`` names what ran."""

    kernel = ""

    def __init__(
        self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule: Schedule | None = None
    ) -> None:
        self.opt, self.dtype, self.schedule = opt, dtype, schedule
        self.lr0 = self.const(opt.lr)
        self.lr = self.lr0  # this step's learning rate (set at the start of apply)
        self.wd = self.const(opt.weight_decay)
        self.t = tf.Variable(0.0 if dtype.is_floating else 0, dtype=dtype, trainable=False, name="step")
        self.epoch = tf.Variable(0.0, dtype=dtype, trainable=False, name="epoch")

    def const(self, value: float) -> tf.Tensor:
        return tf.constant(value, self.dtype)

    def slots(self, variables: list[tf.Variable], fill: float = 0.0) -> list[tf.Variable]:
        return [tf.Variable(tf.fill(tf.shape(v), self.const(fill)), trainable=False) for v in variables]

    def scheduled_lr(self) -> tf.Tensor:
        """The learning rate of the next step: lr0, or the schedule at k = epoch or steps taken."""
        if self.schedule is None:
            return self.lr0
        k = self.epoch if self.schedule.per == "epoch" else self.t
        return schedule_lr(self.schedule, self.lr0, tf.convert_to_tensor(k))

    def apply(self, variables: list[tf.Variable], grads: list[tf.Tensor]) -> None:
        self.lr = self.scheduled_lr()
        self.t.assign_add(self.const(1.0))
        for i, (var, g) in enumerate(zip(variables, grads, strict=True)):
            if self.opt.weight_decay and self.opt.decoupled:
                var.assign_sub(self.lr * self.wd * var)
            elif self.opt.weight_decay:
                g = g + self.wd * var
            self.update(i, var, g)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        raise NotImplementedError


class RawSGD(RawOptimizer):
    """ResourceApplyGradientDescent, or ResourceApplyMomentum (accum = mu*accum + g;
    var -= lr*accum; nesterov: var -= lr*(g + mu*accum)): torch's convention, with accum
    starting at 0 so its first value is g."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.momentum = self.const(opt.momentum)
        self.kernel = "ResourceApplyMomentum" if opt.momentum else "ResourceApplyGradientDescent"
        if opt.momentum:
            self.accum = self.slots(variables)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        if self.opt.momentum:
            tf.raw_ops.ResourceApplyMomentum(
                var=var.handle,
                accum=self.accum[i].handle,
                lr=self.lr,
                grad=g,
                momentum=self.momentum,
                use_nesterov=self.opt.nesterov,
            )
        else:
            tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=self.lr, delta=g)


class RawAdagrad(RawOptimizer):
    """ResourceApplyAdagradV2: accum += g^2; var -= lr*g/(sqrt(accum) + epsilon)."""

    kernel = "ResourceApplyAdagradV2"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        inside = opt.epsilon_mode == "inside"
        self.accum = self.slots(variables, opt.initial_accumulator + (opt.epsilon if inside else 0.0))
        self.epsilon = self.const(0.0 if inside else opt.epsilon)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyAdagradV2(
            var=var.handle, accum=self.accum[i].handle, lr=self.lr, epsilon=self.epsilon, grad=g
        )


class RawRMSprop(RawOptimizer):
    """ResourceApply(Centered)RMSProp: ms = rho*ms + (1-rho)*g^2 [mg = rho*mg + (1-rho)*g];
    mom = mu*mom + lr*g/sqrt(ms [- mg^2] + eps); var -= mom (lr inside the buffer: the same
    update as torch's buf = mu*buf + g/den, p -= lr*buf for a constant lr)."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.kernel = "ResourceApplyCenteredRMSProp" if opt.centered else "ResourceApplyRMSProp"
        self.rho, self.momentum, self.epsilon = self.const(opt.rho), self.const(opt.momentum), self.const(opt.epsilon)
        self.ms, self.mom = self.slots(variables), self.slots(variables)
        if opt.centered:
            self.mg = self.slots(variables)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        common = dict(
            var=var.handle,
            ms=self.ms[i].handle,
            mom=self.mom[i].handle,
            lr=self.lr,
            rho=self.rho,
            momentum=self.momentum,
            epsilon=self.epsilon,
            grad=g,
        )
        if self.opt.centered:
            tf.raw_ops.ResourceApplyCenteredRMSProp(mg=self.mg[i].handle, **common)
        else:
            tf.raw_ops.ResourceApplyRMSProp(**common)


class TfOpsRMSprop(RawRMSprop):
    """RMSprop in tf ops, for what no kernel computes: epsilon outside the square root
    (torch), or momentum with lr outside the buffer under a schedule.
    s = rho*s + (1-rho)*g^2; [gbar = rho*gbar + (1-rho)*g; s' = s - gbar^2];
    den = sqrt(s') + eps (or sqrt(s' + eps) "inside"); momentum: buf = mu*buf + g/den,
    var -= lr*buf; else var -= lr*g/den."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        why = "epsilon outside the sqrt" if opt.epsilon_mode == "outside" else "lr outside the momentum buffer"
        self.kernel = f"none: tf ops (no kernel has {why})"

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        ms = self.ms[i]
        ms.assign(self.rho * ms + (1 - self.rho) * tf.square(g))
        mean_square = ms
        if self.opt.centered:
            mg = self.mg[i]
            mg.assign(self.rho * mg + (1 - self.rho) * g)
            mean_square = ms - tf.square(mg)
        if self.opt.epsilon_mode == "inside":
            step = g / tf.sqrt(mean_square + self.epsilon)
        else:
            step = g / (tf.sqrt(mean_square) + self.epsilon)
        if self.opt.momentum:
            self.mom[i].assign(self.momentum * self.mom[i] + step)
            step = self.mom[i]
        var.assign_sub(self.lr * step)


class RawAdam(RawOptimizer):
    """ResourceApplyAdam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m, v as usual;
    var -= lr_t*m/(sqrt(v) + epsilon_t), epsilon_t = eps ("hat") or eps*sqrt(1-b2^t) ("outside")."""

    kernel = "ResourceApplyAdam"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.beta1, self.beta2, self.epsilon = self.const(opt.beta1), self.const(opt.beta2), self.const(opt.epsilon)
        self.m, self.v = self.slots(variables), self.slots(variables)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        beta1_power, beta2_power = tf.pow(self.beta1, self.t), tf.pow(self.beta2, self.t)
        epsilon = self.epsilon
        if self.opt.epsilon_mode == "outside":
            epsilon = self.epsilon * tf.sqrt(1 - beta2_power)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=self.m[i].handle,
            v=self.v[i].handle,
            beta1_power=beta1_power,
            beta2_power=beta2_power,
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=epsilon,
            grad=g,
        )


class RawAdadelta(RawOptimizer):
    """ResourceApplyAdadelta: accum = rho*accum + (1-rho)*g^2;
    update = sqrt(accum_update + eps)/sqrt(accum + eps) * g; var -= lr*update;
    accum_update = rho*accum_update + (1-rho)*update^2."""

    kernel = "ResourceApplyAdadelta"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.rho, self.epsilon = self.const(opt.rho), self.const(opt.epsilon)
        self.accum, self.accum_update = self.slots(variables), self.slots(variables)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyAdadelta(
            var=var.handle,
            accum=self.accum[i].handle,
            accum_update=self.accum_update[i].handle,
            lr=self.lr,
            rho=self.rho,
            epsilon=self.epsilon,
            grad=g,
        )


class RawAdamax(RawOptimizer):
    """ResourceApplyAdaMax ("outside"): m += (g - m)*(1-b1); v = max(b2*v, |g|);
    var -= lr/(1-b1^t) * m/(v + eps)."""

    kernel = "ResourceApplyAdaMax"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.beta1, self.beta2, self.epsilon = self.const(opt.beta1), self.const(opt.beta2), self.const(opt.epsilon)
        self.m, self.v = self.slots(variables), self.slots(variables)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyAdaMax(
            var=var.handle,
            m=self.m[i].handle,
            v=self.v[i].handle,
            beta1_power=tf.pow(self.beta1, self.t),
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=self.epsilon,
            grad=g,
        )


class TfOpsAdamax(RawAdamax):
    """Adamax "max" (torch) in tf ops: u = max(b2*u, |g| + eps); var -= lr/(1-b1^t) * m/u."""

    kernel = "none: tf ops (ResourceApplyAdaMax adds epsilon outside the max)"

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        m, u = self.m[i], self.v[i]
        m.assign(self.beta1 * m + (1 - self.beta1) * g)
        u.assign(tf.maximum(self.beta2 * u, tf.abs(g) + self.epsilon))
        var.assign_sub(self.lr / (1 - tf.pow(self.beta1, self.t)) * m / u)


class TfOpsNadam(RawOptimizer):
    """Nadam in tf ops (no kernel has Dozat's mu_t schedule):
    mu_t = b1*(1 - 0.5*0.96^(t*psi)); P_t = P_{t-1}*mu_t; m, v as in Adam;
    den = sqrt(v/(1-b2^t)) + eps; var -= lr*(1-mu_t)/(1-P_t)*g/den + lr*mu_{t+1}/(1-P_t*mu_{t+1})*m/den."""

    kernel = "none: tf ops (no kernel has Nadam's mu_t schedule)"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule=None) -> None:
        super().__init__(opt, variables, dtype, schedule)
        self.beta1, self.beta2, self.epsilon = self.const(opt.beta1), self.const(opt.beta2), self.const(opt.epsilon)
        self.psi, self.decay = self.const(opt.momentum_decay), self.const(0.96)
        self.m, self.v = self.slots(variables), self.slots(variables)
        self.mu_product = tf.Variable(self.const(1.0), trainable=False, name="mu_product")

    def mu(self, t: tf.Tensor) -> tf.Tensor:
        return self.beta1 * (1 - 0.5 * tf.pow(self.decay, t * self.psi))

    def apply(self, variables: list[tf.Variable], grads: list[tf.Tensor]) -> None:
        self.mu_product.assign(self.mu_product * self.mu(self.t + 1))  # P_t, once per step
        super().apply(variables, grads)

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        t, product = self.t, self.mu_product
        mu, mu_next = self.mu(t), self.mu(t + 1)
        m, v = self.m[i], self.v[i]
        m.assign(self.beta1 * m + (1 - self.beta1) * g)
        v.assign(self.beta2 * v + (1 - self.beta2) * tf.square(g))
        den = tf.sqrt(v / (1 - tf.pow(self.beta2, t))) + self.epsilon
        var.assign_sub(self.lr * (1 - mu) / (1 - product) * g / den)
        var.assign_sub(self.lr * mu_next / (1 - product * mu_next) * m / den)


def make_optimizer(
    opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType, schedule: Schedule | None = None
) -> RawOptimizer:
    opt.check()
    args = (opt, variables, dtype, schedule)
    if opt.name == "sgd":
        return RawSGD(*args)
    if opt.name == "adagrad":
        return RawAdagrad(*args)
    if opt.name == "rmsprop":
        exact_kernel = opt.epsilon_mode == "inside" or opt.epsilon == 0
        lr_in_buffer = opt.momentum and schedule is not None  # the kernels' momentum holds lr*g/den
        return (RawRMSprop if exact_kernel and not lr_in_buffer else TfOpsRMSprop)(*args)
    if opt.name == "adadelta":
        return RawAdadelta(*args)
    if opt.name == "adamax":
        return (RawAdamax if opt.epsilon_mode == "outside" else TfOpsAdamax)(*args)
    if opt.name == "nadam":
        return TfOpsNadam(*args)
    return RawAdam(*args)


def describe(optimizer: RawOptimizer) -> str:
    """What ran, for the report: the kernel and how the recipe's decay reached it."""
    o = optimizer.opt
    text = optimizer.kernel if optimizer.kernel.startswith("none") else f"tf.raw_ops.{optimizer.kernel}"
    if o.weight_decay:
        text += " after decoupled decay in tf ops" if o.decoupled else " with coupled decay (g += wd*var)"
    return text


def schedule_lr(s: Schedule, lr0: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    """spec.recipe.Schedule in tf ops: the learning rate at k (epochs or steps taken)."""
    dtype = lr0.dtype

    def c(value: float) -> tf.Tensor:
        return tf.constant(value, dtype)

    def cosine(k: tf.Tensor) -> tf.Tensor:
        eta = c(s.eta_min)
        phase = tf.minimum(k, c(s.t_max)) / c(s.t_max)
        return eta + (lr0 - eta) * (1 + tf.cos(c(math.pi) * phase)) / 2

    if s.name == "step":
        return lr0 * tf.pow(c(s.gamma), tf.floor(k / c(s.step_size)))
    if s.name == "exponential":
        return lr0 * tf.pow(c(s.gamma), k)
    if s.name == "cosine":
        return cosine(k)
    w, f = c(s.warmup_steps), c(s.start_factor)
    after = cosine(tf.maximum(k - w, c(0.0))) if s.then == "cosine" else lr0
    return tf.where(k < w, lr0 * (f + (1 - f) * k / w), after)


def clip_gradients(clip: Clip, grads: list[tf.Tensor], dtype: tf.DType) -> list[tf.Tensor]:
    """spec.recipe.Clip with TensorFlow's clipping ops: tf.clip_by_value; tf.clip_by_global_norm
    (global: scale = min(1, norm/||all g||)); tf.clip_by_norm (per tensor). A non-zero epsilon
    is handed to clip_by_global_norm as its use_norm = ||g|| + epsilon (per tensor too)."""
    if clip.value is not None:
        v = tf.constant(clip.value, dtype)
        return [tf.clip_by_value(g, -v, v) for g in grads]
    norm, eps = tf.constant(clip.norm, dtype), tf.constant(clip.epsilon, dtype)
    if clip.scope == "global":
        use_norm = tf.linalg.global_norm(grads) + eps if clip.epsilon else None
        return tf.clip_by_global_norm(grads, norm, use_norm=use_norm)[0]
    if not clip.epsilon:
        return [tf.clip_by_norm(g, norm) for g in grads]
    return [tf.clip_by_global_norm([g], norm, use_norm=tf.norm(g) + eps)[0][0] for g in grads]


def describe_clip(clip: Clip) -> str:
    if clip.value is not None:
        return "tf.clip_by_value"
    if clip.scope == "global":
        return "tf.clip_by_global_norm" + (" (use_norm = global_norm + epsilon)" if clip.epsilon else "")
    return "tf.clip_by_global_norm per tensor (use_norm = norm + epsilon)" if clip.epsilon else "tf.clip_by_norm"
