"""BatchNorm as keras.layers.BatchNormalization: its conventions already are the spec's
(momentum weights the old value, biased batch variance in the moving update)."""

from __future__ import annotations

import keras
from netparity.backends.keras.layers import Binder, Ctx, register
from netparity.spec import layers as L


@register(L.BatchNorm)
def batch_norm(layer: L.BatchNorm, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = keras.layers.BatchNormalization(
        axis=-1,
        momentum=layer.momentum,
        epsilon=layer.epsilon,
        dtype=ctx.dtype,
        name=ctx.prefix.rstrip(".").replace(".", "_"),
    )

    def binder():
        return [
            ctx.bind("gamma", native.gamma),
            ctx.bind("beta", native.beta),
            ctx.bind("moving_mean", native.moving_mean, trainable=False),
            ctx.bind("moving_var", native.moving_variance, trainable=False),
        ]

    return native, binder
