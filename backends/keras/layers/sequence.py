"""Embedding, PositionalEmbedding, LSTM and LayerNorm as Keras 3 layers."""

from __future__ import annotations

import keras
from netparity.backends.keras.layers import Binder, Ctx, register, regularizer
from netparity.spec import layers as L


def _name(ctx: Ctx) -> str:
    return ctx.prefix.rstrip(".").replace(".", "_")


@register(L.Embedding)
def embedding(layer: L.Embedding, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    # the engine's Embedding class: its table gradient is dense (backends/keras/engines)
    native = ctx.engine.embedding_class()(layer.vocab, layer.dim, dtype=ctx.dtype, name=_name(ctx))
    return native, lambda: [ctx.bind("embeddings", native.embeddings)]


@keras.saving.register_keras_serializable("netparity")
class PositionalEmbedding(keras.layers.Layer):
    """x + E[:T] with a learned (max_len, D) table: Keras has no layer for it."""

    def __init__(self, max_len: int, **kw) -> None:
        super().__init__(**kw)
        self.max_len = max_len

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight(shape=(self.max_len, input_shape[-1]), initializer="zeros", name="embeddings")

    def call(self, x):
        return x + self.embeddings[: keras.ops.shape(x)[1]]

    def get_config(self) -> dict:
        return {**super().get_config(), "max_len": self.max_len}


@register(L.PositionalEmbedding)
def positional_embedding(layer: L.PositionalEmbedding, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    native = PositionalEmbedding(layer.max_len, dtype=ctx.dtype, name=_name(ctx))
    return native, lambda: [ctx.bind("embeddings", native.embeddings)]


@keras.saving.register_keras_serializable("netparity")
class LSTMCellTwoBiases(keras.layers.LSTMCell):
    """keras.layers.LSTMCell with torch's second bias b_hh as a weight of its own (``recurrent_bias``):
    z = x W + h U + bias + recurrent_bias, then Keras's own fused gate step. Keras's LSTM has
    one bias, so torch's two-bias LSTM needs this named cell (spec LSTM recurrent_bias=true)."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.recurrent_bias = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="recurrent_bias")

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h_tm1, self.recurrent_kernel)
        z = z + self.bias + self.recurrent_bias
        c, o = self._compute_carry_and_output_fused(keras.ops.split(z, 4, axis=1), c_tm1)
        h = o * self.activation(c)
        return h, [h, c]


def _lstm_two_biases(layer: L.LSTM, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    cell = LSTMCellTwoBiases(
        layer.units,
        activation="tanh",
        recurrent_activation="sigmoid",
        kernel_regularizer=regularizer(ctx),
        recurrent_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
    )
    native = keras.layers.RNN(cell, return_sequences=layer.return_sequences, dtype=ctx.dtype, name=_name(ctx))

    def binder():
        return [
            ctx.bind("kernel", cell.kernel),
            ctx.bind("recurrent_kernel", cell.recurrent_kernel),
            ctx.bind("bias", cell.bias),
            ctx.bind("recurrent_bias", cell.recurrent_bias),
        ]

    return native, binder


@register(L.LSTM)
def lstm(layer: L.LSTM, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    if layer.recurrent_bias:
        return _lstm_two_biases(layer, ctx)
    # Same gate order (i, f, c, o) and one bias; the weights are loaded, so the initializers
    # (and unit_forget_bias) never act. use_cudnn=False keeps every device on the generic
    # kernel (the cuDNN one rounds differently); sigmoid recurrent activation, as canonical.
    native = keras.layers.LSTM(
        layer.units,
        activation="tanh",
        recurrent_activation="sigmoid",
        return_sequences=layer.return_sequences,
        use_cudnn=False,
        kernel_regularizer=regularizer(ctx),
        recurrent_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=_name(ctx),
    )

    def binder():
        cell = native.cell
        return [
            ctx.bind("kernel", cell.kernel),
            ctx.bind("recurrent_kernel", cell.recurrent_kernel),
            ctx.bind("bias", cell.bias),
        ]

    return native, binder


@register(L.LayerNorm)
def layer_norm(layer: L.LayerNorm, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    # epsilon always explicit: Keras defaults to 1e-3, torch to 1e-5 (docs/semantics.md §6)
    native = keras.layers.LayerNormalization(epsilon=layer.epsilon, dtype=ctx.dtype, name=_name(ctx))
    return native, lambda: [ctx.bind("gamma", native.gamma), ctx.bind("beta", native.beta)]
