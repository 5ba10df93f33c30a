"""The recipe's loss (spec.recipe.Loss) in TensorFlow ops, mean over every element."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from netparity.spec.recipe import Loss

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def make_loss(loss: Loss) -> tuple[LossFn, str]:
    """The loss function (out, y) -> scalar and what it is, for the report."""
    if loss.name == "mse":
        return lambda out, y: tf.reduce_mean(tf.square(out - y)), "tf.square"
    if loss.name == "mae":
        return lambda out, y: tf.reduce_mean(tf.abs(out - y)), "tf.abs"
    if loss.name == "huber":
        # tf.compat.v1.losses.huber_loss reduces in float32 even for float64 inputs: tf ops here
        delta = loss.delta

        def huber(out: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            a = tf.abs(out - y)
            quadratic = tf.minimum(a, delta)  # the part of |d| inside delta
            return tf.reduce_mean(0.5 * tf.square(quadratic) + delta * (a - quadratic))

        return huber, f"tf ops (huber, delta={delta})"
    if loss.name == "bce":
        if loss.from_logits:
            return (
                lambda z, y: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)),
                "tf.nn.sigmoid_cross_entropy_with_logits",
            )
        # tf.compat.v1.losses.log_loss adds 1e-7 inside both logs: the plain formula in tf ops
        return (
            lambda p, y: -tf.reduce_mean(y * tf.math.log(p) + (1 - y) * tf.math.log1p(-p)),
            "tf ops (y log p + (1-y) log(1-p))",
        )
    s = loss.label_smoothing
    if not loss.from_logits:  # probabilities (the model ends in softmax)
        return (
            lambda p, y: -tf.reduce_mean(tf.math.log(tf.gather(p, y, axis=1, batch_dims=1))),
            "tf ops (-log p[label])",
        )
    if not s:
        return (
            lambda z, y: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)),
            "tf.nn.sparse_softmax_cross_entropy_with_logits",
        )

    def smoothed(z: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        k = tf.shape(z)[-1]
        q = tf.one_hot(y, k, dtype=z.dtype) * (1 - s) + s / tf.cast(k, z.dtype)
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=q, logits=z))

    return smoothed, f"tf.nn.softmax_cross_entropy_with_logits on labels smoothed by {s}"
