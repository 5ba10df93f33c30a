"""JAX layer builders: spec layer -> a pure function ``apply(params, x, run) -> y``.

``params`` is the model's whole canonical pytree (name -> array); a layer reads its own
entries by canonical name. ``run`` carries what a call shares: training mode, the Dropout
masks, the BatchNorm state read and the state written (functional: collected, returned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from netparity.backends.base import LayerRegistry
from netparity.spec.layers import Layer, Shape

Params = dict[str, jax.Array]


@dataclass
class Run:
    """One call of the model (inside a traced function)."""

    training: bool
    masks: dict[str, jax.Array] = field(default_factory=dict)
    state: dict[str, jax.Array] = field(default_factory=dict)
    new_state: dict[str, jax.Array] = field(default_factory=dict)
    key: jax.Array | None = None  # for Dropout without a shared mask (the framework's own RNG)


Apply = Callable[[Params, jax.Array, Run], jax.Array]


@dataclass
class Ctx:
    prefix: str  # canonical name prefix, e.g. "1.dense."
    in_shape: Shape
    dtype: str
    dropouts: list[str]  # canonical names of every Dropout, shared by the whole model

    def name(self, param: str) -> str:
        return self.prefix + param


REGISTRY = LayerRegistry("jax")
register: Callable[[type[Layer]], Callable[[Any], Any]] = REGISTRY.register


def build_layer(layer: Layer, ctx: Ctx) -> Apply:
    return REGISTRY.build(layer, ctx)


ACTIVATIONS: dict[str | None, Callable[[jax.Array], jax.Array]] = {
    None: lambda x: x,
    "identity": lambda x: x,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
}


from netparity.backends.jax.layers import attention, conv, core, norm, roots, sequence  # noqa: E402,F401  (registers the builders)
