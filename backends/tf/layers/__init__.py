"""tf.Module layers on raw tf.Variables: spec layer -> (callable(x, training), bindings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from netparity.backends.base import Binding, LayerRegistry
from netparity.backends.tf.layout import layout_for
from netparity.spec.layers import Layer, Shape


@dataclass
class Ctx:
    prefix: str  # canonical name prefix, e.g. "1.dense."
    in_shape: Shape
    dtype: tf.DType
    params: dict[str, np.ndarray]  # canonical initial values

    def variable(self, param: str, trainable: bool = True) -> tuple[tf.Variable, Binding]:
        """A tf.Variable holding canonical parameter ``prefix + param`` in native layout."""
        name = self.prefix + param
        layout = layout_for(name)
        var = tf.Variable(layout.to_native(self.params[name]), dtype=self.dtype, trainable=trainable, name=name)
        return var, Binding(name, var, layout, trainable)


TfLayer = Callable[..., tf.Tensor]  # layer(x, training) -> y
Builder = Callable[[Layer, Ctx], tuple[TfLayer, list[Binding]]]
REGISTRY = LayerRegistry("tf")
register: Callable[[type[Layer]], Callable[[Builder], Builder]] = REGISTRY.register


def build_layer(layer: Layer, ctx: Ctx) -> tuple[TfLayer, list[Binding]]:
    return REGISTRY.build(layer, ctx)


#: canonical activation -> TF op, given the layer spec (for leaky_relu's slope)
ACTIVATIONS: dict[str, Callable[[Layer], Callable[[tf.Tensor], tf.Tensor]]] = {
    "identity": lambda spec: tf.identity,
    "relu": lambda spec: tf.nn.relu,
    "sigmoid": lambda spec: tf.sigmoid,
    "tanh": lambda spec: tf.tanh,
    "elu": lambda spec: tf.nn.elu,
    "softmax": lambda spec: lambda x: tf.nn.softmax(x, axis=-1),
    "log_softmax": lambda spec: lambda x: tf.nn.log_softmax(x, axis=-1),
    "gelu": lambda spec: lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda spec: lambda x: tf.nn.gelu(x, approximate=True),
    "silu": lambda spec: tf.nn.silu,
    "leaky_relu": lambda spec: lambda x: tf.nn.leaky_relu(x, alpha=spec.negative_slope),
    "relu6": lambda spec: tf.nn.relu6,
    "selu": lambda spec: tf.nn.selu,
    "softplus": lambda spec: tf.math.softplus,
    "softsign": lambda spec: tf.nn.softsign,
    "hard_sigmoid": lambda spec: lambda x: tf.nn.relu6(x + 3.0) / 6.0,  # TF has no op: Keras's formula
    "hard_silu": lambda spec: lambda x: x * (tf.nn.relu6(x + 3.0) / 6.0),
}


def _gelu_float64(x: tf.Tensor) -> tf.Tensor:
    """tf.nn.gelu's own formula, x/2 * erfc(-x / sqrt(2)), with the constant kept in float64."""
    return 0.5 * x * tf.math.erfc(-x * tf.constant(0.7071067811865476, x.dtype))


def _gelu_tanh_float64(x: tf.Tensor) -> tf.Tensor:
    """tf.nn.gelu(approximate=True)'s formula with 0.044715 kept in float64."""
    inner = x + tf.constant(0.044715, x.dtype) * tf.pow(x, 3)
    return 0.5 * x * (1.0 + tf.tanh(tf.constant(0.7978845608028654, x.dtype) * inner))


#: In float64 these TF ops compute with a constant rounded to float32 (measured: gelu 5e-9,
#: gelu_tanh 9e-10, leaky_relu(0.01) 9e-9 absolute on [-40, 40]; docs/semantics.md, issue
#: 14): tf.nn.gelu does math_ops.cast(python float, float64), which goes through a float32
#: tensor, and LeakyRelu's alpha is a float32 attribute. The same formulas in TF ops with
#: float64 constants replace them there (the report's ``implementation`` says so).
FLOAT64_REPLACEMENTS: dict[str, tuple[str, Callable[[Layer], Callable[[tf.Tensor], tf.Tensor]]]] = {
    "gelu": ("tf.nn.gelu rounds 1/sqrt(2) to float32", lambda spec: _gelu_float64),
    "gelu_tanh": ("tf.nn.gelu rounds 0.044715 to float32", lambda spec: _gelu_tanh_float64),
    "leaky_relu": (
        "tf.nn.leaky_relu's alpha is a float32 attribute",
        lambda spec: lambda x: tf.where(x > 0, x, x * tf.constant(spec.negative_slope, x.dtype)),
    ),
}


def tf_activation(spec: Layer, dtype: tf.DType) -> Callable[[tf.Tensor], tf.Tensor]:
    """The spec's ``activation`` (None is the identity) as a function of TF tensors."""
    name = getattr(spec, "activation", None) or "identity"
    if dtype == tf.float64 and name in FLOAT64_REPLACEMENTS:
        return FLOAT64_REPLACEMENTS[name][1](spec)
    return ACTIVATIONS[name](spec)


def replaced_activations(spec, dtype: str) -> dict[str, str]:
    """``implementation`` entries for the activations a float64 model computes with
    replacement formulas (empty in float32 or when none is used)."""
    if dtype != "float64":
        return {}
    used = {getattr(site.layer, "activation", None) for site in spec.walk()}
    return {
        f"activation {name}": f"its formula in float64 TF ops ({why})"
        for name, (why, _) in FLOAT64_REPLACEMENTS.items()
        if name in used
    }


from netparity.backends.tf.layers import attention, conv, core, dropout, gru, norm, roots, sequence, temporal  # noqa: E402,F401  (registers the builders)
