"""SelfAttention as keras.layers.MultiHeadAttention inside a one-input wrapper."""

from __future__ import annotations

import keras
import numpy as np
from netparity.backends.base import Binding
from netparity.backends.keras.layers import Binder, Ctx, register, regularizer
from netparity.backends.keras.layout import attention_layout
from netparity.spec import layers as L


@keras.saving.register_keras_serializable("netparity")
class SelfAttention(keras.layers.Layer):
    """mha(x, x) with Keras's causal mask: a Sequential passes one input, MHA wants two."""

    def __init__(self, mha: keras.layers.MultiHeadAttention, causal: bool, **kw) -> None:
        super().__init__(**kw)
        self.mha, self.causal = mha, causal

    def build(self, input_shape) -> None:
        self.mha.build(input_shape, input_shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, x, training=None):
        return self.mha(x, x, use_causal_mask=self.causal, training=training)


@keras.saving.register_keras_serializable("netparity")
class ExplicitSoftmaxMultiHeadAttention(keras.layers.MultiHeadAttention):
    """keras.layers.MultiHeadAttention that always takes its explicit path (einsum, masked
    softmax, einsum in keras.ops), never the fused ``ops.dot_product_attention``.

    On JAX the fused path is ``jax.nn.dot_product_attention``, whose softmax is "always
    carried out in fp32": a float64 model's attention weights would be rounded to float32
    (3e-8 relative after the attention block of `attention`; docs/semantics.md, Keras engines
    and JAX). Asking for the attention scores is what selects the explicit path."""

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        return super()._compute_attention(
            query, key, value, attention_mask, training, return_attention_scores=True, use_causal_mask=use_causal_mask
        )


@register(L.SelfAttention)
def self_attention(layer: L.SelfAttention, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    d = ctx.in_shape[-1]
    key_dim, value_dim = layer.head_dims(d)
    name = ctx.prefix.rstrip(".").replace(".", "_")
    cls = ctx.engine.attention_class(ctx.dtype)
    if ctx.engine.name == "jax" and value_dim != key_dim:
        # Keras-jax's fused jax.nn.dot_product_attention path reshapes the output with the key
        # head size and fails when value_dim differs ("cannot reshape array of shape (48, 5, 3, 1, 5)")
        cls = ExplicitSoftmaxMultiHeadAttention
    mha = cls(
        layer.heads,
        key_dim=key_dim,
        value_dim=value_dim,
        use_bias=layer.use_bias,
        kernel_regularizer=regularizer(ctx),
        dtype=ctx.dtype,
        name=f"{name}_mha",
    )
    # Keras keeps 1/sqrt(key_dim) as a Python float and the TF backend applies it with
    # tf.cast(scale, dtype), which makes a float32 tensor first: in float64 the scale would be
    # rounded to float32 (2e-8 relative for key_dim 8; docs/semantics.md §1.8). A float64 scalar casts exactly.
    mha._inverse_sqrt_key_dim = np.float64(1.0 / np.sqrt(key_dim))
    native = SelfAttention(mha, layer.causal, dtype=ctx.dtype, name=name)

    def binder() -> list[Binding]:
        dense = {"q": mha.query_dense, "k": mha.key_dense, "v": mha.value_dense, "o": mha.output_dense}
        binds = []
        for p, sub in dense.items():
            binds.append(Binding(ctx.prefix + f"w{p}", sub.kernel, attention_layout(f"w{p}", layer.heads)))
            if p != "k" and layer.use_bias:
                binds.append(Binding(ctx.prefix + f"b{p}", sub.bias, attention_layout(f"b{p}", layer.heads)))
        if layer.use_bias:
            # MultiHeadAttention's key bias has no canonical counterpart (spec.layers.SelfAttention): zero, frozen
            mha.key_dense.bias.assign(np.zeros(mha.key_dense.bias.shape, dtype=ctx.dtype))
            mha.key_dense.bias.trainable = False
        return binds

    return native, binder
