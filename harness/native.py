"""Native-defaults mode (``--defaults native``): each framework fills what the recipe leaves
open with its own defaults, so a run shows how far "the same model" drifts when nobody
aligns epsilons, momenta and accumulators.

"Left open" means: an optimizer field the command line did not set and the task's recipe
kept at the ``spec.recipe.Optimizer`` default (the name and the learning rate are always
the recipe's), and a BatchNorm/LayerNorm field at its spec default. NumPy is the reference
and has no defaults of its own: it runs the recipe as written.

Exit status in native mode: differences are the point, so a backend whose defaults differ
and whose numbers therefore disagree keeps status ``mismatch`` (with the defaults named in
its reason) but does not fail the run. The run fails (exit 1) when a backend fails, or
diverges or disagrees although none of its defaults differed: then the difference
is not explained by the defaults. A backend that diverges on its own defaults (while the
reference does not) is reported ``diverged`` and, being explained, does not fail the run
either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from netparity.spec import layers as L
from netparity.spec.recipe import Clip, Optimizer
from netparity.spec.tasks import TaskInstance
from netparity.spec.walk import transform

#: backend -> optimizer -> {recipe field: the framework's default}, with where it comes from
#: (docs/semantics.md §1.1, 1.3-1.6; read from torch 2.13 / keras 3.15 / tensorflow 2.21 sources)
NATIVE_OPTIMIZER_DEFAULTS: dict[str, dict[str, dict[str, object]]] = {
    "torch": {  # torch.optim.*
        "adagrad": {"initial_accumulator": 0.0, "epsilon": 1e-10, "epsilon_mode": "outside"},
        "rmsprop": {"rho": 0.99, "epsilon": 1e-8, "epsilon_mode": "outside"},
        "adam": {"epsilon": 1e-8, "epsilon_mode": "outside"},
        "adamw": {"epsilon": 1e-8, "epsilon_mode": "outside", "weight_decay": 1e-2},
        "adadelta": {"rho": 0.9, "epsilon": 1e-6},
        "nadam": {"epsilon": 1e-8, "momentum_decay": 4e-3},
        "adamax": {"epsilon": 1e-8, "epsilon_mode": "max"},
    },
    "keras": {  # keras.optimizers.*; every Keras weight_decay is decoupled
        "sgd": {"decoupled_weight_decay": True},
        "adagrad": {
            "initial_accumulator": 0.1,
            "epsilon": 1e-7,
            "epsilon_mode": "inside",
            "decoupled_weight_decay": True,
        },
        "rmsprop": {"rho": 0.9, "epsilon": 1e-7, "epsilon_mode": "inside", "decoupled_weight_decay": True},
        "adam": {"epsilon": 1e-7, "epsilon_mode": "hat", "decoupled_weight_decay": True},
        "adamw": {"epsilon": 1e-7, "epsilon_mode": "hat", "weight_decay": 0.004},
        "adadelta": {"rho": 0.95, "epsilon": 1e-7, "decoupled_weight_decay": True},
        "nadam": {"epsilon": 1e-7, "momentum_decay": 1.0, "decoupled_weight_decay": True},
        "adamax": {"epsilon": 1e-7, "epsilon_mode": "outside", "decoupled_weight_decay": True},
    },
    "jax": {  # optax.* aliases (rmsprop: optax's eps_in_sqrt=True default)
        "adagrad": {"initial_accumulator": 0.1, "epsilon": 1e-7, "epsilon_mode": "inside"},
        "rmsprop": {"rho": 0.9, "epsilon": 1e-8, "epsilon_mode": "inside"},
        "adam": {"epsilon": 1e-8, "epsilon_mode": "outside"},
        "adamw": {"epsilon": 1e-8, "epsilon_mode": "outside", "weight_decay": 1e-4},
    },
    "tf": {  # tf.compat.v1.train.*Optimizer defaults on the same kernels (no AdamW there)
        "adagrad": {"initial_accumulator": 0.1, "epsilon": 0.0},
        "rmsprop": {"rho": 0.9, "epsilon": 1e-10, "epsilon_mode": "inside"},
        "adam": {"epsilon": 1e-8, "epsilon_mode": "hat"},
        "adamw": {"epsilon": 1e-8, "epsilon_mode": "hat"},
        "adadelta": {"rho": 0.95, "epsilon": 1e-8},  # tf.compat.v1 has no Nadam or AdaMax optimizer
    },
}

#: backend -> {Clip field: the framework's default} (torch.nn.utils.clip_grad_norm_ adds 1e-6
#: to the norm; Keras's global_clipnorm/clipnorm and TF's clip_by_global_norm add nothing)
NATIVE_CLIP_DEFAULTS: dict[str, dict[str, object]] = {"torch": {"epsilon": 1e-6}}

#: backend -> layer type -> {spec field: default, in the spec's conventions}
#: (BatchNorm momentum weighs the old running value, Keras's convention: torch 0.1 -> 0.9)
#: leaky_relu's slope: torch nn.LeakyReLU 0.01 (the spec's), keras.activations.leaky_relu and
#: tf.nn.leaky_relu 0.2 (keras.layers.LeakyReLU would be 0.3; the spec's activation is the function)
_LEAKY_02 = {cls: {"negative_slope": 0.2} for cls in (L.Dense, L.Activation, L.Conv2D, L.Conv1D)}
NATIVE_LAYER_DEFAULTS: dict[str, dict[type, dict[str, object]]] = {
    "torch": {L.BatchNorm: {"epsilon": 1e-5, "momentum": 0.9}, L.LayerNorm: {"epsilon": 1e-5}},
    "keras": {L.BatchNorm: {"epsilon": 1e-3, "momentum": 0.99}, L.LayerNorm: {"epsilon": 1e-3}, **_LEAKY_02},
    "tf": dict(_LEAKY_02),
}

#: fields that only matter in some configurations of their layer: a default there is open
#: only when it has an effect
_APPLIES: dict[str, Callable[[L.Layer], bool]] = {
    "negative_slope": lambda layer: getattr(layer, "activation", None) == "leaky_relu",
}
# Keras on JAX and torch: the same keras.optimizers and keras.layers, the same defaults
for _engine in ("keras-jax", "keras-torch"):
    NATIVE_OPTIMIZER_DEFAULTS[_engine] = NATIVE_OPTIMIZER_DEFAULTS["keras"]
    NATIVE_LAYER_DEFAULTS[_engine] = NATIVE_LAYER_DEFAULTS["keras"]


@dataclass(frozen=True)
class Difference:
    """One default that differs from the recipe on one backend."""

    backend: str
    where: str  # "optimizer", "clip" or a canonical layer name such as "1.batch_norm"
    field: str
    recipe: object
    native: object

    def text(self) -> str:
        return f"{self.where} {self.field}={self.native} (recipe {self.recipe})"


def open_optimizer_fields(opt: Optimizer, pinned: set[str]) -> set[str]:
    """Fields the recipe leaves open: not pinned and still at the Optimizer default (for
    that optimizer: its default epsilon_mode is its own)."""
    default = Optimizer(opt.name)
    return {
        f.name
        for f in dataclasses.fields(Optimizer)
        if f.name not in pinned | {"name", "lr"} and getattr(opt, f.name) == getattr(default, f.name)
    }


def native_optimizer(backend: str, opt: Optimizer, pinned: set[str]) -> tuple[Optimizer, list[Difference]]:
    defaults = NATIVE_OPTIMIZER_DEFAULTS.get(backend, {}).get(opt.name, {})
    free = open_optimizer_fields(opt, pinned)
    changes = {k: v for k, v in defaults.items() if k in free and getattr(opt, k) != v}
    if changes.get("decoupled_weight_decay") and not changes.get("weight_decay", opt.weight_decay):
        del changes["decoupled_weight_decay"]  # no decay at all: the convention changes nothing
    if not changes:
        return opt, []
    native = dataclasses.replace(opt, **changes)
    native.check()
    return native, [Difference(backend, "optimizer", k, getattr(opt, k), v) for k, v in changes.items()]


def _spec_defaults(layer: L.Layer) -> L.Layer:
    """The layer with every optional field at its spec default (required ones kept)."""
    required = {
        f.name: getattr(layer, f.name)
        for f in dataclasses.fields(layer)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return type(layer)(**required)


def native_layers(backend: str, layers: tuple[L.Layer, ...]) -> tuple[tuple, list[Difference]]:
    """Layers with the backend's defaults in every open field (Residual blocks included)."""
    table, diffs = NATIVE_LAYER_DEFAULTS.get(backend, {}), []

    def change(name: str, layer: L.Layer) -> L.Layer:
        if type(layer) not in table:
            return layer
        spec_default = _spec_defaults(layer)
        changes = {
            k: v
            for k, v in table[type(layer)].items()
            if getattr(layer, k) == getattr(spec_default, k)
            and getattr(layer, k) != v
            and _APPLIES.get(k, lambda _: True)(layer)
        }
        if not changes:
            return layer
        diffs.extend(Difference(backend, name, k, getattr(layer, k), v) for k, v in changes.items())
        return dataclasses.replace(layer, **changes)

    return transform(layers, change), diffs


