"""ModelSpec: an input shape and a stack of layers, validated and shape-inferred up front."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from netparity.spec.errors import SpecError, quoted
from netparity.spec.layers import Embedding, Layer, ParamSpec, Shape
from netparity.spec.limits import check_finite_fields
from netparity.spec.schemes import parse_scheme
from netparity.spec.walk import Site, layer_name, walk


@dataclass(frozen=True)
class LayerInfo:
    """One top-level layer with its inferred shapes and canonical parameter names."""

    index: int
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    params: dict[str, ParamSpec]  # full canonical name -> spec
    state: dict[str, ParamSpec]

    @property
    def name(self) -> str:
        """Canonical layer name, e.g. ``"1.dense"``; parameters are ``"1.dense.kernel"``."""
        return layer_name("", self.index, self.layer)


@dataclass(frozen=True)
class ModelSpec:
    """A sequential model: ``input_shape`` (no batch axis) and ``layers`` applied in order."""

    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        self.infer()  # validate eagerly: a bad spec never reaches a backend

    @property
    def integer_inputs(self) -> bool:
        """True when the model takes token ids (it starts with an Embedding)."""
        return bool(self.layers) and isinstance(self.layers[0], Embedding)

    def infer(self) -> list[LayerInfo]:
        """Check every layer and chain the shapes; raise SpecError naming the bad layer."""
        if not self.layers:
            raise SpecError("the model has no layers")
        shape = self.input_shape
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
            raise SpecError(f"input_shape must be a non-empty tuple of positive integers, got {quoted(shape)}")
        infos = []
        for index, layer in enumerate(self.layers):
            where = f"layer {index} ({type(layer).__name__})"
            if not isinstance(layer, Layer):
                raise SpecError(f"layer {index} is not a layer: {layer!r}")
            if isinstance(layer, Embedding) and index != 0:
                raise SpecError(f"{where}: Embedding must be the first layer")
            try:
                check_finite_fields(layer, type(layer).__name__)
                layer.check()
                out = layer.output_shape(shape)
                params = layer.param_specs(shape)
                state = layer.state_specs(shape)
                for ps in params.values():
                    parse_scheme(ps.init)
            except SpecError as err:
                raise SpecError(f"{where}: {err}") from None
            prefix = layer_name("", index, layer) + "."
            infos.append(
                LayerInfo(
                    index,
                    layer,
                    shape,
                    out,
                    {prefix + k: v for k, v in params.items()},
                    {prefix + k: v for k, v in state.items()},
                )
            )
            shape = out
        return infos

    @property
    def output_shape(self) -> Shape:
        return self.infer()[-1].out_shape

    def param_specs(self) -> dict[str, ParamSpec]:
        """Every trainable canonical parameter, in layer order."""
        return {k: v for info in self.infer() for k, v in info.params.items()}

    def state_specs(self) -> dict[str, ParamSpec]:
        """Every non-trainable canonical state array (BatchNorm moving statistics)."""
        return {k: v for info in self.infer() for k, v in info.state.items()}

    def has(self, layer_type: type[Layer]) -> bool:
        """Whether a layer of this type appears anywhere (inside Residual too)."""
        return any(isinstance(site.layer, layer_type) for site in self.walk())

    def walk(self) -> Iterator[Site]:
        """Every layer with its canonical name and input shape, Residual blocks included."""
        return walk(self.layers, self.input_shape)
