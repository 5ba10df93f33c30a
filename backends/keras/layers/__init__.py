"""Keras layer builders: spec layer -> (native keras layer, binder).

Keras creates weights only when a layer is built, so a builder returns a ``binder`` that,
called after the Sequential is built, lists the layer's canonical bindings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from netparity.backends.base import Binding, LayerRegistry
from netparity.backends.keras.engines import Engine
from netparity.backends.keras.layout import layout_for
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


def keras_activation(name: str | None) -> str:
    """Canonical activation name -> Keras's (softmax over the last axis in both)."""
    return {None: "linear", "identity": "linear"}.get(name, name)


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


from netparity.backends.keras.layers import attention, conv, core, dropout, norm, roots, sequence  # noqa: E402,F401  (registers the builders)
