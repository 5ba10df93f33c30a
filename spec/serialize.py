"""Specs to and from plain dicts (JSON/YAML-ready); the dict is checked field by field."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from netparity.spec.errors import SpecError
from netparity.spec.layers import LAYER_TYPES, Layer
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Loss, Optimizer, Recipe


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(layer).__name__}
    for f in dataclasses.fields(layer):
        value = getattr(layer, f.name)
        if f.name == "layers":
            value = [layer_to_dict(inner) for inner in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` (from JSON/YAML) fits a field annotation such as ``int | None``."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {"tuple": tuple, "Layer": Layer})
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple or annotation is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_accepts(args[0], v) for v in value)
        return len(args) == len(value) and all(_accepts(a, v) for a, v in zip(args, value, strict=True))
    if annotation is Layer:
        return isinstance(value, Layer)
    return True


def _type_name(annotation: Any) -> str:
    """``int`` rather than ``<class 'int'>``; unions such as ``int | None`` as written."""
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if not _accepts(hints[name], value):
            raise SpecError(
                f"{where}: field {name!r} has the wrong type: {value!r} (expected {_type_name(hints[name])})"
            )
    missing = [
        n
        for n, f in fields.items()
        if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{where}: missing field(s) {', '.join(missing)}")
    return cls(**data)


def layer_from_dict(data: Any, where: str = "layer") -> Layer:
    if not isinstance(data, dict):
        raise SpecError(f'{where}: expected an object like {{"type": "Dense", ...}}, got {data!r}')
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in LAYER_TYPES:
        raise SpecError(f"{where}: unknown layer type {kind!r} (known: {', '.join(LAYER_TYPES)})")
    if kind == "Residual":
        inner = data.get("layers", [])
        if not isinstance(inner, list):
            raise SpecError(f"{where}: Residual.layers must be a list of layers")
        data["layers"] = tuple(layer_from_dict(x, f"{where}.layers[{i}]") for i, x in enumerate(inner))
    layer = _build(LAYER_TYPES[kind], data, f"{where} ({kind})")
    return layer


def model_to_dict(model: ModelSpec) -> dict[str, Any]:
    return {"input_shape": list(model.input_shape), "layers": [layer_to_dict(x) for x in model.layers]}


def model_from_dict(data: Any) -> ModelSpec:
    if not isinstance(data, dict):
        raise SpecError("a model spec must be an object with 'input_shape' and 'layers'")
    shape, layers = data.get("input_shape"), data.get("layers")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise SpecError(f"input_shape must be a list of integers, got {shape!r}")
    if not isinstance(layers, list) or not layers:
        raise SpecError("'layers' must be a non-empty list")
    return ModelSpec(tuple(shape), tuple(layer_from_dict(x, f"layers[{i}]") for i, x in enumerate(layers)))


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    out = dataclasses.asdict(recipe)
    if recipe.loss == Loss(recipe.loss.name):  # the plain form reads as a name
        out["loss"] = recipe.loss.name
    return out


def loss_from_dict(data: Any) -> Loss:
    """A loss from its name or its object form ``{"name": ..., "from_logits": ...}``."""
    if isinstance(data, Loss):
        loss = data
    elif isinstance(data, str):
        loss = Loss(data)
    elif isinstance(data, dict):
        loss = _build(Loss, data, "loss")
    else:
        raise SpecError(f'loss must be a name or an object like {{"name": "cross_entropy"}}, got {data!r}')
    loss.check()
    return loss


def optimizer_from_dict(data: Any) -> Optimizer:
    if not isinstance(data, dict):
        raise SpecError(f'optimizer must be an object like {{"name": "sgd", "lr": 0.1}}, got {data!r}')
    opt = _build(Optimizer, data, "optimizer")
    opt.check()
    return opt


def recipe_from_dict(data: Any, base: Recipe | None = None) -> Recipe:
    """A recipe from a dict; fields it leaves out come from ``base`` (or the defaults)."""
    if not isinstance(data, dict):
        raise SpecError("recipe must be an object")
    data = dict(data)
    base = base or Recipe()
    if "optimizer" in data:
        opt = data["optimizer"]
        if isinstance(opt, dict) and "name" in opt and opt["name"] == base.optimizer.name:
            opt = {**dataclasses.asdict(base.optimizer), **opt}
        data["optimizer"] = optimizer_from_dict(opt)
    if "loss" in data:
        data["loss"] = loss_from_dict(data["loss"])
    merged = {**{f.name: getattr(base, f.name) for f in dataclasses.fields(Recipe)}, **data}
    recipe = _build(Recipe, merged, "recipe")
    recipe.check()
    return recipe
