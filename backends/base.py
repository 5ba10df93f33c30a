"""The protocol every backend implements, and the framework-free pieces they share.

A backend builds a :class:`Model` from a spec, canonical NumPy parameters and a recipe.
Everything a Model hands back (outputs, activations, gradients, parameters) is canonical
NumPy in the requested dtype; the harness never sees a framework object.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

DTYPES = ("float32", "float64")


class BackendUnavailable(RuntimeError):
    """The framework behind a backend cannot be imported or used on this machine."""


class BackendBroken(BackendUnavailable):
    """The framework is installed but importing it fails: a failure of that backend, not a skip."""


@dataclass
class Batch:
    """Inputs (and optional targets) already converted to a backend's native form.

    Made by ``Model.stage`` once, outside any timed region.
    """

    x: Any
    y: Any = None
    size: int = 0
    #: Dropout masks for a training-mode call, native form: canonical layer name -> the
    #: multiplier keep/(1-rate) drawn by spec.dropout.dropout_masks. Every backend then
    #: computes y = x * mask, so all four drop the same units. A training-mode call on a
    #: batch without a mask for some Dropout falls back to that framework's own RNG (not
    #: comparable); inference mode ignores masks.
    masks: dict[str, Any] = field(default_factory=dict)


class Model(Protocol):
    """A built model: all arrays in and out are canonical NumPy."""

    #: what actually ran, e.g. {"optimizer": "torch.optim.SGD"}; shown in the report
    implementation: dict[str, str]

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        """Inputs, targets and optional Dropout masks (canonical, see Batch.masks) in native form."""
        ...

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray: ...

    def activations(self, batch: Batch) -> list[np.ndarray]:
        """Every top-level layer's output in canonical layout (inference mode)."""
        ...

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        """Training-mode loss on the batch and the gradient of every trainable parameter."""
        ...

    def train_step(self, batch: Batch) -> float:
        """One optimizer step; returns the loss computed before the update."""
        ...

    # Optional (see start_epoch/learning_rate below): a model with a learning-rate schedule
    # has ``start_epoch(epoch)``, called before each epoch's first step, and
    # ``learning_rate() -> float``, the rate its framework will use for the next step.

    def params(self) -> dict[str, np.ndarray]:
        """Trainable parameters and state (e.g. BatchNorm moving stats), canonical names."""
        ...


@dataclass(frozen=True)
class ExtraTiming:
    """A backend-specific fast form of a phase, timed beside the ordinary ones.

    ``prepare()`` runs once (timed as ``prepare_phase``) and returns the callable that is
    then timed repeatedly as ``phase``; ``work_like`` names the ordinary phase whose work
    (FLOPs) one call does, e.g. "train_step"."""

    phase: str
    prepare_phase: str
    prepare: Callable[[], Callable[[], None]]
    work_like: str = "train_step"


class Backend(Protocol):
    name: str
    #: the packages it needs, looked up with importlib.util.find_spec without importing them
    #: (``--list`` and the choice of backends in an isolated run's parent stay framework-free)
    requires: tuple[str, ...]

    def unavailable(self) -> str | None:
        """Why this backend cannot run here (e.g. the framework is not installed), or None."""
        ...

    def set_threads(self, n: int) -> str:
        """Limit the framework's compute threads to ``n``; returns what was set (for the report).
        Call before the first build: some frameworks fix their pools on first use."""
        ...

    def allow_tf32(self, enabled: bool) -> str:
        """Allow TF32 math on GPUs (timing runs only; ``build`` turns it off for comparisons)."""
        ...

    def build(
        self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str
    ) -> Model: ...

    # Optional: ``extra_timings(model, batch, device) -> list[ExtraTiming]``, the backend's
    # own fast forms of a phase for the timing runs (e.g. torch's CUDA-graph train step).
    # The harness calls it only where a backend defines it.


# ---------------------------------------------------------------------------------------
# Layout maps: canonical <-> native array transforms, shared by the framework adapters.
# Gradients transform exactly like their parameters (the maps are linear permutations).


@dataclass(frozen=True)
class LayoutMap:
    """A pair of inverse array transforms between canonical and native layout."""

    to_native: Callable[[np.ndarray], np.ndarray]
    from_native: Callable[[np.ndarray], np.ndarray]


IDENTITY = LayoutMap(lambda a: a, lambda a: a)


