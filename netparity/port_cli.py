"""The command line's "bring your own model" flags: --model, --input-shape, --weights,
--export, --export-trained. ``cli.py`` adds them with :func:`add_args` and calls the
functions below; everything else about a run is unchanged."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from netparity.spec.errors import SpecError

MODEL_HELP = (
    "your own model: FILE.keras (Keras 3), or FILE.py:NAME for PyTorch, where NAME is an nn.Module "
    "class taking no arguments or a function of no arguments returning one. WARNING: FILE.py is "
    "executed (it is Python code); this is the only flag that runs code from a file"
)


def add_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("bring your own model (README: Port a model)")
    g.add_argument("--model", default=None, help=MODEL_HELP)
    g.add_argument(
        "--input-shape",
        default=None,
        help="the model's input shape in its own layout, no batch axis: e.g. 1,28,28 (C,H,W) for a "
        "torch image model, 20 for token ids, 10,8 for a (T, features) sequence",
    )
    g.add_argument(
        "--weights",
        default=None,
        help="start from these weights: params.npz (canonical names, as every run saves) for any model, "
        "or a torch state_dict .pt (loaded with weights_only=True) for --model FILE.py:NAME",
    )
    g.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="write model.keras, torch_model.pt2, tf_savedmodel/, params.npz and spec.json to DIR; "
        "each is reloaded in a fresh process and checked against the reference",
    )
    g.add_argument(
        "--export-trained",
        action="store_true",
        help="export the reference backend's trained weights (default: the initial ones)",
    )


def check_args(args: argparse.Namespace) -> None:
    """Flag combinations, before anything is loaded (SpecError: one line, exit 2)."""
    if args.model is not None and (args.task is not None or args.spec is not None):
        raise SpecError("--model excludes --task and --spec: the model comes from the file")
    if args.input_shape is not None and args.model is None:
        raise SpecError("--input-shape applies to --model")
    if args.export is not None and args.lr is not None and "," in str(args.lr):
        raise SpecError("--export takes one learning rate, not a sweep")
    if args.export_trained and args.export is None:
        raise SpecError("--export-trained needs --export DIR")
    if args.export is not None and Path(args.export).exists() and any(Path(args.export).iterdir()):
        raise SpecError(f"--export {args.export}: the folder exists and is not empty")
    weights = args.weights
    if weights is not None and weights.endswith((".pt", ".pth")) and not (args.model or "").count(".py:"):
        raise SpecError(f"--weights {weights}: a torch state_dict goes with --model FILE.py:NAME; use params.npz")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise SpecError(f"--input-shape {text!r}: expected positive integers like 1,28,28")
    return shape


def load_torch_module(target: str) -> Any:
    """FILE.py:NAME -> the nn.Module (runs the user's file)."""
    import importlib.util

    path, _, name = target.rpartition(":")
    if not Path(path).is_file():
        raise SpecError(f"--model {target}: no such file {path}")
    try:
        spec = importlib.util.spec_from_file_location("netparity_user_model", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as err:
        raise SpecError(f"--model {target}: running {path} raised {type(err).__name__}: {err}") from None
    if not hasattr(module, name):
        raise SpecError(f"--model {target}: {path} defines no {name!r}")
    try:
        obj = getattr(module, name)()
    except Exception as err:
        raise SpecError(f"--model {target}: {name}() raised {type(err).__name__}: {err}") from None
    from torch import nn

    if not isinstance(obj, nn.Module):
        raise SpecError(f"--model {target}: {name}() gave a {type(obj).__name__}, not a torch nn.Module")
    return obj


def model_task(args: argparse.Namespace) -> tuple[Any, dict[str, np.ndarray], str]:
    """--model: the imported model's task (its own data or stand-in data), its weights, and a
    line saying what was imported."""
    from netparity import port

    target = args.model
    shape = parse_shape(args.input_shape) if args.input_shape else None
    if target.endswith(".keras"):
        if args.weights is not None and not args.weights.endswith(".npz"):
            raise SpecError(
                f"--weights {args.weights}: a .keras model carries its weights; use params.npz to replace them"
            )
        imported = port.from_keras(target, shape)
    elif ".py:" in target:
        if shape is None:
            raise SpecError("--model FILE.py:NAME needs --input-shape (torch layout, e.g. 1,28,28)")
        pt = args.weights if args.weights and not args.weights.endswith(".npz") else None
        imported = port.from_torch(load_torch_module(target), shape, weights=pt)
    else:
        raise SpecError(f"--model {target}: expected FILE.keras or FILE.py:NAME")
    params = imported.params
    if args.weights is not None and args.weights.endswith(".npz"):
        params = port.load_params(args.weights, imported.spec)
    loss = args.loss or "mse"
    name = f"model-{Path(target.split(':')[0]).stem}"
    task = port.task_for(
        imported.spec,
        data=args.data,
        target=args.target,
        loss=loss,
        seed=args.seed,
        input_layout=imported.input_layout,
        name=name,
    )
    line = (
        f"imported {imported.source} from {target}: {len(imported.spec.layers)} layers, "
        f"input {imported.input_layout} {tuple(shape or imported.spec.input_shape)}, verified against the original"
    )
    return task, params, line


def weights_for(args: argparse.Namespace, task: Any) -> dict[str, np.ndarray] | None:
    """--weights params.npz for a --task or --spec run (None: the seeded initializer)."""
    if args.weights is None:
        return None
    from netparity import port

    return port.load_params(args.weights, task.model)


def finish(args: argparse.Namespace, task: Any, result: Any, out_dir: Path, initial: dict | None) -> bool:
    """After the report: params_initial.npz / params_trained.npz, the export and its checks,
    and the parity certificate (certificate.json, a report.md section). False if an artifact
    disagrees."""
    from netparity import port
    from netparity.spec.init import init_params

    initial = initial if initial is not None else init_params(task.model, args.seed)
    port.save_params(out_dir / "params_initial.npz", initial)
    ref = result.results.get(result.reference)
    trained = ref.params if ref is not None and ref.params else None
    if trained:
        port.save_params(out_dir / "params_trained.npz", trained)
    checks: list = []
    if args.export is not None:
        if args.export_trained and not trained:
            raise SpecError(f"--export-trained: the reference {result.reference} did not train ({ref and ref.reason})")
        params = trained if args.export_trained else initial
        probe = task.data.x_test[:64]
        checks = port.export(task.model, params, args.export, dtype=args.dtype, probe=probe)
        for c in checks:
            detail = f"{c.rel_output:.2e} relative" if c.status in ("ok", "mismatch") else c.reason
            print(f"export {c.artifact:<16} {c.status:<8} {detail}  (input {c.input_layout})")
    if args.model is not None or args.export is not None:
        cert = port.certificate(result, checks)
        text = json.dumps(cert, indent=2, default=float) + "\n"
        (out_dir / "certificate.json").write_text(text)
        if args.export is not None:
            (Path(args.export) / "certificate.json").write_text(text)
        report = out_dir / "report.md"
        if report.exists():
            report.write_text(report.read_text() + "\n" + port.certificate_markdown(cert))
        print(f"parity certificate: {cert['verdict']} ({out_dir / 'certificate.json'})")
    return all(c.status in ("ok", "skipped") for c in checks)


def data_source(args: argparse.Namespace) -> dict | None:
    """The rerun record's data source for a --model run without --data: seeded stand-in data
    shaped for the model (as spec files get). None otherwise (the usual record applies)."""
    if args.model is not None and args.data is None:
        return {"kind": "synthetic", "seed": args.seed}
    return None


def rerun_params(folder: Path, task: Any) -> dict[str, np.ndarray] | None:
    """A rerun starts from the run's own params_initial.npz (an imported model's weights, or
    --weights), where the folder has one; else from the seeded initializer, as it did."""
    path = Path(folder) / "params_initial.npz"
    if not path.exists():
        return None
    from netparity import port

    return port.load_params(path, task.model)
