"""GRU as keras.layers.GRU: its gate order (z, r, h) is the canonical one, and so are both reset conventions."""

from __future__ import annotations

import keras
from netparity.backends.base import IDENTITY, Binding
from netparity.backends.keras.layers import Binder, Ctx, register, regularizer
from netparity.spec import layers as L


@register(L.GRU)
def gru(layer: L.GRU, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    # The weights are loaded, so the initializers never act; use_cudnn=False keeps every device
    # on the generic kernel (the cuDNN one rounds differently); sigmoid recurrent activation, as canonical.
    native = keras.layers.GRU(
        layer.units,
        activation="tanh",
        recurrent_activation="sigmoid",
        return_sequences=layer.return_sequences,
        reset_after=layer.reset_after,
        use_cudnn=False,
        kernel_regularizer=regularizer(ctx),
        recurrent_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=ctx.prefix.rstrip(".").replace(".", "_"),
    )

    def binder() -> list[Binding]:
        cell = native.cell
        binds = [ctx.bind("kernel", cell.kernel), ctx.bind("recurrent_kernel", cell.recurrent_kernel)]
        if not layer.reset_after:
            return [*binds, ctx.bind("bias", cell.bias)]
        # reset_after: one (2, 3H) bias variable, row 0 the input bias, row 1 the recurrent one
        return [
            *binds,
            Binding(ctx.prefix + "bias", cell.bias, IDENTITY, part=(0,)),
            Binding(ctx.prefix + "recurrent_bias", cell.bias, IDENTITY, part=(1,)),
        ]

    return native, binder
