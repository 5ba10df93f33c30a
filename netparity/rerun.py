"""Run folders that re-run exactly: spec.json records where the data came from (a built-in
task and its seed, a CSV, seeded synthetic data, or ``data.npz`` beside it), a fingerprint
of the data, the exact model and recipe, and how the run was carried out. ``load_run`` turns
that back into the task, backends and RunConfig; ``netparity --rerun DIR`` runs them."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netparity.harness.run import RunConfig
from netparity.spec.data import Dataset
from netparity.spec.errors import SpecError, shown
from netparity.spec.limits import MAX_NESTING, MAX_SPEC_BYTES, nesting_depth, read_regular_file
from netparity.spec.tasks import TaskInstance

RUN_SPEC = "spec.json"
DATA_FILE = "data.npz"  # in-memory data (the API's arrays or DataFrame), saved beside the report
DATA_FIELDS = ("x_train", "y_train", "x_test", "y_test")


def fingerprint(data: Dataset) -> str:
    """sha256 of the four arrays (dtype, shape and bytes) and the target scaling."""
    h = hashlib.sha256()
    for name in DATA_FIELDS:
        arr = np.ascontiguousarray(getattr(data, name))
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    h.update(f"{data.y_shift!r}:{data.y_scale!r}".encode())
    return h.hexdigest()


def save_data(data: Dataset, folder: Path) -> None:
    """data.npz: the four arrays and the target scaling, for a rerun of in-memory data."""
    from netparity.harness.report import atomic_write

    buf = io.BytesIO()
    np.savez(buf, **{n: getattr(data, n) for n in DATA_FIELDS}, scaling=np.array([data.y_shift, data.y_scale]))
    atomic_write(Path(folder) / DATA_FILE, buf.getvalue())


def record(
    source: dict,
    task: TaskInstance,
    backends: list[str],
    config: RunConfig,
    *,
    defaults: str = "aligned",
    pinned: set[str] | frozenset[str] = frozenset(),
) -> dict:
    """spec.json's ``rerun`` entry: with the model, recipe, dtype, device, seed and reference
    that spec.json records anyway, everything ``load_run`` needs."""
    return {
        "source": source,
        "kind": task.kind,
        "metrics": list(task.metrics),
        "data_sha256": fingerprint(task.data),
        "backends": list(backends),
        "timing": config.timing,
        "isolate": config.isolate,
        "threads": config.threads,
        "tf32_timing": config.tf32_timing,
        "defaults": defaults,
        "pinned": sorted(pinned),
    }


@dataclass
class SavedRun:
    folder: Path
    task: TaskInstance
    backends: list[str]
    config: RunConfig
    defaults: str
    pinned: set[str]
    record: dict


def read_run_spec(path: str | Path) -> dict:
    """spec.json of a run folder (``path`` is the folder or the file) as a dict."""
    from netparity.harness.report import incomplete_run

    path = Path(path)
    file = path / RUN_SPEC if path.is_dir() else path
    unfinished = incomplete_run(file.parent)
    if unfinished:
        raise SpecError(f"{shown(file.parent)}: holds {unfinished}; only a finished run can be re-run")
    if not file.exists():
        raise SpecError(f"{shown(path)}: no {RUN_SPEC} here; --rerun takes a run folder written by netparity")
    raw = read_regular_file(file, "--rerun", MAX_SPEC_BYTES)  # the limits of any spec file
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as err:
        raise SpecError(
            f"{shown(file)}: cannot read it as a run's {RUN_SPEC}: {shown(' '.join(str(err).split()), 160)}"
        ) from None
    if nesting_depth(meta) > MAX_NESTING:
        raise SpecError(f"{shown(file)}: nested more than {MAX_NESTING} levels deep")
    if not isinstance(meta, dict) or "model" not in meta or "recipe" not in meta:
        raise SpecError(f"{file}: not a run folder's {RUN_SPEC} (no model and recipe)")
    if not isinstance(meta.get("rerun"), dict):
        raise SpecError(
            f"{file}: this run did not record how to re-run it (a learning-rate sweep's folders, or an older netparity)"
        )
    return meta


def is_run_spec(path: str | Path) -> bool:
    """Whether ``path`` is a run folder's spec.json (which ``--spec`` then re-runs)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:  # anything unreadable is left to the spec reader, which says why in one line
        meta = json.loads(read_regular_file(path, "--spec", MAX_SPEC_BYTES).decode("utf-8"))
    except (SpecError, UnicodeDecodeError, RecursionError, ValueError):
        return False
    return isinstance(meta, dict) and "rerun" in meta


def _data(source: dict, model, recipe, folder: Path) -> Dataset:
    kind = source.get("kind")
    classification, binary = recipe.loss.integer_targets, recipe.loss.kind == "binary"
    if kind == "task":
        from netparity.spec.tasks import get_task

        return get_task(source["name"]).build(source["seed"]).data
    if kind == "csv":
        from netparity.spec.files import read_csv_data

        split = source.get("split", 0.8)  # the training share; None: every row, file order
        return read_csv_data(
            source["path"],
            source["target"],
            classification=classification,
            seed=source["seed"],
            test_fraction=None if split is None else 1 - split,
            standardize_rows=source.get("standardize", True),
            binary=binary,
        )[0]
    if kind == "synthetic":
        from netparity.spec.files import synthetic_data

        return synthetic_data(model, classification, source["seed"], binary)
    if kind == "file":
        file = folder / source.get("path", DATA_FILE)
        try:
            with np.load(file) as z:
                shift, scale = (float(v) for v in z["scaling"])
                return Dataset(*(z[n] for n in DATA_FIELDS), shift, scale)
        except (OSError, KeyError, ValueError) as err:
            raise SpecError(f"{file}: cannot read the run's saved data: {' '.join(str(err).split())}") from None
    raise SpecError(f"{folder / RUN_SPEC}: unknown data source {source!r}")


