"""The recipe's optimizer on TensorFlow's own training kernels (tf.raw_ops.ResourceApply*).

Each update runs inside the compiled train step; slots are tf.Variables created up front.
"""

from __future__ import annotations

import tensorflow as tf

from spec.recipe import Optimizer


class RawSGD:
    """ResourceApplyGradientDescent, or ResourceApplyMomentum (accum = mu*accum + g;
    var -= lr*accum; nesterov: var -= lr*(g + mu*accum)) - torch's convention, with
    accum starting at 0 so its first value is g. weight_decay: coupled, g += wd*var."""

    kernel = "ResourceApplyGradientDescent"

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> None:
        self.opt = opt
        self.lr = tf.constant(opt.lr, dtype)
        self.momentum = tf.constant(opt.momentum, dtype)
        self.wd = tf.constant(opt.weight_decay, dtype)
        if opt.momentum:
            self.kernel = "ResourceApplyMomentum"
            self.accum = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply(self, variables: list[tf.Variable], grads: list[tf.Tensor]) -> None:
        for i, (var, g) in enumerate(zip(variables, grads, strict=True)):
            if self.opt.weight_decay:
                g = g + self.wd * var
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


def make_optimizer(opt: Optimizer, variables: list[tf.Variable], dtype: tf.DType) -> RawSGD:
    if opt.name == "sgd":
        return RawSGD(opt, variables, dtype)
    raise NotImplementedError(f"the tf backend has no {opt.name!r} optimizer")
