"""A user's own model and data: a spec file (JSON or YAML) and a CSV, turned into a TaskInstance.

Everything here is parsed as data only (``json.loads`` / ``yaml.safe_load``): nothing in a
file is ever executed. Every problem is a SpecError whose one-line message names the file,
the field, the column or the row that is wrong.

A spec file has the top-level keys ``input_shape`` (optional when a CSV implies it),
``layers`` and ``recipe`` (optional)::

    {"input_shape": [10],
     "layers": [{"type": "Dense", "units": 64, "activation": "relu"}, {"type": "Dense", "units": 1}],
     "recipe": {"loss": "mse", "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 5, "batch_size": 32}}
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from netparity.spec.data import Dataset, standardize
from netparity.spec.errors import SpecError, quoted, shown
from netparity.spec.limits import (
    MAX_CELL,
    MAX_CSV_BYTES,
    MAX_NESTING,
    MAX_SPEC_BYTES,
    MAX_YAML_EVENTS,
    check_memory,
    count,
    nesting_depth,
    read_regular_file,
)
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe, output_activation
from netparity.spec.serialize import model_from_dict, recipe_from_dict
from netparity.spec.tasks import TaskInstance

SPEC_KEYS = ("input_shape", "layers", "recipe")
TEST_FRACTION = 0.2
MAX_PARAMS = 50_000_000  # float64 copies per backend, gradients and optimizer state must fit in memory
SYNTHETIC_ROWS = 256  # rows of the seeded stand-in data when a spec comes without a CSV
METRICS = {
    "regression": ("test_mse", "test_mape"),
    "classification": ("test_accuracy", "test_loss"),
    "binary": ("test_accuracy",),
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The spec file as a plain dict: JSON for ``.json``, YAML (safe, without aliases) otherwise.
    Only a regular file of at most MAX_SPEC_BYTES is read, nested at most MAX_NESTING deep."""
    path = Path(path)
    where = f"--spec {shown(path)}"
    raw = read_regular_file(path, "--spec", MAX_SPEC_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{where}: cannot read it: {_one_line(err)}") from None
    try:
        data = _parse_json(text, where) if path.suffix.lower() == ".json" else _parse_yaml(text, where)
    except RecursionError:
        raise SpecError(f"{where}: nested more than {MAX_NESTING} levels deep") from None
    if nesting_depth(data) > MAX_NESTING:
        raise SpecError(f"{where}: nested more than {MAX_NESTING} levels deep")
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an object with keys {', '.join(SPEC_KEYS)}, got {type(data).__name__}")
    unknown = sorted(shown(k, 40) if isinstance(k, str) else quoted(k, 40) for k in set(data) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown top-level key(s) {', '.join(unknown[:5])} (known: {', '.join(SPEC_KEYS)})")
    return data


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(f"{where}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise SpecError(f"{where}: malformed JSON: {_value_problem(err)}") from None


def _parse_yaml(text: str, where: str) -> Any:
    import yaml

    try:
        _count_yaml_nodes(text, where)
        return yaml.load(text, Loader=_loader())  # a SafeLoader that also refuses aliases
    except yaml.YAMLError as err:
        if "nesting depth" in str(err):  # libyaml's own limit (1,000 levels) met first
            raise SpecError(f"{where}: nested more than {MAX_NESTING} levels deep") from None
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or err
        raise SpecError(f"{where}: malformed YAML{at}: {shown(_one_line(problem), 160)}") from None
    except SpecError:
        raise
    except ValueError as err:  # an integer of more than 4,300 digits
        raise SpecError(f"{where}: malformed YAML: {_value_problem(err)}") from None


def _count_yaml_nodes(text: str, where: str) -> None:
    """Refuse a YAML of more than MAX_YAML_EVENTS parser events before building it: PyYAML's
    Python constructor takes about a minute for a few MB. The parse is libyaml's (C) where
    installed, and stops at the limit."""
    import yaml

    for n, _ in enumerate(yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))):
        if n > MAX_YAML_EVENTS:
            raise SpecError(f"{where}: more than {MAX_YAML_EVENTS:,} YAML nodes; a spec has far fewer")


def _value_problem(err: ValueError) -> str:
    if "integer string conversion" in str(err):
        return f"an integer of more than {sys.get_int_max_str_digits():,} digits"
    return shown(_one_line(err), 160)


def _loader() -> type:
    """yaml.SafeLoader without aliases: ``*name`` could expand a few bytes into billions of
    nodes (billion laughs) or into a recursive structure, and no spec needs one."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"aliases (*{event.anchor}) are not allowed in a spec; write the value out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def parse_split(text: str | None) -> float | None:
    """``--split``: the training share of the rows, in (0, 1) (default 0.8), or ``none``:
    train on every row in file order and test on the same rows."""
    if text is None:
        return 1 - TEST_FRACTION
    if str(text).strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"--split expects a fraction such as 0.8, or none, got {quoted(text)}") from None
    if not (math.isfinite(value) and 0 < value < 1):
        raise SpecError(f"--split must be between 0 and 1 (exclusive), or none, got {quoted(text)}")
    return value


def read_csv_data(
    path: str | Path,
    target: str,
    *,
    classification: bool,
    seed: int,
    test_fraction: float | None = TEST_FRACTION,
    standardize_rows: bool = True,
    binary: bool = False,
    vocab: int | None = None,
) -> tuple[Dataset, list[str], int]:
    """Numeric features and one target column from a CSV (with ``vocab``: token ids of an
    Embedding, never standardized, each a whole number in [0, vocab)); a seeded split (``test_fraction``
    of the rows for testing; None: no split, the test set is the training set, every row in
    file order); features (and a regression target) standardized on the training rows unless
    ``standardize_rows`` is false. A ``binary`` target (bce) holds 0/1 and is never scaled.
    Returns the data set, the feature names and the number of classes (0 for regression)."""
    path = Path(path)
    return frame_data(
        read_frame(path),
        target,
        classification=classification,
        seed=seed,
        test_fraction=test_fraction,
        standardize_rows=standardize_rows,
        binary=binary,
        where=path,
        vocab=vocab,
    )


def frame_data(
    frame,
    target: str,
    *,
    classification: bool,
    seed: int,
    test_fraction: float | None = TEST_FRACTION,
    standardize_rows: bool = True,
    binary: bool = False,
    vocab: int | None = None,
    where: object = "data",
) -> tuple[Dataset, list[str], int]:
    """``read_csv_data`` on a pandas DataFrame already in memory (``where`` names it in errors)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    path = where
    _refuse_repeated_names(path, [str(c) for c in frame.columns])  # read_frame checks a CSV's raw header
    frame = frame.copy()
    if target not in frame.columns:
        raise SpecError(
            f"--data {shown(path)}: no column {quoted(target)} for --target (columns: {column_list(frame.columns)})"
        )
    features = [str(c) for c in frame.columns if c != target]
    if not features:
        raise SpecError(f"--data {shown(path)}: no feature columns besides the target {quoted(target)}")
    if len(frame) < 5:
        raise SpecError(f"--data {shown(path)}: {len(frame)} rows is too few to split into training and test sets")

    for column in [*features, *([] if classification else [target])]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            hint = "; class labels need --loss cross_entropy" if column == target else ""
            raise SpecError(
                f"--data {shown(path)}: column {quoted(column)} holds a non-numeric value "
                f"{quoted(frame[column].iloc[row])} (data row {row + 1}){hint}"
            )
        missing = values.isna() | ~np.isfinite(values.astype(float))
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise SpecError(
                f"--data {shown(path)}: column {quoted(column)} holds NaN, inf or an empty cell (data row {row + 1})"
            )
        huge = values.abs() > MAX_CELL  # its square would overflow when the column is standardized
        if huge.any():
            row = int(np.flatnonzero(huge.to_numpy())[0])
            raise SpecError(
                f"--data {shown(path)}: column {quoted(column)} holds {values.iloc[row]:g} (data row {row + 1}); "
                f"values must be within +-{MAX_CELL:g}: rescale the column"
            )
        frame[column] = values.astype(np.float64)

    x = frame[features].to_numpy(dtype=np.float64)
    if classification:
        labels = frame[target]
        if labels.isna().any():
            row = int(np.flatnonzero(labels.isna().to_numpy())[0])
            raise SpecError(
                f"--data {shown(path)}: target column {quoted(target)} has an empty cell (data row {row + 1})"
            )
        classes, y = np.unique(labels.astype(str).to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise SpecError(
                f"--data {shown(path)}: target column {quoted(target)} holds only one class; cross_entropy needs two"
            )
        y = y.astype(np.int64)
    else:
        y = frame[target].to_numpy(dtype=np.float64)

    if binary and not np.isin(y, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(y, (0.0, 1.0)))[0])
        raise SpecError(
            f"--data {shown(path)}: bce needs a 0/1 target; column {quoted(target)} holds {y[row]!r} (data row {row + 1})"
        )
    if vocab is not None:  # token ids: checked, never standardized
        x, standardize_rows = token_ids(x, features, vocab, path), False
    if test_fraction is None:
        x_tr, x_te, y_tr, y_te = x, x, y, y
    else:
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed)
    if standardize_rows:
        x_tr, x_te = standardize(x_tr, x_te)
    if classification:
        data = Dataset(x_tr, y_tr, x_te, y_te)
    elif binary or not standardize_rows:  # 0/1 or raw targets, unscaled
        data = Dataset(x_tr, y_tr[:, None], x_te, y_te[:, None])
    else:
        shift, scale = float(y_tr.mean()), float(y_tr.std()) or 1.0
        data = Dataset(x_tr, ((y_tr - shift) / scale)[:, None], x_te, ((y_te - shift) / scale)[:, None], shift, scale)
    data.check()
    return data, features, len(classes) if classification else 0