class LayoutTable(dict[tuple[str, str], LayoutMap]):
    """One backend's maps, keyed by (layer kind, canonical parameter); identity if absent."""

    def lookup(self, name: str) -> LayoutMap:
        """The map for a canonical parameter name such as ``"1.dense.kernel"``."""
        *_, kind, param = name.split(".")
        return self.get((kind, param), IDENTITY)

    def to_native(self, name: str, value: np.ndarray) -> np.ndarray:
        return self.lookup(name).to_native(value)

    def from_native(self, name: str, value: np.ndarray) -> np.ndarray:
        return self.lookup(name).from_native(value)


def permute(axes: tuple[int, ...]) -> LayoutMap:
    """native = canonical.transpose(axes); canonical = native.transpose(inverse(axes))."""
    inverse = tuple(int(i) for i in np.argsort(axes))
    return LayoutMap(
        lambda a: np.ascontiguousarray(np.transpose(a, axes)),
        lambda a: np.ascontiguousarray(np.transpose(a, inverse)),
    )


TRANSPOSE = permute((1, 0))


@dataclass
class Binding:
    """One canonical parameter bound to a native variable through a layout map."""

    name: str  # canonical, e.g. "1.dense.kernel"
    native: Any  # torch Parameter/buffer, tf.Variable, keras Variable
    layout: LayoutMap = IDENTITY
    trainable: bool = True
    part: tuple[slice, ...] | None = None  # the canonical array is native[part] (packed weights)

    def canonical(self, native_value: np.ndarray) -> np.ndarray:
        """A native array of this binding's variable (its value or its gradient), canonical."""
        value = native_value if self.part is None else native_value[self.part]
        return self.layout.from_native(value).copy()


def unique_natives(bindings: list[Binding], keep: Callable[[Binding], bool]) -> list[Any]:
    """The distinct native variables behind the bindings ``keep`` selects, in first-seen
    order (one packed native tensor can back several canonical parameters)."""
    seen: set[int] = set()
    out = []
    for b in bindings:
        if keep(b) and id(b.native) not in seen:
            seen.add(id(b.native))
            out.append(b.native)
    return out


def start_epoch(model: Model, epoch: int) -> None:
    """Tell a model that epoch ``epoch`` (0-based) begins: per-epoch schedules move on here."""
    hook = getattr(model, "start_epoch", None)
    if hook is not None:
        hook(epoch)


def learning_rate(model: Model, recipe: Recipe) -> float:
    """The learning rate the model's next step uses (the recipe's lr for a model without a schedule hook)."""
    hook = getattr(model, "learning_rate", None)
    return float(hook()) if hook is not None else float(recipe.optimizer.lr)


def check_params(spec: ModelSpec, params: dict[str, np.ndarray]) -> None:
    """Every canonical parameter present with its canonical shape (a clear error otherwise)."""
    expected = {**spec.param_specs(), **spec.state_specs()}
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise ValueError(f"parameters do not match the spec: missing {missing}, unexpected {extra}")
    for name, ps in expected.items():
        if tuple(params[name].shape) != tuple(ps.shape):
            raise ValueError(f"parameter {name} has shape {params[name].shape}, the spec says {ps.shape}")


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")


class LayerRegistry:
    """One backend's builders by spec layer type: ``@registry.register(Dense)`` on a builder,
    ``registry.build(layer, ...)`` to call it (a clear error for a layer it lacks)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.builders: dict[type, Callable[..., Any]] = {}

    def register(self, spec_type: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
            self.builders[spec_type] = builder
            return builder

        return wrap

    def build(self, layer: object, *args: Any) -> Any:
        builder = self.builders.get(type(layer))
        if builder is None:
            raise NotImplementedError(f"the {self.backend} backend has no {type(layer).__name__} layer")
        return builder(layer, *args)


def find_dropouts(layers: list, dropout_type: type) -> dict[str, Any]:
    """Canonical name -> Dropout layer of ``dropout_type`` among ``layers`` (and Residual
    blocks' ``inner``)."""
    found = {}
    for layer in layers:
        if isinstance(layer, dropout_type):
            found[layer.canonical_name] = layer
        found.update(find_dropouts(getattr(layer, "inner", []), dropout_type))
    return found


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2 while a framework's native code starts up: TensorFlow's C++
    logs banners straight to it before any log level applies. Python exceptions still
    propagate; only bytes written to fd 2 inside the block are dropped."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
