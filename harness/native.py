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
from netparity.spec.recipe import Optimizer
from netparity.spec.tasks import TaskInstance

#: backend -> optimizer -> {recipe field: the framework's default}, with where it comes from
#: (docs/semantics.md §1.1, 1.3-1.6; read from torch 2.13 / keras 3.15 / tensorflow 2.21 sources)
NATIVE_OPTIMIZER_DEFAULTS: dict[str, dict[str, dict[str, object]]] = {
    "torch": {  # torch.optim.*
        "adagrad": {"initial_accumulator": 0.0, "epsilon": 1e-10, "epsilon_mode": "outside"},
        "rmsprop": {"rho": 0.99, "epsilon": 1e-8, "epsilon_mode": "outside"},
        "adam": {"epsilon": 1e-8, "epsilon_mode": "outside"},
        "adamw": {"epsilon": 1e-8, "epsilon_mode": "outside", "weight_decay": 1e-2},
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
    },
    "tf": {  # tf.compat.v1.train.*Optimizer defaults on the same kernels (no AdamW there)
        "adagrad": {"initial_accumulator": 0.1, "epsilon": 0.0},
        "rmsprop": {"rho": 0.9, "epsilon": 1e-10, "epsilon_mode": "inside"},
        "adam": {"epsilon": 1e-8, "epsilon_mode": "hat"},
        "adamw": {"epsilon": 1e-8, "epsilon_mode": "hat"},
    },
}

#: backend -> layer type -> {spec field: default, in the spec's conventions}
#: (BatchNorm momentum weighs the old running value, Keras's convention: torch 0.1 -> 0.9)
NATIVE_LAYER_DEFAULTS: dict[str, dict[type, dict[str, object]]] = {
    "torch": {L.BatchNorm: {"epsilon": 1e-5, "momentum": 0.9}, L.LayerNorm: {"epsilon": 1e-5}},
    "keras": {L.BatchNorm: {"epsilon": 1e-3, "momentum": 0.99}, L.LayerNorm: {"epsilon": 1e-3}},
}


@dataclass(frozen=True)
class Difference:
    """One default that differs from the recipe on one backend."""

    backend: str
    where: str  # "optimizer" or a canonical layer name such as "1.batch_norm"
    field: str
    recipe: object
    native: object

    def text(self) -> str:
        return f"{self.where} {self.field}={self.native} (recipe {self.recipe})"


def _optimizer_defaults() -> Optimizer:
    return Optimizer()


def open_optimizer_fields(opt: Optimizer, pinned: set[str]) -> set[str]:
    """Fields the recipe leaves open: not pinned and still at the Optimizer default."""
    default = _optimizer_defaults()
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


def native_layers(backend: str, layers: tuple[L.Layer, ...], prefix: str = "") -> tuple[tuple, list[Difference]]:
    """Layers with the backend's defaults in every open field (Residual blocks included)."""
    table, out, diffs = NATIVE_LAYER_DEFAULTS.get(backend, {}), [], []
    for i, layer in enumerate(layers):
        name = f"{prefix}{i}.{layer.kind}"
        if isinstance(layer, L.Residual):
            inner, inner_diffs = native_layers(backend, layer.layers, name + ".")
            layer, diffs = dataclasses.replace(layer, layers=inner), diffs + inner_diffs
        elif type(layer) in table:
            spec_default = type(layer)()
            changes = {
                k: v
                for k, v in table[type(layer)].items()
                if getattr(layer, k) == getattr(spec_default, k) and getattr(layer, k) != v
            }
            if changes:
                diffs += [Difference(backend, name, k, getattr(layer, k), v) for k, v in changes.items()]
                layer = dataclasses.replace(layer, **changes)
        out.append(layer)
    return tuple(out), diffs


def native_task(task: TaskInstance, backend: str, pinned: set[str]) -> tuple[TaskInstance, list[Difference]]:
    """The task as ``backend`` would run it on its own defaults, and what that changed."""
    opt, opt_diffs = native_optimizer(backend, task.recipe.optimizer, pinned)
    layers, layer_diffs = native_layers(backend, task.model.layers)
    if not opt_diffs and not layer_diffs:
        return task, []
    model = dataclasses.replace(task.model, layers=layers) if layer_diffs else task.model
    recipe = dataclasses.replace(task.recipe, optimizer=opt)
    return dataclasses.replace(task, model=model, recipe=recipe), opt_diffs + layer_diffs


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
