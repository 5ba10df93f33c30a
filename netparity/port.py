"""Bring your own model: import a PyTorch or Keras model with its weights, export a spec with
its weights to every framework, and certify that the copies compute the same numbers.

    imported = netparity.from_torch(LeNet(), (1, 28, 28))   # spec + canonical params (NHWC)
    imported = netparity.from_keras("model.keras")
    checks = netparity.export(imported.spec, imported.params, "out/")  # model.keras, torch_model.pt2, ...

The framework code lives in each backend's ``importer.py`` / ``export.py``; this module
reaches them by name through :data:`EXPORTS` and imports them lazily, so importing netparity
never imports a framework. Every import is checked on the spot: the original model and the
converted one (the NumPy backend) run on the same seeded batch and must agree, or the import
is refused. Every export is reloaded in a fresh process and compared with the reference.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netparity.backends.porting import Imported, ImportRefused
from netparity.harness.diff import TOLERANCES, Diff
from netparity.spec.errors import SpecError
from netparity.spec.model import ModelSpec

#: framework -> (backend folder whose export.py writes it, artifact name, input layout it takes)
EXPORTS: dict[str, tuple[str, str, str]] = {
    "keras": ("keras", "model.keras", "NHWC"),
    "torch": ("torch", "torch_model.pt2", "NCHW"),
    "tf": ("tf", "tf_savedmodel", "NHWC"),
}
CHECK_ROWS = 8  # rows of the seeded batch an import is verified on
__all__ = ["ArtifactCheck", "ImportRefused", "Imported", "export", "from_keras", "from_torch", "load_params"]


# --- import ------------------------------------------------------------------------------


def from_torch(
    module: Any, input_shape: tuple[int, ...] | list[int], *, weights: str | Path | None = None, check: bool = True
) -> Imported:
    """A torch ``nn.Module`` as a spec and canonical parameters (BatchNorm running stats included).

    ``input_shape`` is in torch's own layout without the batch axis: (C, H, W) for images,
    (T, D) for batch_first sequences, (T,) for token ids, (F,) for vectors. ``weights``: a
    ``state_dict`` file (torch.save; loaded with weights_only=True) loaded into the module first.
    """
    from netparity.backends.torch import importer

    if weights is not None:
        importer.load_state_dict(module, str(weights))
    imported = importer.import_module(module, tuple(input_shape))
    if check:
        x = _check_batch(imported.spec, seed=0)
        native = _to_layout(x, imported.input_layout)
        _verify(imported, importer.predict(module, native), x, "float64")
    return imported


def from_keras(model: Any, input_shape: tuple[int, ...] | list[int] | None = None, *, check: bool = True) -> Imported:
    """A Keras 3 model (in memory, or a ``.keras`` file path) as a spec and canonical parameters.
    ``input_shape`` only where the model's own is not fixed (channels-last, no batch axis)."""
    from netparity.backends.keras import importer

    if isinstance(model, (str, Path)):
        model = importer.load(str(model))
    imported = importer.import_model(model, tuple(input_shape) if input_shape is not None else None)
    if check:
        x = _check_batch(imported.spec, seed=0)
        # float64 rounding only when every weight is float64 (the model's own dtype can follow floatx)
        dtype = "float64" if all("float64" in str(w.dtype) for w in model.weights) else "float32"
        _verify(imported, importer.predict(model, x), x, dtype, KERAS_FLOAT64_CHECK if dtype == "float64" else None)
    return imported


def _check_batch(spec: ModelSpec, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 13])
    if spec.integer_inputs:
        return rng.integers(0, spec.layers[0].vocab, (CHECK_ROWS, *spec.input_shape))
    return rng.normal(size=(CHECK_ROWS, *spec.input_shape))


def _to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Canonical (NHWC, NWC) -> the original model's layout (NCHW, NCW)."""
    if layout == "NCW":
        return np.ascontiguousarray(x.transpose(0, 2, 1))
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NCHW" else x


#: a float64 Keras model still rounds some constants through float32 (gelu's sqrt(2/pi) in
#: tf.nn.gelu, leaky_relu's slope; measured 1.4e-9..3.8e-9 relative): one float32 rounding of
#: a constant is at most 2**-24 = 6e-8 relative, so its import check allows 1e-7. A mapping
#: error (a transposed kernel, a wrong activation) is 1e-3 or more.
KERAS_FLOAT64_CHECK = 1e-7
KERAS_FLOAT32_CONSTANTS = ("gelu", "gelu_tanh", "leaky_relu")


