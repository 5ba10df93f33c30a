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
    "log_softmax": lambda x: jax.nn.log_softmax(x, axis=-1),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),  # x * Phi(x), erf form
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "silu": jax.nn.silu,
    "relu6": jax.nn.relu6,
    "selu": jax.nn.selu,  # Klambauer et al.'s alpha and scale, as spec'd
    "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign,
    "hard_sigmoid": jax.nn.hard_sigmoid,  # relu6(x + 3) / 6
    "hard_silu": jax.nn.hard_silu,  # x * hard_sigmoid(x)
}


def activation(name: str | None, negative_slope: float = 0.01) -> Callable[[jax.Array], jax.Array]:
    """The jax.nn function for a canonical activation (leaky_relu takes the layer's slope)."""
    if name == "leaky_relu":
        return lambda x: jax.nn.leaky_relu(x, negative_slope)
    return ACTIVATIONS[name]


from netparity.backends.jax.layers import attention, conv, core, gru, norm, roots, sequence  # noqa: E402,F401  (registers the builders)