def native_clip(backend: str, clip: Clip | None) -> tuple[Clip | None, list[Difference]]:
    """Norm clipping with the backend's own epsilon where the recipe left it at the default."""
    defaults = NATIVE_CLIP_DEFAULTS.get(backend, {})
    if clip is None or clip.norm is None:
        return clip, []
    spec_default = Clip(norm=clip.norm)
    changes = {
        k: v for k, v in defaults.items() if getattr(clip, k) == getattr(spec_default, k) and getattr(clip, k) != v
    }
    if not changes:
        return clip, []
    return dataclasses.replace(clip, **changes), [
        Difference(backend, "clip", k, getattr(clip, k), v) for k, v in changes.items()
    ]


def native_task(task: TaskInstance, backend: str, pinned: set[str]) -> tuple[TaskInstance, list[Difference]]:
    """The task as ``backend`` would run it on its own defaults, and what that changed."""
    opt, opt_diffs = native_optimizer(backend, task.recipe.optimizer, pinned)
    clip, clip_diffs = native_clip(backend, task.recipe.clip)
    layers, layer_diffs = native_layers(backend, task.model.layers)
    if not opt_diffs and not layer_diffs and not clip_diffs:
        return task, []
    model = dataclasses.replace(task.model, layers=layers) if layer_diffs else task.model
    recipe = dataclasses.replace(task.recipe, optimizer=opt, clip=clip)
    return dataclasses.replace(task, model=model, recipe=recipe), opt_diffs + clip_diffs + layer_diffs


