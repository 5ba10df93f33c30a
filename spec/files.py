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

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from netparity.spec.data import Dataset, standardize
from netparity.spec.errors import SpecError
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe, output_activation
from netparity.spec.serialize import model_from_dict, recipe_from_dict
from netparity.spec.tasks import TaskInstance

SPEC_KEYS = ("input_shape", "layers", "recipe")
TEST_FRACTION = 0.2
MAX_PARAMS = 50_000_000  # float64 copies per backend, gradients and optimizer state must fit in memory
SYNTHETIC_ROWS = 256  # rows of the seeded stand-in data when a spec comes without a CSV
METRICS = {"regression": ("test_mse", "test_mape"), "classification": ("test_accuracy", "test_loss")}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The spec file as a plain dict: JSON for ``.json``, YAML (safe_load) otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"--spec {path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"--spec {path}: is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"--spec {path}: cannot read it: {_one_line(err)}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError(
                f"--spec {path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
            ) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or err
            raise SpecError(f"--spec {path}: malformed YAML{where}: {_one_line(problem)}") from None
        except RecursionError:
            raise SpecError(f"--spec {path}: malformed YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise SpecError(
            f"--spec {path}: expected an object with keys {', '.join(SPEC_KEYS)}, got {type(data).__name__}"
        )
    unknown = sorted(map(str, set(data) - set(SPEC_KEYS)))
    if unknown:
        raise SpecError(f"--spec {path}: unknown top-level key(s) {', '.join(unknown)} (known: {', '.join(SPEC_KEYS)})")
    return data


def read_csv_data(
    path: str | Path,
    target: str,
    *,
    classification: bool,
    seed: int,
    test_fraction: float = TEST_FRACTION,
    vocab: int | None = None,
) -> tuple[Dataset, list[str], int]:
    """Numeric features and one target column from a CSV; a seeded split; features (and a
    regression target) standardized on the training rows. With ``vocab`` (the model starts
    with an Embedding) the features are token ids: never standardized, and each must be an
    integer in [0, vocab). Returns the data set, the feature
    names and the number of classes (0 for regression)."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise SpecError(f"--data {path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"--data {path}: is a folder, not a file") from None
    except pd.errors.EmptyDataError:
        raise SpecError(f"--data {path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise SpecError(f"--data {path}: not a readable CSV: {_one_line(err)}") from None
    return frame_data(
        frame, target, classification=classification, seed=seed, test_fraction=test_fraction, where=path, vocab=vocab
    )


def frame_data(
    frame,
    target: str,
    *,
    classification: bool,
    seed: int,
    test_fraction: float = TEST_FRACTION,
    where: object = "data",
    vocab: int | None = None,
) -> tuple[Dataset, list[str], int]:
    """``read_csv_data`` on a pandas DataFrame already in memory (``where`` names it in errors)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    path = where
    frame = frame.copy()
    if target not in frame.columns:
        raise SpecError(
            f"--data {path}: no column {target!r} for --target (columns: {', '.join(map(str, frame.columns))})"
        )
    features = [str(c) for c in frame.columns if c != target]
    if not features:
        raise SpecError(f"--data {path}: no feature columns besides the target {target!r}")
    if len(frame) < 5:
        raise SpecError(f"--data {path}: {len(frame)} rows is too few to split into training and test sets")

    for column in [*features, *([] if classification else [target])]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            hint = "; class labels need --loss cross_entropy" if column == target else ""
            raise SpecError(
                f"--data {path}: column {column!r} holds a non-numeric value {frame[column].iloc[row]!r} "
                f"(data row {row + 1}){hint}"
            )
        missing = values.isna() | ~np.isfinite(values.astype(float))
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise SpecError(f"--data {path}: column {column!r} holds NaN, inf or an empty cell (data row {row + 1})")
        frame[column] = values.astype(np.float64)

    x = frame[features].to_numpy(dtype=np.float64)
    if classification:
        labels = frame[target]
        if labels.isna().any():
            row = int(np.flatnonzero(labels.isna().to_numpy())[0])
            raise SpecError(f"--data {path}: target column {target!r} has an empty cell (data row {row + 1})")
        classes, y = np.unique(labels.astype(str).to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise SpecError(f"--data {path}: target column {target!r} holds only one class; cross_entropy needs two")
        y = y.astype(np.int64)
    else:
        y = frame[target].to_numpy(dtype=np.float64)

    if vocab is not None:
        x = token_ids(x, features, vocab, path)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed)
    if vocab is None:
        x_tr, x_te = standardize(x_tr, x_te)
    if classification:
        data = Dataset(x_tr, y_tr, x_te, y_te)
    else:
        shift, scale = float(y_tr.mean()), float(y_tr.std()) or 1.0
        data = Dataset(x_tr, ((y_tr - shift) / scale)[:, None], x_te, ((y_te - shift) / scale)[:, None], shift, scale)
    data.check()
    return data, features, len(classes) if classification else 0