def _verify(imported: Imported, original: np.ndarray, x: np.ndarray, dtype: str, tol: float | None = None) -> None:
    """The converted model (NumPy backend, float64) must reproduce the original's outputs."""
    from netparity.backends import get_backend
    from netparity.spec.recipe import Recipe

    model = get_backend("numpy").build(imported.spec, imported.params, Recipe(), dtype="float64", device="cpu")
    converted = model.forward(model.stage(x))
    if original.ndim == 4:  # an image output stays in the original layout
        original = original.transpose(0, 2, 3, 1) if imported.input_layout == "NCHW" else original
    diff = Diff.of(converted, original)
    tol = tol or TOLERANCES[dtype]["single"]
    if not diff.within(tol):
        raise ImportRefused(
            f"{imported.source}: the converted model's outputs differ from the original's by {diff.max_rel:.2e} "
            f"relative (tolerance {tol:.0e} in {dtype}); a construct was not mapped exactly"
        )


# --- weights -----------------------------------------------------------------------------


def load_params(path: str | Path, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Canonical parameters and state from an ``.npz`` (as ``save_params`` writes), checked
    against ``spec``: every name present with its canonical shape, nothing extra, finite."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            params = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except FileNotFoundError:
        raise SpecError(f"--weights {path}: no such file") from None
    except Exception as err:
        raise SpecError(f"--weights {path}: not a readable .npz: {' '.join(str(err).split())[:200]}") from None
    expected = {**spec.param_specs(), **spec.state_specs()}
    missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
    if missing or extra:
        raise SpecError(f"--weights {path}: does not fit the model: missing {missing[:4]}, unexpected {extra[:4]}")
    for name, ps in expected.items():
        if params[name].shape != tuple(ps.shape):
            raise SpecError(f"--weights {path}: {name} has shape {params[name].shape}, the model wants {ps.shape}")
        if not np.all(np.isfinite(params[name])):
            raise SpecError(f"--weights {path}: {name} holds NaN or inf")
    return params


def save_params(path: str | Path, params: dict[str, np.ndarray]) -> Path:
    """Canonical parameters as an ``.npz`` (canonical names, float64), written atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
    tmp.replace(path)
    return path


# --- export ------------------------------------------------------------------------------


@dataclass
class ArtifactCheck:
    """One exported artifact reloaded in a fresh process and run on the probe batch."""

    framework: str
    artifact: str
    input_layout: str
    rel_output: float = float("nan")
    abs_output: float = float("nan")
    tolerance: float = float("nan")
    status: str = "ok"  # ok | mismatch | failed | skipped
    reason: str = ""


class ChildFailed(RuntimeError):
    """A child process exited without a result; the message is its last error line."""


def _in_child(function: str, *args: object) -> Any:
    """``netparity.port.<function>(*args)`` in a fresh Python process (a plain subprocess, not
    multiprocessing: a user's script without a ``__main__`` guard must not be re-run). Arguments
    and result travel as pickles in a private temporary folder."""
    import os
    import pickle
    import subprocess
    import sys
    import tempfile

    code = (
        "import pickle, sys\n"
        "from netparity import port\n"
        "args = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        f"result = port.{function}(*args)\n"
        "open(sys.argv[2], 'wb').write(pickle.dumps(result))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the same netparity
    with tempfile.TemporaryDirectory() as tmp:
        given, taken = Path(tmp) / "args.pkl", Path(tmp) / "result.pkl"
        given.write_bytes(pickle.dumps(args))
        proc = subprocess.run(
            [sys.executable, "-c", code, str(given), str(taken)], env=env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0 or not taken.exists():
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            raise ChildFailed(lines[-1][:300] if lines else f"its process exited with status {proc.returncode}")
        return pickle.loads(taken.read_bytes())


def _save_all(spec_dict: dict, params: dict[str, np.ndarray], directory: str, dtype: str, frameworks: list[str]):
    """In a child process: write each framework's artifact; returns {framework: error or ''}."""
    from netparity.spec.serialize import model_from_dict

    spec = model_from_dict(spec_dict)
    errors = {}
    for fw in frameworks:
        try:
            module = _export_module(fw)
            module.save(spec, params, Path(directory), dtype)
            errors[fw] = ""
        except Exception as err:  # one framework failing must not lose the others
            errors[fw] = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    return errors


def _reload(framework: str, path: str, x: np.ndarray) -> np.ndarray:
    """In a fresh child process: load one artifact and predict (canonical in, canonical out)."""
    import warnings

    warnings.filterwarnings("ignore")
    return np.asarray(_export_module(framework).predict(Path(path), x))


def _export_module(framework: str) -> Any:
    """A backend's export.py, imported with TensorFlow's native start-up banners silenced."""
    from netparity.backends.base import native_stderr_silenced

    with native_stderr_silenced():
        return importlib.import_module(f"netparity.backends.{EXPORTS[framework][0]}.export")


def export(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    directory: str | Path,
    *,
    dtype: str = "float32",
    probe: np.ndarray | None = None,
    frameworks: list[str] | tuple[str, ...] | None = None,
) -> list[ArtifactCheck]:
    """Write ``spec.json`` + ``params.npz`` and the model with ``params`` as ``model.keras``,
    ``torch_model.pt2`` and ``tf_savedmodel/`` into ``directory``; reload each in a fresh
    process and compare its outputs on ``probe`` (canonical inputs; default: a seeded batch)
    with the NumPy reference in float64. Returns one check per artifact (written as
    ``export_checks.json`` too)."""
    from netparity.backends import installed_reason
    from netparity.spec.serialize import model_to_dict

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spec.json").write_text(json.dumps(model_to_dict(spec), indent=2) + "\n")
    save_params(directory / "params.npz", params)
    frameworks = list(frameworks or EXPORTS)
    checks = {fw: ArtifactCheck(fw, EXPORTS[fw][1], _layout(spec, EXPORTS[fw][2])) for fw in frameworks}
    ready = []
    for fw in frameworks:
        reason = installed_reason(EXPORTS[fw][0])
        if reason:
            checks[fw].status, checks[fw].reason = "skipped", reason
        else:
            ready.append(fw)
    if ready:  # one child writes them all (each framework's error is caught apart); fresh ones reload
        try:
            errors = _in_child("_save_all", _spec_dict(spec), params, str(directory), dtype, ready)
        except ChildFailed as failure:
            errors = dict.fromkeys(ready, str(failure))
        for fw, err in errors.items():
            if err:
                checks[fw].status, checks[fw].reason = "failed", f"export: {err}"
    x = probe if probe is not None else _check_batch(spec, seed=1)
    reference = _reference_outputs(spec, params, x)
    for fw in ready:
        check = checks[fw]
        if check.status != "ok":
            continue
        tol = TOLERANCES[dtype]["single"]
        if fw == "keras" and dtype == "float64" and _uses(spec, KERAS_FLOAT32_CONSTANTS):
            tol = KERAS_FLOAT64_CHECK  # the stock Keras activations in the file round a constant to float32
        check.tolerance = tol
        try:
            out = _in_child("_reload", fw, str(directory / check.artifact), np.asarray(x))
        except ChildFailed as failure:
            check.status, check.reason = "failed", f"reload: {failure}"
            continue
        diff = Diff.of(out, reference)
        check.rel_output, check.abs_output = diff.max_rel, diff.max_abs
        if not diff.within(tol):
            check.status = "mismatch"
            check.reason = f"reloaded outputs differ by {diff.max_rel:.2e} relative (tolerance {tol:.0e})"
    result = list(checks.values())
    (directory / "export_checks.json").write_text(json.dumps([asdict(c) for c in result], indent=2) + "\n")
    return result


def _uses(spec: ModelSpec, activations: tuple[str, ...]) -> bool:
    """Whether any layer (inside Residuals too) applies one of ``activations``."""

    def walk(layers) -> bool:
        return any(
            getattr(x, "activation", None) in activations
            or getattr(x, "name", None) in activations
            or walk(getattr(x, "layers", ()))
            for x in layers
        )

    return walk(spec.layers)


def _spec_dict(spec: ModelSpec) -> dict:
    from netparity.spec.serialize import model_to_dict

    return model_to_dict(spec)


def _layout(spec: ModelSpec, image_layout: str) -> str:
    if spec.integer_inputs:
        return "tokens"
    return {1: "features", 2: "sequence", 3: image_layout}.get(len(spec.input_shape), "")


def _reference_outputs(spec: ModelSpec, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    from netparity.backends import get_backend
    from netparity.spec.recipe import Recipe

    model = get_backend("numpy").build(spec, params, Recipe(), dtype="float64", device="cpu")
    return model.forward(model.stage(x))


# --- a task for an imported model, and the certificate ------------------------------------


def task_for(
    spec: ModelSpec,
    *,
    data: str | Path | None = None,
    target: str | None = None,
    loss: str = "mse",
    seed: int = 0,
    input_layout: str = "NHWC",
    name: str = "imported",
):
    """A TaskInstance for ``spec``: a CSV (feature columns in the model's own input order,
    reshaped to its input; NCHW images transposed to canonical) or seeded stand-in data."""
    from netparity.spec.files import METRICS, read_csv_data, synthetic_data
    from netparity.spec.recipe import Optimizer, Recipe
    from netparity.spec.tasks import TaskInstance

    recipe = Recipe(loss=loss, optimizer=Optimizer("sgd", lr=0.01), epochs=10, batch_size=32, shuffle_seed=seed)
    recipe.check()
    classification = loss == "cross_entropy"
    out = spec.output_shape
    if classification and len(out) != 1:
        raise SpecError(f"cross_entropy needs a model with 1-D outputs (one logit per class), got output shape {out}")
    if data is None:
        dataset = synthetic_data(spec, classification, seed)
    else:
        if not target:
            raise SpecError("--data needs --target COLUMN (the column to predict)")
        dataset, features, n_classes = read_csv_data(data, target, classification=classification, seed=seed)
        size = math.prod(spec.input_shape)
        if len(features) != size:
            raise SpecError(
                f"--data {data}: {len(features)} feature columns, the model's input {spec.input_shape} needs {size}"
            )
        wanted = (n_classes,) if classification else (1,)
        if out != wanted:
            raise SpecError(f"the model's output shape {out} does not fit the target column {target!r}; want {wanted}")
        dataset = _reshape_data(dataset, spec, input_layout)
    kind = "classification" if classification else "regression"
    return TaskInstance(name, spec, recipe, dataset, kind, METRICS[kind])


def _reshape_data(dataset, spec: ModelSpec, layout: str):
    import dataclasses

    shape = spec.input_shape
    native = {"NCHW": lambda: (shape[2], shape[0], shape[1]), "NCW": lambda: (shape[1], shape[0])}.get(
        layout, lambda: shape
    )()

    def fit(x: np.ndarray) -> np.ndarray:
        x = x.reshape(len(x), *native)
        if layout == "NCW":  # (C, L) columns -> canonical (L, C)
            return np.ascontiguousarray(x.transpose(0, 2, 1))
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NCHW" else x

    if spec.integer_inputs:
        raise SpecError("--data with a token-id model: CSV features are standardized, not token ids")
    return dataclasses.replace(dataset, x_train=fit(dataset.x_train), x_test=fit(dataset.x_test))


def certificate(run: Any, checks: list[ArtifactCheck] | None = None) -> dict[str, Any]:
    """The parity certificate of a run (harness.run.RunResult): for each backend, forward,
    gradients, N training steps and trained parameters against the reference, with the
    tolerances; and each exported artifact's reloaded outputs."""
    steps = len(run.results[run.reference].losses) if run.reference in run.results else 0
    backends = {}
    for name, res in run.results.items():
        c = run.comparisons.get(name)
        entry: dict[str, Any] = {"status": res.status, "reason": res.reason}
        if c is not None:
            entry |= {
                "rel_output": c.output.max_rel,
                "rel_grad": c.grad.max_rel,
                "rel_loss_trajectory": c.trajectory.max_rel,
                "rel_trained_params": c.param.max_rel,
            }
        backends[name] = entry
    ok = run.ok and all(ch.status in ("ok", "skipped") for ch in checks or [])
    return {
        "verdict": "parity" if ok else "NO parity",
        "reference": run.reference,
        "dtype": run.dtype,
        "training_steps": steps,
        "tolerances": dict(run.tolerance),
        "backends": backends,
        "artifacts": [asdict(ch) for ch in checks or []],
    }


def certificate_markdown(cert: dict[str, Any]) -> str:
    tol = cert["tolerances"]
    lines = [
        "## Parity certificate",
        "",
        f"**{cert['verdict']}** — {cert['dtype']}, reference {cert['reference']}, "
        f"{cert['training_steps']} training steps; tolerances: single evaluation {tol['single']:.0e}, "
        f"trained {tol['trained']:.0e} (normwise relative).",
        "",
        "| backend | status | forward | gradients | loss over the steps | trained params |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in cert["backends"].items():
        cells = [
            f"{e[k]:.2e}" if k in e else "—"
            for k in ("rel_output", "rel_grad", "rel_loss_trajectory", "rel_trained_params")
        ]
        lines.append(f"| {name} | {e['status']} | " + " | ".join(cells) + " |")
    if cert["artifacts"]:
        lines += [
            "",
            "Exported artifacts, each reloaded in a fresh process, outputs on the probe batch vs the reference:",
            "",
            "| artifact | framework | input layout | status | rel output | tolerance |",
            "|---|---|---|---|---|---|",
        ]
        for a in cert["artifacts"]:
            lines.append(
                f"| {a['artifact']} | {a['framework']} | {a['input_layout']} | {a['status']} | "
                f"{a['rel_output']:.2e} | {a['tolerance']:.0e} |" + (f" {a['reason']}" if a["reason"] else "")
            )
    return "\n".join(lines) + "\n"
