"""The task registry: each task is a default model, a recipe and a seeded data set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netparity.spec.data import Dataset
from netparity.spec.errors import SpecError, quoted
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe


@dataclass(frozen=True)
class TaskInstance:
    """Everything a comparison run needs, built from one seed."""

    name: str
    model: ModelSpec
    recipe: Recipe
    data: Dataset
    kind: str  # "regression" | "classification"
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    factory: Callable[[int], TaskInstance]

    def build(self, seed: int) -> TaskInstance:
        return self.factory(seed)


TASKS: dict[str, Task] = {}


def register(name: str, description: str) -> Callable[[Callable[[int], TaskInstance]], Callable[[int], TaskInstance]]:
    def wrap(factory: Callable[[int], TaskInstance]) -> Callable[[int], TaskInstance]:
        TASKS[name] = Task(name, description, factory)
        return factory

    return wrap


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise SpecError(f"unknown task {quoted(name)} (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]


from netparity.spec.tasks import conv1d, digits, regression, roots, text  # noqa: E402,F401  (registers the tasks)
