"""Run the same network on NumPy, PyTorch, TensorFlow and Keras and compare them number by number.

    python compare.py --task regression
    python compare.py --task regression --dtype float64 --backends numpy,torch --out my-run
    python compare.py --list
    python compare.py --spec my_model.yaml --data my_data.csv --target price
    python compare.py --data iris.csv --target species --loss cross_entropy
    python compare.py --rerun reports/20261125-091500-regression

Every run folder gets CSVs, PNG plots and report.md. Exit status: 0 when every backend agrees
with the reference within tolerance, 1 when one disagrees, fails or diverges, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from netparity import __version__
from netparity.backends import BACKENDS, installed_reason, unavailable_reason
from netparity.backends.base import DTYPES
from netparity.recipe_args import add_recipe_args, parse_lrs, recipe_changes
from netparity.spec.errors import SpecError
from netparity.spec.tasks import TASKS, get_task

#: how errors and --help name the program (compare.py passes its own name)
PROG = "netparity"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line instead of usage + traceback
        raise UsageError(message)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = Parser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"netparity {__version__}")
    p.add_argument("--task", default=None, help="task to run (see --list; default: regression)")
    p.add_argument("--backends", default=None, help="comma-separated backends (default: all installed)")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, data split and batch order")
    p.add_argument("--epochs", type=int, default=None, help="override the task's epochs")
    p.add_argument("--batch-size", type=int, default=None, help="override the task's batch size")
    p.add_argument("--lr", default=None, help="override the learning rate; a list (0.001,0.01,0.1) runs a sweep")
    p.add_argument("--reference", default="numpy", help="backend the others are compared with")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", default=None, help="run folder (default: a new one under reports/)")
    p.add_argument("--no-timing", action="store_true", help="skip the repeated timing runs")
    p.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="compute threads for every backend (default: all cores)",
    )
    p.add_argument(
        "--tf32",
        action="store_true",
        help="allow TF32 on GPUs in the timing runs (labelled; comparisons always use full float32)",
    )
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each backend in its own fresh process (default when timing: fair timings; "
        "with --no-timing one process for all is the default, being faster)",
    )
    p.add_argument("--list", action="store_true", help="list tasks and backends, then exit")
    p.add_argument("--spec", default=None, help="your own model (and recipe) as a JSON or YAML file")
    p.add_argument("--data", default=None, help="your own data: a CSV of numeric features plus --target")
    p.add_argument("--target", default=None, help="the --data column to predict")
    p.add_argument("--loss", default=None, help="mse (regression) or cross_entropy (classification) for --spec/--data")
    p.add_argument(
        "--rerun",
        default=None,
        metavar="DIR",
        help="re-run a run folder exactly (its spec.json); only --out, --no-timing and --isolate apply",
    )
    add_recipe_args(p)
    return p


def list_all() -> str:
    """Tasks and backends. Frameworks are looked up, not imported (importlib.util.find_spec
    and importlib.metadata), so this answers in a fraction of a second; a framework that is
    installed but broken shows up when a run imports it."""
    from importlib import metadata

    lines = ["tasks:"]
    lines += [f"  {name:<16}{task.description}" for name, task in sorted(TASKS.items())]
    lines.append("backends:")
    for name in BACKENDS:
        reason = installed_reason(name)
        if reason is None:
            versions = []
            for package in get_backend_requires(name):
                for dist in (package, f"{package}-cpu", f"{package}-gpu"):  # e.g. tensorflow-cpu
                    try:
                        versions.append(f"{package} {metadata.version(dist)}")
                        break
                    except metadata.PackageNotFoundError:
                        continue
                else:  # importable, but not from a distribution
                    versions.append(package)
            status = "installed" + (f" ({', '.join(versions)})" if versions else "")
        else:
            status = "unavailable: " + reason
        lines.append(f"  {name:<16}{status}")
    return "\n".join(lines)


def get_backend_requires(name: str) -> tuple[str, ...]:
    import importlib

    return tuple(importlib.import_module(f"netparity.backends.{name}").BACKEND.requires)


def parse_backends(text: str | None, reference: str, *, deep: bool = True) -> list[str]:
    """The backends to run. ``deep`` checks availability by importing each framework; without
    it only the packages are looked up (isolated runs import the frameworks in their children,
    and a broken install there is still reported as that backend's failure)."""
    check = unavailable_reason if deep else installed_reason
    if text is None:  # every known backend: one that cannot run here is reported skipped
        chosen = list(BACKENDS)
    else:
        chosen = [b.strip() for b in text.split(",") if b.strip()]
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown or not chosen:
            raise UsageError(f"unknown backend {', '.join(unknown) or repr(text)} (known: {', '.join(BACKENDS)})")
    if reference not in BACKENDS:
        raise UsageError(f"unknown reference backend {reference!r} (known: {', '.join(BACKENDS)})")
    reason = check(reference)
    if reason:
        raise UsageError(f"the reference backend {reference} is not available: {reason}")
    return chosen


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The command line: exit status 0 agree, 1 disagree or fail, 2 bad usage."""
    try:
        return _main(build_parser(prog).parse_args(argv))
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    if args.list:
        print(list_all())
        return 0
    from netparity.rerun import rerun_args

    saved = rerun_args(args)  # --rerun DIR or --spec DIR/spec.json: args now say how that run ran
    if args.dtype not in DTYPES:
        raise UsageError(f"unknown dtype {args.dtype!r} (known: {', '.join(DTYPES)})")
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {args.device!r} (known: cpu, cuda)")
    custom = args.spec is not None or args.data is not None
    if custom and args.task is not None:
        raise UsageError("--task and --spec/--data exclude each other: a custom run has its own model and data")
    if args.target is not None and args.data is None:
        raise UsageError("--target needs --data FILE.csv")
    if args.loss is not None and not custom:
        raise UsageError("--loss applies to --spec/--data runs; a built-in task has its own loss")
    task_name = "custom" if custom else args.task or "regression"
    task_def = None if custom else get_task(task_name)

    from netparity.harness.overrides import apply_changes, native_defaults
    from netparity.harness.progress import TrainingProgress
    from netparity.harness.report import ReportError, console_table, prepare_out_dir, write_report
    from netparity.harness.run import RunConfig, run, with_overrides
    from netparity.rerun import data_source, record

    if saved is not None:
        task = saved.task
    elif task_def is None:
        from netparity.spec.files import custom_task

        task = custom_task(args.spec, args.data, args.target, loss=args.loss, seed=args.seed)
    else:
        task = task_def.build(args.seed)
    from netparity.spec.recipe import softmax_twice

    warning = softmax_twice(task.model.layers, task.recipe.loss)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    lrs = parse_lrs(args.lr)
    changes = recipe_changes(args, lr=lrs[0] if len(lrs) == 1 else None)
    task = apply_changes(task, changes)
    task = with_overrides(task, epochs=args.epochs, batch_size=args.batch_size)
    if args.isolate is None:  # isolation buys fair timings; without them one process is faster (README, Timing)
        args.isolate = not args.no_timing
    backends = parse_backends(
        args.backends, args.reference, deep=not args.isolate
    )  # after the spec: it may import every framework
    pinned = saved.pinned if saved else set(changes.hyper)
    native = native_defaults(task, backends, changes.defaults, pinned, sweep=len(lrs) > 1)
    try:  # only once the task is valid: a bad spec leaves no empty run folder behind
        out_dir = prepare_out_dir(args.out, task.name)
    except ReportError as err:
        raise UsageError(str(err)) from None

    print(
        f"task {task.name} | dtype {args.dtype} | seed {args.seed} | reference {args.reference} | "
        f"backends {', '.join(backends)}",
        flush=True,
    )
    bar = TrainingProgress()  # a tqdm bar on an interactive terminal, silent in CI and pipes
    config = RunConfig(
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        reference=args.reference,
        timing=not args.no_timing,
        threads=args.threads,
        isolate=args.isolate,
        tf32_timing=args.tf32,
    )
    from netparity.harness.verdict import console_line

    named = () if args.backends is None else tuple(backends)  # a named backend must not be skipped
    if len(lrs) > 1:  # a learning-rate sweep: one report per rate plus sweep.csv / sweep.png
        from netparity.harness.sweep import run_lr_sweep, sweep_console

        table, verdict = run_lr_sweep(task, lrs, out_dir, lambda t: run(t, backends, config, progress=bar, named=named))
        bar.close()
        print(console_line(verdict))
        print(sweep_console(table))
        print(f"report: {out_dir}")
        return verdict.exit_status
    task_for = native.task_for(task) if native else None
    result = run(task, backends, config, progress=bar, task_for=task_for, named=named)
    bar.close()
    if native:  # the defaults that differed: in each reason, defaults.csv and spec.json
        native.annotate(result)
        from netparity.harness.report import atomic_write

        atomic_write(out_dir / "defaults.csv", native.frame().to_csv(index=False))
    from netparity.harness.environment import environment

    verdict = result.verdict()  # harness.verdict: native mode's explained backends are set above
    ok = verdict.passed
    source = saved.record["source"] if saved else data_source(args, task_name)
    extra = {
        "defaults": changes.defaults,
        "rerun": record(source, task, backends, config, defaults=changes.defaults, pinned=pinned),
        "environment": environment(config.device, config.threads),
    }
    if saved:
        extra["rerun_of"] = str(saved.folder)
    tables = write_report(result, out_dir, extra=extra, ok=ok)
    print(console_line(verdict))
    print(console_table(tables["summary"]))
    print(f"report: {out_dir}")
    if saved:
        from netparity.rerun import same_losses

        print(f"rerun of {saved.folder}: {same_losses(saved.folder, out_dir)}")
    return verdict.exit_status