def load_run(path: str | Path) -> SavedRun:
    """The task (same data, checked by fingerprint; the recorded model and recipe), backends
    and RunConfig of a run folder."""
    from netparity.spec.serialize import model_from_dict, recipe_from_dict

    meta = read_run_spec(path)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    rec = meta["rerun"]
    model, recipe = model_from_dict(meta["model"]), recipe_from_dict(meta["recipe"])
    data = _data(rec["source"], model, recipe, folder)
    if fingerprint(data) != rec["data_sha256"]:
        raise SpecError(
            f"{folder}: the data no longer match the run's (sha256 differs): "
            f"its source {rec['source']} changed since, or a library that prepares it did"
        )
    task = TaskInstance(meta["task"], model, recipe, data, rec["kind"], tuple(rec["metrics"]))
    config = RunConfig(
        dtype=meta["dtype"],
        device=meta["device"],
        seed=meta["seed"],
        reference=meta["reference"],
        timing=rec["timing"],
        threads=rec["threads"],
        isolate=rec["isolate"],
        tf32_timing=rec["tf32_timing"],
    )
    return SavedRun(folder, task, list(rec["backends"]), config, rec["defaults"], set(rec["pinned"]), rec)


def same_losses(old_folder: Path, new_folder: Path) -> str:
    """One line: whether the re-run's loss trajectories equal the original's bit for bit."""
    import pandas as pd

    try:
        old = pd.read_csv(Path(old_folder) / "losses.csv")
        new = pd.read_csv(Path(new_folder) / "losses.csv")
    except (OSError, ValueError):
        return "the original run has no losses.csv to compare with"
    same, differ, missing = [], [], []
    for backend, group in new.groupby("backend", sort=False):
        before = old[old.backend == backend].loss.to_numpy()
        after = group.loss.to_numpy()
        if not before.size:  # e.g. the original was interrupted before this backend ran
            missing.append(str(backend))
            continue
        (same if before.shape == after.shape and np.array_equal(before, after, equal_nan=True) else differ).append(
            str(backend)
        )
    parts = []
    if same:
        parts.append(f"loss trajectories identical to the original bit for bit: {', '.join(same)}")
    if differ:
        parts.append(f"different from the original: {', '.join(differ)}")
    if missing:
        parts.append(f"no losses in the original to compare with: {', '.join(missing)}")
    return "; ".join(parts)


#: flags that would change what a rerun runs: the recorded model, data, recipe and backends
FIXED_FLAGS = (
    "task",
    "data",
    "target",
    "loss",
    "epochs",
    "batch_size",
    "lr",
    "backends",
    "optimizer",
    "l2",
    "poly",
    "x0",
    "split",
)


def data_source(args: argparse.Namespace, task_name: str) -> dict:
    """Where a command line's data come from, for the rerun record."""
    if args.data is not None:
        from netparity.spec.files import parse_split

        return {
            "kind": "csv",
            "path": os.path.abspath(args.data),
            "target": args.target,
            "seed": args.seed,
            "split": parse_split(getattr(args, "split", None)),
            "standardize": getattr(args, "standardize", True),
        }
    if args.spec is not None and args.task is None:  # --task with a recipe-only --spec: the task's data
        return {"kind": "synthetic", "seed": args.seed}
    return {"kind": "task", "name": task_name, "seed": args.seed}


def rerun_args(args: argparse.Namespace) -> SavedRun | None:
    """For ``--rerun DIR`` or ``--spec DIR/spec.json``: the saved run, with ``args`` set to how
    it ran (dtype, device, seed, reference, threads, backends, timing, isolation, defaults).
    Only --out, --no-timing and --isolate/--no-isolate may still change how; a flag that would
    change what runs is refused. None for any other command line."""
    from netparity.recipe_args import HYPER_FLAGS

    path = args.rerun
    if path is None:
        if args.spec is None or not is_run_spec(args.spec):
            return None
        path = args.spec
    elif args.spec is not None:
        raise SpecError("--rerun and --spec exclude each other (--spec RUN/spec.json is a rerun itself)")
    given = [f"--{name.replace('_', '-')}" for name in (*FIXED_FLAGS, *HYPER_FLAGS) if getattr(args, name) is not None]
    if not getattr(args, "standardize", True):
        given.append("--no-standardize")
    if given:
        raise SpecError(f"a rerun runs the recorded model, data and recipe; {', '.join(given)} cannot change it")
    saved = load_run(path)
    c = saved.config
    args.spec = args.task = None
    args.dtype, args.device, args.seed, args.reference, args.tf32 = (
        c.dtype,
        c.device,
        c.seed,
        c.reference,
        c.tf32_timing,
    )
    args.threads = c.threads or os.cpu_count() or 1
    args.backends = ",".join(saved.backends)
    args.no_timing = args.no_timing or not c.timing
    if args.isolate is None:
        args.isolate = c.isolate
    args.defaults = saved.defaults
    return saved
