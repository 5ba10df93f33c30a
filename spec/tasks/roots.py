"""Task `roots`: gradient descent on one scalar x minimizing (a*x^2 + b*x + c)^2.

The seeds' exercise (roots of x^2 - 5x + 4 and x^2 - 6x + 4) through the normal harness: a
Quadratic layer outputs the polynomial's value for every input row, and MSE against target 0
on a one-row data set makes the loss exactly (a*x^2 + b*x + c)^2. Which root x reaches
depends on x0 and the learning rate: for x^2 - 5x + 4 the loss has minima at the roots 1
and 4 and a local maximum at 2.5, so plain gradient descent from x0 < 2.5 finds 1 and from
x0 > 2.5 finds 4 (unless the rate is large enough to jump or diverge).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from netparity.spec.data import Dataset
from netparity.spec.errors import SpecError, quoted
from netparity.spec.layers import Quadratic
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance, register

DEFAULT_POLY = (1.0, -5.0, 4.0)
ROOT_PARAM = "0.quadratic.x"


def one_row() -> Dataset:
    """One input row (its value is ignored) with target 0, for training and testing."""
    x, y = np.zeros((1, 1)), np.zeros((1, 1))
    return Dataset(x, y, x.copy(), y.copy())


def roots_instance(seed: int, poly: tuple[float, float, float] = DEFAULT_POLY, x0: float = 0.0) -> TaskInstance:
    model = ModelSpec((1,), (Quadratic(*map(float, poly), x0=float(x0)),))
    recipe = Recipe(loss="mse", optimizer=Optimizer("sgd", lr=0.01), epochs=1000, batch_size=1, shuffle_seed=seed)
    return TaskInstance("roots", model, recipe, one_row(), "regression", ("test_mse",))


@register("roots", "gradient descent on x minimizing (a*x^2+b*x+c)^2, default x^2-5x+4 from x0=0, SGD lr 0.01")
def roots(seed: int) -> TaskInstance:
    return roots_instance(seed)


def parse_poly(text: str) -> tuple[float, float, float]:
    """``"1,-5,4"`` -> (1.0, -5.0, 4.0)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise SpecError(f"--poly expects three numbers A,B,C (e.g. 1,-5,4), got {quoted(text)}") from None
    if len(values) != 3:
        raise SpecError(f"--poly expects three numbers A,B,C (e.g. 1,-5,4), got {quoted(text)}")
    return values  # type: ignore[return-value]


def with_polynomial(task: TaskInstance, poly: tuple[float, float, float] | None, x0: float | None) -> TaskInstance:
    """The task with its Quadratic layer's coefficients and/or start replaced."""
    if poly is None and x0 is None:
        return task
    layers = list(task.model.layers)
    index = next((i for i, layer in enumerate(layers) if isinstance(layer, Quadratic)), None)
    if index is None:
        raise SpecError(f"--poly and --x0 apply to a model with a Quadratic layer (task roots), not {task.name}")
    changes: dict[str, float] = {} if poly is None else dict(zip("abc", map(float, poly), strict=True))
    if x0 is not None:
        changes["x0"] = float(x0)
    layers[index] = dataclasses.replace(layers[index], **changes)
    return dataclasses.replace(task, model=ModelSpec(task.model.input_shape, tuple(layers)))


def real_roots(a: float, b: float, c: float) -> list[float]:
    """The polynomial's real roots, ascending (for checks and reports)."""
    if a == 0:
        return [-c / b]
    disc = b * b - 4 * a * c
    if disc < 0:
        return []
    r = np.sqrt(disc)
    return sorted({(-b - r) / (2 * a), (-b + r) / (2 * a)})
