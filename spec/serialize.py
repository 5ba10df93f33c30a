"""Specs to and from plain dicts (JSON/YAML-ready); the dict is checked field by field."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from netparity.spec.errors import SpecError, quoted, shown
from netparity.spec.layers import LAYER_TYPES, Layer
from netparity.spec.limits import MAX_DIM, MAX_INT, MAX_LAYERS, MAX_RANK
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Clip, Loss, Optimizer, Recipe, Schedule


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
    unknown = sorted(shown(name) if isinstance(name, str) else quoted(name) for name in set(data) - set(fields))
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown[:5])}{more} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if not _accepts(hints[name], value):
            raise SpecError(
                f"{where}: field {name!r} has the wrong type: {quoted(value)} (expected {_type_name(hints[name])})"
            )
        if any(
            isinstance(v, int) and abs(v) > MAX_INT for v in (value if isinstance(value, (list, tuple)) else [value])
        ):
            raise SpecError(f"{where}: field {name!r} is out of range: {quoted(value)} (at most 2**63-1)")
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
        raise SpecError(f'{where}: expected an object like {{"type": "Dense", ...}}, got {quoted(data)}')
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in LAYER_TYPES:
        raise SpecError(f"{where}: unknown layer type {quoted(kind)} (known: {', '.join(LAYER_TYPES)})")
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
        raise SpecError(f"input_shape must be a list of integers, got {quoted(shape)}")
    if len(shape) > MAX_RANK or any(abs(d) > MAX_DIM for d in shape):
        raise SpecError(f"input_shape {quoted(shape)} is out of range: at most {MAX_RANK} axes of at most {MAX_DIM:,}")
    if not isinstance(layers, list) or not layers:
        raise SpecError("'layers' must be a non-empty list")
    n_layers = _count_layers(layers)
    if n_layers > MAX_LAYERS:
        raise SpecError(f"the model has {n_layers:,} layers; at most {MAX_LAYERS:,} are allowed")
    return ModelSpec(tuple(shape), tuple(layer_from_dict(x, f"layers[{i}]") for i, x in enumerate(layers)))


def _count_layers(layers: list[Any]) -> int:
    """Layers in a raw layer list, Residual's inner ones included (iterative: no recursion; the
    spec file's size cap bounds the count)."""
    n, stack = 0, list(layers)
    while stack:
        layer = stack.pop()
        n += 1
        inner = layer.get("layers") if isinstance(layer, dict) else None
        if isinstance(inner, list):
            stack.extend(inner)
    return n


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain data; a loss without options is written as its name (``"loss": "mse"``)."""
    out = dataclasses.asdict(recipe)
    if recipe.loss._key() == Loss(recipe.loss.name)._key():
        out["loss"] = recipe.loss.name
    return out


def optimizer_from_dict(data: Any) -> Optimizer:
    if not isinstance(data, dict):
        raise SpecError(f'optimizer must be an object like {{"name": "sgd", "lr": 0.1}}, got {quoted(data)}')
    opt = _build(Optimizer, data, "optimizer")
    opt.check()
    return opt


def loss_from_value(data: Any) -> Loss:
    """A loss from its name (``"mse"``) or an object (``{"name": "huber", "delta": 2.0}``)."""
    if isinstance(data, Loss):
        return data
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or "name" not in data:
        raise SpecError(f'loss must be a name or an object like {{"name": "huber", "delta": 1.0}}, got {data!r}')
    loss = _build(Loss, data, "loss")
    loss.check()
    return loss


def _object(cls: type, data: Any, where: str, example: str) -> Any:
    """A Schedule/Clip from its dict (None stays None)."""
    if data is None or isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise SpecError(f"{where} must be an object like {example}, got {data!r}")
    return _build(cls, data, where)


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
        data["loss"] = loss_from_value(data["loss"])
    if "lr_schedule" in data:
        example = '{"name": "step", "step_size": 1, "gamma": 0.7, "per": "epoch"}'
        data["lr_schedule"] = _object(Schedule, data["lr_schedule"], "lr_schedule", example)
    if "clip" in data:
        data["clip"] = _object(Clip, data["clip"], "clip", '{"norm": 1.0, "scope": "global"}')
    merged = {**{f.name: getattr(base, f.name) for f in dataclasses.fields(Recipe)}, **data}
    recipe = _build(Recipe, merged, "recipe")
    recipe.check()
    return recipe