SEPARATORS = (";", "\t", "|")  # tried in turn when a file read with commas has one column


def read_frame(path: Path):  # -> pandas.DataFrame (pandas is imported lazily)
    """The CSV as a frame: a regular file of at most MAX_CSV_BYTES, its header free of repeated
    names; a file whose values are separated by ';', tab or '|' instead of ',' is detected."""
    import pandas as pd

    raw = read_regular_file(path, "--data", MAX_CSV_BYTES)
    frame, header = None, []
    for sep in (",", *SEPARATORS):
        try:
            attempt = pd.read_csv(io.BytesIO(raw), sep=sep)
            names = pd.read_csv(io.BytesIO(raw), sep=sep, header=None, nrows=1).iloc[0].tolist()
        except pd.errors.EmptyDataError:
            raise SpecError(f"--data {shown(path)}: the file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
            if sep == ",":
                raise SpecError(f"--data {shown(path)}: not a readable CSV: {quoted(_one_line(err), 160)}") from None
            continue
        if frame is None or len(attempt.columns) > 1:
            frame, header = attempt, [str(n) for n in names if n == n]  # n != n: an empty (NaN) name
        if len(frame.columns) > 1 or not any(s in str(frame.columns[0]) for s in SEPARATORS):
            break
    _refuse_repeated_names(path, header)  # pandas itself would rename a repeat to 'name.1'
    return frame


def _refuse_repeated_names(path: object, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SpecError(
            f"--data {shown(path)}: the header repeats the column name(s) {column_list(repeated)}; "
            "every column needs its own name"
        )


def column_list(names, limit: int = 10) -> str:
    """Column names for a message: each quoted and shortened, at most ``limit`` of them."""
    names = list(names)
    shown_names = ", ".join(quoted(str(n), 40) for n in names[:limit])
    return shown_names + (f", ... ({len(names)} columns)" if len(names) > limit else "")


def token_ids(x: np.ndarray, features: list[str], vocab: int, path: object) -> np.ndarray:
    """The feature columns as int64 token ids for an Embedding of ``vocab`` rows; a value that
    is not a whole number in [0, vocab) is refused with its column and data row."""
    bad = (x != np.round(x)) | (x < 0) | (x >= vocab)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise SpecError(
            f"--data {path}: column {features[col]!r} holds {x[row, col]:g}, not a token id of the "
            f"Embedding (a whole number in [0, {vocab})) (data row {row + 1})"
        )
    return x.astype(np.int64)


def synthetic_data(model: ModelSpec, classification: bool, seed: int, binary: bool = False) -> Dataset:
    """Seeded stand-in data shaped for ``model``: Gaussian inputs (token ids when it starts with
    an Embedding), targets from a fixed random teacher so that training has something to learn."""
    rng = np.random.default_rng([seed, 7])
    n = SYNTHETIC_ROWS
    if model.integer_inputs:
        x = rng.integers(0, model.layers[0].vocab, (n, *model.input_shape))
        features = rng.normal(size=(model.layers[0].vocab, 4))[x].reshape(n, -1)  # a random embedding
    else:
        x = rng.normal(size=(n, *model.input_shape))
        features = x.reshape(n, -1)
    out_shape = model.output_shape
    # the teacher goes through 8 hidden units: memory stays small for large inputs and outputs
    hidden = features @ rng.normal(size=(features.shape[1], 8)) / math.sqrt(features.shape[1])
    signal = np.tanh(hidden) @ rng.normal(size=(8, math.prod(out_shape)))
    if classification:
        y = signal.argmax(axis=1).astype(np.int64)
    elif binary:
        y = (signal > 0).astype(np.float64).reshape(n, *out_shape)
    else:
        y = np.tanh(signal).reshape(n, *out_shape)
    cut = int(n * (1 - TEST_FRACTION))
    data = Dataset(x[:cut], y[:cut], x[cut:], y[cut:])
    data.check()
    return data


def task_with_recipe_file(task: TaskInstance, spec_path: str | Path) -> TaskInstance | None:
    """``--task NAME --spec FILE`` where FILE holds only a ``recipe``: the task's model and
    data trained by that recipe (fields it leaves out keep the task's). None when the file
    has a model of its own (then --task and --spec exclude each other)."""
    raw = read_spec_file(spec_path)
    if set(raw) != {"recipe"}:
        return None
    if not isinstance(raw["recipe"], dict):
        raise SpecError(f"--spec {shown(spec_path)}: 'recipe' must be an object, got {quoted(raw['recipe'])}")
    recipe = recipe_from_dict(raw["recipe"], task.recipe)
    if recipe.loss.kind != task.kind:
        raise SpecError(f"--spec {shown(spec_path)}: loss {recipe.loss} does not fit the {task.kind} task {task.name}")
    return dataclasses.replace(task, recipe=recipe)


def default_layers(outputs: int) -> list[dict[str, Any]]:
    """The model used with --data but no --spec: the built-in regression task's MLP."""
    return [
        {"type": "Dense", "units": 64, "activation": "relu"},
        {"type": "Dense", "units": 64, "activation": "relu"},
        {"type": "Dense", "units": outputs},
    ]


def custom_task(
    spec_path: str | Path | None,
    data_path: str | Path | None,
    target: str | None,
    *,
    loss: str | None,
    seed: int,
    split: float | None = 1 - TEST_FRACTION,
    standardize: bool = True,
) -> TaskInstance:
    """A TaskInstance from a spec file and/or a CSV, ready for harness.run like any task.
    ``split`` is the training share of the CSV's rows (None: train and test on every row,
    in file order); ``standardize`` false keeps the CSV's raw values."""
    raw = read_spec_file(spec_path) if spec_path else {}
    recipe_dict = raw.get("recipe", {})
    if not isinstance(recipe_dict, dict):
        raise SpecError(f"--spec {shown(spec_path)}: 'recipe' must be an object, got {quoted(recipe_dict)}")
    if loss is None:  # --loss wins over the file's, which wins over mse
        loss = recipe_dict.get("loss", "mse")
    base = Recipe(optimizer=Optimizer("sgd", lr=0.01), epochs=10, batch_size=32, shuffle_seed=seed)
    recipe = recipe_from_dict({**recipe_dict, "loss": loss}, base)
    classification, binary = recipe.loss.integer_targets, recipe.loss.kind == "binary"

    n_classes = 0
    if data_path is not None:
        if not target:
            raise SpecError("--data needs --target COLUMN (the column to predict)")
        first = (raw.get("layers") or [{}])[0] if isinstance(raw.get("layers"), list) else {}
        vocab = first.get("vocab") if isinstance(first, dict) and first.get("type") == "Embedding" else None
        vocab = vocab if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab > 0 else None
        data, features, n_classes = read_csv_data(
            data_path,
            target,
            vocab=vocab,
            classification=classification,
            seed=seed,
            test_fraction=None if split is None else 1 - split,
            standardize_rows=standardize,
            binary=binary,
        )
        implied = [len(features)]
        shape = raw.get("input_shape", implied)
        if shape != implied:
            raise SpecError(
                f"--spec {shown(spec_path)}: input_shape {quoted(shape)} does not match the {len(features)} feature columns of {shown(data_path)}"
            )
        layers = raw.get("layers", default_layers(n_classes or 1))
        name = Path(data_path).stem
    else:
        if "input_shape" not in raw:
            raise SpecError(f"--spec {shown(spec_path)}: 'input_shape' is required when no --data gives it")
        shape, layers = raw["input_shape"], raw.get("layers")
        name = Path(spec_path).stem if spec_path else "custom"
    model = model_from_dict({"input_shape": shape, "layers": layers})

    n_params = sum(math.prod(ps.shape) for ps in model.param_specs().values())
    if n_params > MAX_PARAMS:
        raise SpecError(
            f"the model has {count(n_params)} parameters; more than {MAX_PARAMS:,} is too large to compare here"
        )
    out = model.output_shape
    if classification and len(out) != 1:
        raise SpecError(f"cross_entropy needs a model with 1-D outputs (one logit per class), got output shape {out}")
    if data_path is not None:
        wanted = (n_classes,) if classification else (1,)
        if out != wanted:
            what = f"{n_classes} classes of" if classification else "single regression target"
            raise SpecError(
                f"the model's output shape {out} does not match the {what} column {quoted(target)}; want {wanted}"
            )
    if classification and out[0] < 2:  # softmax over one unit is 1 whatever the model does
        raise SpecError("cross_entropy needs at least two output units (one per class), got 1")
    if classification and not recipe.loss.from_logits and output_activation(model.layers) != "softmax":
        raise SpecError(
            "cross_entropy with from_logits false needs probabilities: end the model in softmax "
            f"(its last activation is {output_activation(model.layers)})"
        )
    if data_path is None:
        cut = int(SYNTHETIC_ROWS * (1 - TEST_FRACTION))  # sized before the stand-in data is drawn
        check_memory(model, cut, SYNTHETIC_ROWS - cut, recipe.batch_size, recipe.epochs)
        data = synthetic_data(model, classification, seed, binary)
    kind = recipe.loss.kind
    return TaskInstance(f"custom-{name}", model, recipe, data, kind, METRICS[kind])
