"""PyTorch layer builders: spec layer -> (nn.Module, bindings of its canonical parameters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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


#: canonical activation -> torch module, given the layer spec and the channel dim (softmax axis)
ACTIVATIONS: dict[str, Callable[[Layer, int], nn.Module]] = {
    "identity": lambda spec, dim: nn.Identity(),
    "relu": lambda spec, dim: nn.ReLU(),
    "sigmoid": lambda spec, dim: nn.Sigmoid(),
    "tanh": lambda spec, dim: nn.Tanh(),
    "elu": lambda spec, dim: nn.ELU(alpha=1.0),
    "softmax": lambda spec, dim: nn.Softmax(dim=dim),
    "log_softmax": lambda spec, dim: nn.LogSoftmax(dim=dim),
    "gelu": lambda spec, dim: nn.GELU(approximate="none"),
    "gelu_tanh": lambda spec, dim: nn.GELU(approximate="tanh"),
    "silu": lambda spec, dim: nn.SiLU(),
    "leaky_relu": lambda spec, dim: nn.LeakyReLU(spec.negative_slope),
    "relu6": lambda spec, dim: nn.ReLU6(),
    "selu": lambda spec, dim: nn.SELU(),
    # nn.Softplus returns x itself above `threshold` (default 20): 2e-9 from log(1 + e^x) in
    # value and slope at x = 20, above float64 rounding. Above 40, e^-x < 2^-57: exact.
    "softplus": lambda spec, dim: nn.Softplus(beta=1.0, threshold=40.0),
    "softsign": lambda spec, dim: nn.Softsign(),
    "hard_sigmoid": lambda spec, dim: nn.Hardsigmoid(),
    "hard_silu": lambda spec, dim: nn.Hardswish(),
}


class HardsigmoidFloat64(nn.Module):
    """relu6(x + 3) / 6 by autograd: nn.Hardsigmoid's backward multiplies by 1.0f / 6.0f, a
    float32 constant (aten/src/ATen/native/cpu/Activation.cpp), 3e-8 off in float64."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class HardswishFloat64(nn.Module):
    """x * relu6(x + 3) / 6 by autograd: nn.Hardswish's CUDA kernel multiplies by 1.0f / 6.0f
    (aten/src/ATen/native/cuda/ActivationHardswishKernel.cu; read, not measured: no GPU here).
    Its CPU kernels compute the formula (measured 1.5e-16 in float64), so CPU runs nn.Hardswish."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


#: activation -> (replacement, device types where torch's op rounds a constant to float32):
#: these run instead of torch's module in float64 models on those devices
FLOAT64_REPLACEMENTS: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
    "hard_sigmoid": (HardsigmoidFloat64, ("cpu", "cuda")),  # CPU backward measured 3.0e-8 off
    "hard_silu": (HardswishFloat64, ("cuda",)),
}


def _replacement(name: str | None, dtype: torch.dtype, device: torch.device) -> type[nn.Module] | None:
    replacement, devices = FLOAT64_REPLACEMENTS.get(name, (None, ()))
    return replacement if dtype == torch.float64 and torch.device(device).type in devices else None


def activation_module(spec: Layer, ctx: Ctx, dim: int = -1) -> nn.Module | None:
    """The spec's activation as a torch module (None for none or identity); ``dim`` is the
    channel dimension softmax and log_softmax normalize over (1 for NCHW images)."""
    name = getattr(spec, "activation", None)
    if name in (None, "identity"):
        return None
    replacement = _replacement(name, ctx.dtype, ctx.device)
    return replacement() if replacement else ACTIVATIONS[name](spec, dim)


def with_activation(module: nn.Module, spec: Layer, ctx: Ctx, dim: int = -1) -> nn.Module:
    """``module`` followed by the spec's activation, if it has one."""
    act = activation_module(spec, ctx, dim)
    return module if act is None else nn.Sequential(module, act)


def replacements(spec, dtype: torch.dtype, device: torch.device) -> dict[str, str]:
    """``implementation`` entries for what runs in hand-written modules rather than torch's
    own: FLOAT64_REPLACEMENTS, and the reset-before GRU nn.GRU lacks."""
    layers = [site.layer for site in spec.walk()]
    notes = {}
    for name in {getattr(layer, "activation", None) for layer in layers}:
        replacement = _replacement(name, dtype, device)
        if replacement:
            notes[f"activation {name}"] = replacement.__name__
    if any(getattr(layer, "reset_after", True) is False for layer in layers):
        notes["GRU reset_after=False"] = "GRUResetBefore, a hand-written cell (nn.GRU is reset_after=True only)"
    return notes


from netparity.backends.torch.layers import attention, conv, core, dropout, gru, norm, roots, sequence, temporal  # noqa: E402,F401  (registers the builders)
