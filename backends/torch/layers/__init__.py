"""PyTorch layer builders: spec layer -> (nn.Module, bindings of its canonical parameters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netparity.backends.base import Binding, LayerRegistry
from netparity.backends.torch.layout import layout_for
from netparity.spec.layers import Layer, Shape
from torch import nn


@dataclass
class Ctx:
    """What a builder needs besides the layer: where it sits and the numeric setup."""

    prefix: str  # canonical name prefix, e.g. "1.dense."
    in_shape: Shape
    dtype: object  # torch dtype
    device: object


Builder = Callable[[Layer, Ctx], tuple[nn.Module, list[Binding]]]
REGISTRY = LayerRegistry("torch")
register: Callable[[type[Layer]], Callable[[Builder], Builder]] = REGISTRY.register


def bind(ctx: Ctx, param: str, native: object, **kw: object) -> Binding:
    """Bind canonical ``ctx.prefix + param`` to a native tensor with the torch layout map."""
    name = ctx.prefix + param
    return Binding(name, native, layout_for(name), **kw)


def build_layer(layer: Layer, ctx: Ctx) -> tuple[nn.Module, list[Binding]]:
    return REGISTRY.build(layer, ctx)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": lambda: nn.ELU(alpha=1.0),
    "softmax": lambda: ChannelSoftmax(),
}


class ChannelSoftmax(nn.Softmax):
    """Softmax over the canonical last axis: the channels, which torch holds at dim 1 of an image."""

    def __init__(self) -> None:
        super().__init__(dim=-1)

    def forward(self, x):
        return x.softmax(1) if x.dim() == 4 else x.softmax(-1)


from netparity.backends.torch.layers import attention, conv, core, dropout, norm, roots, sequence  # noqa: E402,F401  (registers the builders)
