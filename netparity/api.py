"""The library entry points: ``netparity.compare``, ``netparity.load_spec``, ``netparity.tasks``.

``compare`` builds the same task the command line would (a built-in task, or a model with
data) and runs it through the same harness; only the defaults suit a notebook better: no
timing runs, all backends in this process, no report folder unless ``out`` is given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netparity.result import Result
from netparity.spec.data import Dataset
from netparity.spec.errors import SpecError, quoted, shown
from netparity.spec.limits import check_memory, check_seed, check_threads
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance

TEST_FRACTION = 0.2


def tasks() -> dict[str, str]:
    """The built-in tasks: name -> one-line description."""
    from netparity.spec.tasks import TASKS

    return {name: task.description for name, task in sorted(TASKS.items())}


def load_spec(path: str | os.PathLike) -> ModelSpec:
    """The model of a JSON or YAML spec file (see the README's "Your own model and data"); its
    ``recipe`` is read by ``compare`` when you pass the path itself."""
    from netparity.spec.files import read_spec_file
    from netparity.spec.serialize import model_from_dict

    raw = read_spec_file(path)
    if "input_shape" not in raw:
        raise SpecError(f"{path}: 'input_shape' is required to build the model without data")
    return model_from_dict({"input_shape": raw["input_shape"], "layers": raw.get("layers")})


def compare(
    model: ModelSpec | Mapping[str, Any] | str | os.PathLike | TaskInstance,
    data: Any = None,
    *,
    backends: Sequence[str] | str | None = None,
    dtype: str = "float32",
    seed: int = 0,
    recipe: Recipe | Mapping[str, Any] | None = None,
    reference: str = "numpy",
    out: str | os.PathLike | None = None,
    target: str | None = None,
    loss: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    timing: bool = False,
    isolate: bool | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> Result:
    """Run ``model`` on every backend from identical weights and data and compare with ``reference``.

    ``model``: a built-in task name (``"regression"``), a ModelSpec, a dict with ``layers``
    (and optionally ``input_shape`` and ``recipe``), or the path of such a JSON/YAML file.
    ``data``: None (the task's data, or seeded synthetic data for a model), ``(X, y)`` arrays
    (split 80/20 by ``seed``, used as given), ``(X_train, y_train, X_test, y_test)``, a pandas
    DataFrame with ``target=`` or the path of a CSV with ``target=`` (numeric features,
    standardized as the command line does). ``recipe``: a Recipe or a dict of recipe fields
    (``{"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 5}``) over the model's recipe.
    ``backends``: names or "a,b" (default: every installed one). ``out``: also write the report
    folder there. ``timing``: the repeated timing runs (then each backend runs in its own
    process unless ``isolate=False``).
    """
    from netparity.backends import BACKENDS, installed_reason
    from netparity.backends.base import DTYPES
    from netparity.harness.environment import environment
    from netparity.harness.run import RunConfig, backends_to_run, run, with_overrides
    from netparity.rerun import record

    if dtype not in DTYPES:
        raise SpecError(f"unknown dtype {quoted(dtype)} (known: {', '.join(DTYPES)})")
    if reference not in BACKENDS:
        raise SpecError(f"unknown reference backend {quoted(reference)} (known: {', '.join(BACKENDS)})")
    check_seed(seed, "seed")  # the command line's limits, one rule for both
    if threads is not None:
        check_threads(threads)
    task, source, in_memory = build_task(model, data, target=target, loss=loss, recipe=recipe, seed=seed)
    task = with_overrides(task, epochs=epochs, batch_size=batch_size)
    if backends is None:
        chosen = [b for b in BACKENDS if installed_reason(b) is None]
    else:
        chosen = [b.strip() for b in backends.split(",")] if isinstance(backends, str) else list(backends)
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown or not chosen:
            names = ", ".join(shown(str(u), 40) for u in unknown[:5])
            raise SpecError(f"unknown backend {names or quoted(backends)} (known: {', '.join(BACKENDS)})")
    data_set, rec = task.data, task.recipe  # refused before the run allocates anything
    n_backends = len(backends_to_run(chosen, reference))
    check_memory(task.model, len(data_set.x_train), len(data_set.x_test), rec.batch_size, rec.epochs, n_backends)
    config = RunConfig(
        dtype=dtype,
        device=device,
        seed=seed,
        reference=reference,
        timing=timing,
        threads=threads,
        isolate=timing if isolate is None else isolate,
    )
    if out is not None:  # a folder that cannot take the report fails now, not after the run
        from netparity.harness.report import ReportError, prepare_out_dir

        try:
            prepare_out_dir(str(out), task.name)
        except ReportError as err:
            raise SpecError(str(err)) from None
    result = run(task, chosen, config, named=() if backends is None else chosen)
    extra = {
        "rerun": record(source, task, chosen, config),
        "environment": environment(device, threads),
    }
    res = Result(result, extra=extra, data_file=in_memory)
    if out is not None:
        res.save(out)
    return res


# ------------------------------------------------------------------ building the task


def build_task(
    model: Any, data: Any, *, target: str | None, loss: str | None, recipe: Any, seed: int
) -> tuple[TaskInstance, dict, bool]:
    """The TaskInstance, its data source for spec.json's rerun record, and whether the data
    exist only in memory (then a saved report keeps them in data.npz)."""
    from netparity.spec.files import read_spec_file
    from netparity.spec.serialize import model_to_dict, recipe_to_dict
    from netparity.spec.tasks import TASKS

    if isinstance(model, TaskInstance):
        if data is not None:
            raise SpecError("a TaskInstance brings its own data; pass data=None")
        return _with_recipe(model, recipe, loss), {"kind": "file"}, True
    if isinstance(model, str) and model in TASKS and not Path(model).exists():
        if data is not None or target is not None or loss is not None:
            raise SpecError(f"the built-in task {quoted(model)} has its own data and loss; pass a model to use yours")
        task = TASKS[model].build(seed)
        return _with_recipe(task, recipe, None), {"kind": "task", "name": model, "seed": seed}, False
    name = "custom"
    if isinstance(model, (str, os.PathLike)):
        raw = read_spec_file(model)
        name = f"custom-{Path(model).stem}"
    elif isinstance(model, ModelSpec):
        raw = {"input_shape": list(model.input_shape), "layers": model_to_dict(model)["layers"]}
    elif isinstance(model, Mapping):
        raw = dict(model)
    else:
        raise SpecError(
            f"model: expected a task name, a ModelSpec, a dict or a spec file path, got {type(model).__name__}"
        )
    if isinstance(recipe, Recipe):
        recipe = recipe_to_dict(recipe)
    base_recipe = {**(raw.get("recipe") or {}), **(recipe or {})}
    if loss is not None:
        base_recipe["loss"] = loss
    return _custom_task(name, raw, base_recipe, data, target, seed)


def _with_recipe(task: TaskInstance, recipe: Any, loss: str | None) -> TaskInstance:
    import dataclasses

    from netparity.spec.serialize import recipe_from_dict

    if recipe is None and loss is None:
        return task
    if isinstance(recipe, Recipe):
        new = recipe
    else:
        new = recipe_from_dict({**(recipe or {}), **({"loss": loss} if loss else {})}, task.recipe)
    new.check()
    return dataclasses.replace(task, recipe=new)


def _custom_task(
    name: str, raw: dict, recipe_dict: dict, data: Any, target: str | None, seed: int
) -> tuple[TaskInstance, dict, bool]:
    import pandas as pd

    from netparity.spec.files import (
        MAX_PARAMS,
        METRICS,
        SYNTHETIC_ROWS,
        default_layers,
        frame_data,
        read_csv_data,
        synthetic_data,
    )
    from netparity.spec.serialize import model_from_dict, recipe_from_dict

    loss = recipe_dict.get("loss", "mse")
    base = Recipe(loss=loss, optimizer=Optimizer("sgd", lr=0.01), epochs=10, batch_size=32, shuffle_seed=seed)
    recipe = recipe_from_dict({**recipe_dict, "loss": loss}, base)
    classification, binary = recipe.loss.integer_targets, recipe.loss.kind == "binary"
    n_classes = 0
    if isinstance(data, (str, os.PathLike)) or isinstance(data, pd.DataFrame):
        if not target:
            raise SpecError("data: a CSV or DataFrame needs target= (the column to predict)")
        if isinstance(data, pd.DataFrame):
            dataset, features, n_classes = frame_data(
                data, target, classification=classification, seed=seed, binary=binary
            )
            source, in_memory = {"kind": "file"}, True
        else:
            dataset, features, n_classes = read_csv_data(
                data, target, classification=classification, seed=seed, binary=binary
            )
            source = {"kind": "csv", "path": os.path.abspath(data), "target": target, "seed": seed}
            name, in_memory = f"custom-{Path(data).stem}", False
        implied = [len(features)]
    elif data is not None:
        if target is not None:
            raise SpecError("target= names a column of a CSV or DataFrame; arrays are given as (X, y)")
        dataset = array_data(data, classification, seed)
        n_classes = int(max(dataset.y_train.max(), dataset.y_test.max())) + 1 if classification else 0
        source, in_memory = {"kind": "file"}, True
        implied = list(dataset.x_train.shape[1:])
    else:
        dataset, implied = None, None
    shape = raw.get("input_shape", implied)
    if shape is None:
        raise SpecError("model: 'input_shape' is required when no data give it")
    if implied is not None and list(shape) != list(implied):
        raise SpecError(f"model: input_shape {list(shape)} does not match the data's feature shape {implied}")
    if dataset is not None and not classification and "layers" not in raw:
        width = int(np.prod(dataset.y_train.shape[1:])) or 1
        layers = default_layers(width)
    else:
        layers = raw.get("layers", default_layers(n_classes or 1))
    spec = model_from_dict({"input_shape": list(shape), "layers": layers})
    n_params = sum(math.prod(ps.shape) for ps in spec.param_specs().values())
    if n_params > MAX_PARAMS:
        raise SpecError(f"the model has {n_params:,} parameters; more than {MAX_PARAMS:,} is too large to compare here")
    if classification and len(spec.output_shape) != 1:
        raise SpecError(f"cross_entropy needs 1-D outputs (one logit per class), got {spec.output_shape}")
    if dataset is None:
        cut = int(SYNTHETIC_ROWS * (1 - TEST_FRACTION))  # sized before the stand-in data is drawn
        check_memory(spec, cut, SYNTHETIC_ROWS - cut, recipe.batch_size, recipe.epochs)
        dataset = synthetic_data(spec, classification, seed, binary)
        source, in_memory = {"kind": "synthetic", "seed": seed}, False
    elif classification and spec.output_shape[0] < n_classes:
        raise SpecError(f"the model has {spec.output_shape[0]} outputs but the data have {n_classes} classes")
    elif not classification and tuple(spec.output_shape) != tuple(dataset.y_train.shape[1:]):
        raise SpecError(
            f"the model's output shape {spec.output_shape} does not match the targets' {dataset.y_train.shape[1:]}"
        )
    kind = recipe.loss.kind
    return TaskInstance(name, spec, recipe, dataset, kind, METRICS[kind]), source, in_memory


def array_data(data: Any, classification: bool, seed: int) -> Dataset:
    """``(X, y)`` split 80/20 by ``seed`` or ``(X_train, y_train, X_test, y_test)``, as given
    (no scaling): float64 features (int64 token ids stay integers), float64 regression
    targets with a trailing axis, int64 class labels 0..k-1."""
    if isinstance(data, Dataset):
        data.check()
        return data
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise SpecError(
            f"data: expected (X, y), (X_train, y_train, X_test, y_test), a DataFrame or a CSV path, "
            f"got {type(data).__name__}"
        )
    arrays = [np.asarray(a) for a in data]
    if len(arrays) == 2:
        x, y = arrays
        if len(x) != len(y):
            raise SpecError(f"data: X has {len(x)} rows but y has {len(y)}")
        if len(x) < 5:
            raise SpecError(f"data: {len(x)} rows is too few to split into training and test sets")
        order = np.random.default_rng([seed, 11]).permutation(len(x))
        cut = len(x) - max(1, round(TEST_FRACTION * len(x)))
        arrays = [x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]]

    def features(a: np.ndarray) -> np.ndarray:
        return a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)

    def targets(a: np.ndarray) -> np.ndarray:
        if classification:
            if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1 or (a.size and a.min() < 0):
                raise SpecError("data: class labels must be a 1-D array of integers 0..k-1 for cross_entropy")
            return a.astype(np.int64)
        a = a.astype(np.float64)
        return a[:, None] if a.ndim == 1 else a

    x_tr, y_tr, x_te, y_te = arrays
    try:
        dataset = Dataset(features(x_tr), targets(y_tr), features(x_te), targets(y_te))
    except (TypeError, ValueError) as err:
        raise SpecError(f"data: not numeric arrays: {' '.join(str(err).split())}") from None
    dataset.check()
    return dataset
