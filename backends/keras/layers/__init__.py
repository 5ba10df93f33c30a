"""Keras layer builders: spec layer -> (native keras layer, binder).

Keras creates weights only when a layer is built, so a builder returns a ``binder`` that,
called after the Sequential is built, lists the layer's canonical bindings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from netparity.backends.base import Binding, LayerRegistry
from netparity.backends.keras.engines import Engine
from netparity.backends.keras.layout import layout_for
from netparity.spec import layers as L
from netparity.spec.layers import Layer, Shape
from netparity.spec.recipe import Recipe

Binder = Callable[[], list[Binding]]


@dataclass
class Ctx:
    prefix: str  # canonical name prefix, e.g. "1.dense."
    in_shape: Shape
    dtype: str
    recipe: Recipe
    engine: Engine

    def bind(self, param: str, variable: keras.Variable, trainable: bool = True) -> Binding:
        name = self.prefix + param
        return Binding(name, variable, layout_for(name), trainable)


Builder = Callable[[Layer, Ctx], tuple[keras.layers.Layer, Binder]]
REGISTRY = LayerRegistry("keras")
register: Callable[[type[Layer]], Callable[[Builder], Builder]] = REGISTRY.register


def build_layer(layer: Layer, ctx: Ctx) -> tuple[keras.layers.Layer, Binder]:
    return REGISTRY.build(layer, ctx)


def keras_activation(spec: Layer, dtype: str) -> str | Callable:
    """The spec's ``activation`` as Keras's own (softmax and log_softmax over the last axis in both).

    In float64, gelu, gelu_tanh and leaky_relu are their formulas in keras.ops with float64
    constants: on the TF backend keras.activations.gelu and leaky_relu call tf.nn.gelu and
    tf.nn.leaky_relu, which round a constant to float32 (tf.layers.FLOAT64_REPLACEMENTS).
    Their constants get the input's dtype explicitly: Keras-torch's ``convert_to_tensor``
    makes any Python float, np.float64 included (a float subclass), a floatx tensor.
    """
    name = getattr(spec, "activation", None)
    if dtype == "float64" and name in float64_replacements():
        return float64_replacements()[name](spec)
    if name == "gelu":  # keras.activations.gelu defaults to the exact form (keras.ops.gelu does not)
        return functools.partial(keras.activations.gelu, approximate=False)
    if name == "gelu_tanh":
        return functools.partial(keras.activations.gelu, approximate=True)
    if name == "leaky_relu":  # Keras's default slope is 0.2 (torch's 0.01): always explicit
        return functools.partial(keras.activations.leaky_relu, negative_slope=spec.negative_slope)
    return {None: "linear", "identity": "linear"}.get(name, name)


def _gelu(x):
    """x/2 * (1 + erf(x / sqrt(2)))."""
    return (
        0.5 * x * (1.0 + keras.ops.erf(x * keras.ops.convert_to_tensor(np.float64(0.7071067811865476), dtype=x.dtype)))
    )


def _gelu_tanh(x):
    """x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    c, k = (keras.ops.convert_to_tensor(np.float64(v), dtype=x.dtype) for v in (0.7978845608028654, 0.044715))
    return 0.5 * x * (1.0 + keras.ops.tanh(c * (x + k * x * x * x)))


FLOAT64_REPLACEMENTS: dict[str, Callable[[Layer], Callable]] = {
    "gelu": lambda spec: _gelu,
    "gelu_tanh": lambda spec: _gelu_tanh,
    "leaky_relu": lambda spec: (
        lambda x: keras.ops.where(
            x > 0, x, x * keras.ops.convert_to_tensor(np.float64(spec.negative_slope), dtype=x.dtype)
        )
    ),
}


def _hard_sigmoid(x):
    """relu6(x + 3) / 6, by autograd: Keras-torch's hard_sigmoid is torch's Hardsigmoid, whose
    backward multiplies by a float32 1/6 (3e-8 relative in float64; docs/semantics.md §14)."""
    three, six = (keras.ops.convert_to_tensor(np.float64(v), dtype=x.dtype) for v in (3.0, 6.0))
    return keras.ops.relu6(x + three) / six


#: float64 replacements needed on one Keras engine only
ENGINE_FLOAT64_REPLACEMENTS: dict[str, dict[str, Callable[[Layer], Callable]]] = {
    "torch": {"hard_sigmoid": lambda spec: _hard_sigmoid},
}


def float64_replacements() -> dict[str, Callable[[Layer], Callable]]:
    """FLOAT64_REPLACEMENTS plus those of the engine this process runs Keras on."""
    return {**FLOAT64_REPLACEMENTS, **ENGINE_FLOAT64_REPLACEMENTS.get(keras.config.backend(), {})}


def replacements(spec, dtype: str, engine: str) -> dict[str, str]:
    """``implementation`` entries for what runs in named replacements rather than Keras's own
    layers: FLOAT64_REPLACEMENTS in float64, the two-bias LSTM cell, and the engine's
    stand-ins (conv.needs_channels_first_conv, 'same' average pooling on torch)."""
    from netparity.backends.keras.layers.conv import needs_channels_first_conv

    sites = list(spec.walk())
    layers = [site.layer for site in sites]
    notes = {}
    if dtype == "float64":
        used = {getattr(layer, "activation", None) for layer in layers}
        notes.update(
            {
                f"activation {name}": "its formula in float64 keras.ops (the stock op rounds a constant to float32)"
                for name in float64_replacements()
                if name in used
            }
        )
    if any(getattr(layer, "recurrent_bias", False) is True for layer in layers):
        notes["LSTM recurrent_bias"] = "keras.layers.RNN(LSTMCellTwoBiases): LSTMCell with a second bias weight"
    for site in sites:
        layer = site.layer
        if isinstance(layer, L.Conv2D) and needs_channels_first_conv(layer, site.in_shape, dtype, engine):
            notes[f"{site.name} Conv2D"] = (
                "ChannelsFirstConv2D: keras.ops.conv in NCHW (torch's float64 backward fails on Keras's channels_last weight)"
            )
        if isinstance(layer, L.AvgPool2D) and layer.padding == "same" and engine == "torch":
            notes[f"{site.name} AvgPool2D"] = (
                "AveragePoolingTFSame: TF's 'same' average (Keras on torch averages padded windows differently)"
            )
    return notes


@keras.saving.register_keras_serializable("netparity")
class ExactL2(keras.regularizers.L2):
    """Keras L2 (l2 * sum(w^2)) with l2 converted straight to the weight's dtype.

    Stock L2 does ``ops.cast(self.l2, x.dtype)``, which makes a float32 tensor first, so a
    float64 run would use l2 rounded to float32 (1e-3 -> 1.0000000475e-3; docs/semantics.md §1.8).
    """

    def __call__(self, x):
        return keras.ops.convert_to_tensor(self.l2, dtype=x.dtype) * keras.ops.sum(keras.ops.square(x))


def regularizer(ctx: Ctx) -> keras.regularizers.Regularizer | None:
    """The recipe's l2 as a Keras kernel regularizer (gradient 2*l2*w): same formula as ours."""
    return ExactL2(ctx.recipe.l2) if ctx.recipe.l2 else None


from netparity.backends.keras.layers import attention, conv, core, dropout, gru, norm, roots, sequence, temporal  # noqa: E402,F401  (registers the builders)
