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


ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "identity": tf.identity,
    "relu": tf.nn.relu,
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "elu": tf.nn.elu,
    "softmax": lambda x: tf.nn.softmax(x, axis=-1),
}

from netparity.backends.tf.layers import attention, conv, core, dropout, norm, roots, sequence  # noqa: E402,F401  (registers the builders)
