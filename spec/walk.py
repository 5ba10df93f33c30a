"""The one tree walker: canonical layer names and input shapes, Residual blocks included.

A layer's canonical name is ``f"{prefix}{index}.{kind}"``: ``"2.dense"`` at the top level,
``"3.residual.1.dropout"`` inside a Residual. Its parameters are ``name + "." + param``.
Shape inference, Dropout sites, native defaults and every backend's builders name layers
through this module, so the rule is written once (:func:`layer_name`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netparity.spec.layers import Layer, Shape


def layer_name(prefix: str, index: int, layer: Layer) -> str:
    """The canonical name of the ``index``-th layer of a stack whose names start with ``prefix``."""
    return f"{prefix}{index}.{layer.kind}"


@dataclass(frozen=True)
class Site:
    """One layer of a model with its canonical name and its input shape (no batch axis)."""

    name: str
    layer: Layer
    in_shape: Shape

    @property
    def prefix(self) -> str:
        """Prefix of this layer's parameter names and of its inner layers' names."""
        return self.name + "."


def stack(layers: tuple[Layer, ...], in_shape: Shape, prefix: str = "") -> Iterator[Site]:
    """The layers of one stack (not inside their Residuals), each with its input shape."""
    shape = in_shape
    for index, layer in enumerate(layers):
        yield Site(layer_name(prefix, index, layer), layer, shape)
        shape = layer.output_shape(shape)


def walk(layers: tuple[Layer, ...], in_shape: Shape, prefix: str = "") -> Iterator[Site]:
    """Every layer, depth first: each Residual, then its inner layers, then what follows it."""
    for site in stack(layers, in_shape, prefix):
        yield site
        inner = site.layer.sublayers
        if inner:
            yield from walk(inner, site.in_shape, site.prefix)


def transform(layers: tuple[Layer, ...], change: Callable[[str, Layer], Layer], prefix: str = "") -> tuple:
    """The stack with ``change(name, layer)`` applied to every layer (inner layers first)."""
    out = []
    for index, layer in enumerate(layers):
        name = layer_name(prefix, index, layer)
        if layer.sublayers:
            layer = layer.with_sublayers(transform(layer.sublayers, change, name + "."))
        out.append(change(name, layer))
    return tuple(out)