@dataclass
class NativeDefaults:
    """Per-backend tasks for ``harness.run(task_for=...)`` and the defaults that differed."""

    tasks: dict[str, TaskInstance]
    differences: list[Difference]

    @staticmethod
    def build(task: TaskInstance, backends: list[str], pinned: set[str]) -> NativeDefaults:
        tasks, diffs = {}, []
        for backend in backends:
            tasks[backend], found = native_task(task, backend, pinned)
            diffs += found
        return NativeDefaults(tasks, diffs)

    def task_for(self, base: TaskInstance) -> Callable[[str], TaskInstance]:
        return lambda backend: self.tasks.get(backend, base)

    def by_backend(self) -> dict[str, list[Difference]]:
        out: dict[str, list[Difference]] = {}
        for d in self.differences:
            out.setdefault(d.backend, []).append(d)
        return out

    def frame(self) -> pd.DataFrame:
        cols = ["backend", "where", "field", "recipe", "native"]
        return pd.DataFrame([dataclasses.asdict(d) for d in self.differences], columns=cols)

    def annotate(self, result) -> None:
        """Name each backend's differing defaults in its reason (before the report is written)."""
        for backend, diffs in self.by_backend().items():
            res = result.results.get(backend)
            if res is None:
                continue
            note = "native defaults: " + ", ".join(d.text() for d in diffs)
            res.reason = f"{note}; {res.reason}" if res.reason else note
        result.explained = tuple(self.by_backend())

    def ok(self, result) -> bool:
        """Failures and unexplained disagreements fail the run; explained mismatches do not
        (harness.verdict decides, with this run's explained backends)."""
        from netparity.harness.verdict import judge

        result.explained = tuple(self.by_backend())
        return judge(result).passed
