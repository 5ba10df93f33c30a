"""Changes to a task's training recipe, as plain values: optimizer and hyper-parameters, l2,
the roots task's polynomial and start, and the native-defaults mode. The command line
(netparity/recipe_args.py) and the API both hand these in; nothing here parses flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from netparity.spec.errors import SpecError, quoted
from netparity.spec.recipe import OPTIMIZERS, Optimizer
from netparity.spec.tasks import TaskInstance

DEFAULTS_MODES = ("aligned", "native")


@dataclass(frozen=True)
class RecipeChanges:
    """What to change in a task's recipe; None (or empty) keeps the task's value."""

    optimizer: str | None = None
    #: Optimizer field -> value (momentum, beta1, epsilon, ...; lr apart)
    hyper: dict[str, object] = field(default_factory=dict)
    lr: float | None = None
    l2: float | None = None
    poly: tuple[float, float, float] | None = None
    x0: float | None = None
    #: "aligned": every hyper-parameter from the recipe; "native": each framework's defaults
    defaults: str = "aligned"


def optimizer_with(base: Optimizer, changes: RecipeChanges) -> Optimizer:
    """The task's optimizer with the changes. Naming another optimizer starts from that
    optimizer's recipe defaults (keeping the task's lr), not from the old one's
    hyper-parameters: Adam must not inherit SGD's momentum."""
    opt = base
    name = changes.optimizer
    if name is not None and name != base.name:
        if name not in OPTIMIZERS:
            raise SpecError(f"unknown optimizer {quoted(name)} (known: {', '.join(OPTIMIZERS)})")
        opt = Optimizer(name, lr=base.lr)
    values = dict(changes.hyper)
    if changes.lr is not None:
        values["lr"] = changes.lr
    opt = dataclasses.replace(opt, **values)
    opt.check()
    return opt


def apply_changes(task: TaskInstance, changes: RecipeChanges) -> TaskInstance:
    """The task with the optimizer, l2, polynomial and x0 changed (validated)."""
    from netparity.spec.tasks.roots import with_polynomial

    task = with_polynomial(task, changes.poly, changes.x0)
    recipe = dataclasses.replace(task.recipe, optimizer=optimizer_with(task.recipe.optimizer, changes))
    if changes.l2 is not None:
        recipe = dataclasses.replace(recipe, l2=changes.l2)
    recipe.check()
    return dataclasses.replace(task, recipe=recipe)


def native_defaults(task: TaskInstance, backends: list[str], mode: str, pinned: set[str], *, sweep: bool = False):
    """``None`` for mode "aligned"; the per-backend native tasks for "native" (``pinned``: the
    optimizer fields set explicitly, which native mode leaves alone)."""
    if mode not in DEFAULTS_MODES:
        raise SpecError(f"unknown --defaults {quoted(mode)} (known: {', '.join(DEFAULTS_MODES)})")
    if mode == "aligned":
        return None
    if sweep:
        raise SpecError("--defaults native runs one learning rate at a time, not a sweep")
    from netparity.harness.native import NativeDefaults

    return NativeDefaults.build(task, backends, pinned)
