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
"outside" with epsilon > 0 is written in tf ops (TfOpsRMSprop).
"""

from __future__ import annotations

import tensorflow as tf
from netparity.spec.recipe import Optimizer


class RawOptimizer:
    """Shared: constants, slots, the step counter and weight decay; ``kernel`` names what ran."""

    kernel = ""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        self.opt, self.dtype = opt, dtype
        self.lr = self.const(opt.lr)
        self.wd = self.const(opt.weight_decay)
        self.t = tf.Variable(0.0 if dtype.is_floating else 0, dtype=dtype, trainable=False, name="step")

    def const(self, value: float) -> tf.Tensor:
        return tf.constant(value, self.dtype)

    def slots(self, variables: list[tf.Variable], fill: float = 0.0) -> list[tf.Variable]:
        return [tf.Variable(tf.fill(tf.shape(v), self.const(fill)), trainable=False) for v in variables]

    def apply(self, variables: list[tf.Variable], grads: list[tf.Tensor]) -> None:
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

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        super().__init__(opt, variables, dtype)
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

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        super().__init__(opt, variables, dtype)
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

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        super().__init__(opt, variables, dtype)
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
    """RMSprop with epsilon outside the square root (torch), in tf ops: no kernel has it.
    s = rho*s + (1-rho)*g^2; [gbar = rho*gbar + (1-rho)*g; s' = s - gbar^2];
    den = sqrt(s') + eps; momentum: buf = mu*buf + g/den, var -= lr*buf; else var -= lr*g/den."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        super().__init__(opt, variables, dtype)
        self.kernel = "none: tf ops (no kernel puts epsilon outside the sqrt)"

    def update(self, i: int, var: tf.Variable, g: tf.Tensor) -> None:
        ms = self.ms[i]
        ms.assign(self.rho * ms + (1 - self.rho) * tf.square(g))
        mean_square = ms
        if self.opt.centered:
            mg = self.mg[i]
            mg.assign(self.rho * mg + (1 - self.rho) * g)
            mean_square = ms - tf.square(mg)
        step = g / (tf.sqrt(mean_square) + self.epsilon)
        if self.opt.momentum:
            self.mom[i].assign(self.momentum * self.mom[i] + step)
            step = self.mom[i]
        var.assign_sub(self.lr * step)


class RawAdam(RawOptimizer):
    """ResourceApplyAdam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m, v as usual;
    var -= lr_t*m/(sqrt(v) + epsilon_t), epsilon_t = eps ("hat") or eps*sqrt(1-b2^t) ("outside")."""

    kernel = "ResourceApplyAdam"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        super().__init__(opt, variables, dtype)
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


def make_optimizer(opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> RawOptimizer:
    opt.check()
    if opt.name == "sgd":
        return RawSGD(opt, variables, dtype)
    if opt.name == "adagrad":
        return RawAdagrad(opt, variables, dtype)
    if opt.name == "rmsprop":
        exact_kernel = opt.epsilon_mode == "inside" or opt.epsilon == 0
        return (RawRMSprop if exact_kernel else TfOpsRMSprop)(opt, variables, dtype)
    return RawAdam(opt, variables, dtype)


def describe(optimizer: RawOptimizer) -> str:
    """What ran, for the report: the kernel and how the recipe's decay reached it."""
    o = optimizer.opt
    text = optimizer.kernel if optimizer.kernel.startswith("none") else f"tf.raw_ops.{optimizer.kernel}"
    if o.weight_decay:
        text += " after decoupled decay in tf ops" if o.decoupled else " with coupled decay (g += wd*var)"
    return text