def token_ids(x: np.ndarray, features: list[str], vocab: int, path: str | Path) -> np.ndarray:
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


def synthetic_data(model: ModelSpec, classification: bool, seed: int) -> Dataset:
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
    else:
        y = np.tanh(signal).reshape(n, *out_shape)
    cut = int(n * (1 - TEST_FRACTION))
    data = Dataset(x[:cut], y[:cut], x[cut:], y[cut:])
    data.check()
    return data


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
) -> TaskInstance:
    """A TaskInstance from a spec file and/or a CSV, ready for harness.run like any task."""
    raw = read_spec_file(spec_path) if spec_path else {}
    recipe_dict = raw.get("recipe", {})
    if not isinstance(recipe_dict, dict):
        raise SpecError(f"--spec {spec_path}: 'recipe' must be an object, got {recipe_dict!r}")
    if loss is None:  # --loss wins over the file's, which wins over mse
        loss = recipe_dict.get("loss", "mse")
    base = Recipe(loss=loss, optimizer=Optimizer("sgd", lr=0.01), epochs=10, batch_size=32, shuffle_seed=seed)
    recipe = recipe_from_dict({**recipe_dict, "loss": loss}, base)
    classification = recipe.loss.classification

    n_classes = 0
    if data_path is not None:
        if not target:
            raise SpecError("--data needs --target COLUMN (the column to predict)")
        first = (raw.get("layers") or [{}])[0] if isinstance(raw.get("layers"), list) else {}
        vocab = first.get("vocab") if isinstance(first, dict) and first.get("type") == "Embedding" else None
        vocab = vocab if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab > 0 else None
        data, features, n_classes = read_csv_data(
            data_path, target, classification=classification, seed=seed, vocab=vocab
        )
        implied = [len(features)]
        shape = raw.get("input_shape", implied)
        if shape != implied:
            raise SpecError(
                f"--spec {spec_path}: input_shape {shape!r} does not match the {len(features)} feature columns of {data_path}"
            )
        layers = raw.get("layers", default_layers(n_classes or 1))
        name = Path(data_path).stem
    else:
        if "input_shape" not in raw:
            raise SpecError(f"--spec {spec_path}: 'input_shape' is required when no --data gives it")
        shape, layers = raw["input_shape"], raw.get("layers")
        name = Path(spec_path).stem if spec_path else "custom"
    model = model_from_dict({"input_shape": shape, "layers": layers})

    n_params = sum(math.prod(ps.shape) for ps in model.param_specs().values())
    if n_params > MAX_PARAMS:
        raise SpecError(f"the model has {n_params:,} parameters; more than {MAX_PARAMS:,} is too large to compare here")
    out = model.output_shape
    if classification and len(out) != 1:
        raise SpecError(f"cross_entropy needs a model with 1-D outputs (one logit per class), got output shape {out}")
    if data_path is not None:
        wanted = (n_classes,) if classification else (1,)
        if out != wanted:
            what = f"{n_classes} classes of" if classification else "single regression target"
            raise SpecError(
                f"the model's output shape {out} does not match the {what} column {target!r}; want {wanted}"
            )
    if classification and out[0] < 2:  # softmax over one unit is 1 whatever the model does: nothing to learn
        raise SpecError("cross_entropy needs at least two output units (one per class), got 1")
    if classification and not recipe.loss.from_logits and output_activation(model.layers) != "softmax":
        raise SpecError(
            "cross_entropy with from_logits false needs probabilities: end the model in softmax "
            f"(its last activation is {output_activation(model.layers)})"
        )
    if data_path is None:
        data = synthetic_data(model, classification, seed)
    kind = "classification" if classification else "regression"
    return TaskInstance(f"custom-{name}", model, recipe, data, kind, METRICS[kind])
