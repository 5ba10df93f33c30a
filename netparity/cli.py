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
import math
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from netparity import __version__, port_cli
from netparity.backends import BACKENDS, installed_reason, unavailable_reason
from netparity.backends.base import DTYPES
from netparity.campaign import add_campaign_args, check_campaign_args, fuzz_command, sweep_axes
from netparity.recipe_args import add_recipe_args, parse_lrs, recipe_changes
from netparity.spec.errors import ECHO_LIMIT, SpecError, quoted, shown
from netparity.spec.limits import check_memory, check_seed, check_threads
from netparity.spec.tasks import TASKS, get_task

if TYPE_CHECKING:
    import numpy as np

    from netparity.harness.native import NativeDefaults
    from netparity.harness.overrides import RecipeChanges
    from netparity.harness.report import RunFolder
    from netparity.harness.run import RunConfig
    from netparity.rerun import SavedRun
    from netparity.spec.tasks import TaskInstance

#: how errors and --help name the program (compare.py passes its own name)
PROG = "netparity"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


class Interrupted(Exception):
    """Ctrl-C during the run: what finished was written to the folder, marked interrupted."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line instead of usage + traceback
        # argparse echoes a bad value whole ("invalid int value: '1111...'"): shorten it
        raise UsageError(re.sub(rf"'([^']{{{ECHO_LIMIT},}})'", lambda m: quoted(m.group(1)), message))


def one_line(message: object) -> str:
    """A message as one printable line: control characters (a newline, an escape code) that
    reached it unquoted are escaped, and a runaway message is cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
    return text if len(text) <= 2000 else text[:2000] + "..."


def positive_seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {quoted(text)}")
    return value


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
    p.add_argument(
        "--backend-timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="end a backend that runs longer and mark it failed (default: from the run's size; isolated runs)",
    )
    p.add_argument("--no-timing", action="store_true", help="skip the repeated timing runs")
    p.add_argument(
        "--timing-budget",
        type=positive_seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds of repeats per timed phase, after at least 10 (default 0.5; an epoch gets twice this)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="compute threads for every backend (default: all cores; at most 4x the cores)",
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
        help="run each backend in its own fresh process, one after another (default: persistent worker "
        "processes, comparisons side by side and timing runs one at a time; --no-isolate: all in this process)",
    )
    p.add_argument("--list", action="store_true", help="list tasks and backends, then exit")
    p.add_argument("--spec", default=None, help="your own model (and recipe) as a JSON or YAML file")
    p.add_argument("--data", default=None, help="your own data: a CSV of numeric features plus --target")
    p.add_argument("--target", default=None, help="the --data column to predict")
    p.add_argument(
        "--loss",
        default=None,
        help="mse, mae, huber, bce or cross_entropy for --spec/--data (the spec's recipe may give an object)",
    )
    p.add_argument(
        "--split",
        default=None,
        help="--data: the training share of the rows (default 0.8, seeded), or none (train and test on every row)",
    )
    p.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--data: standardize features (and a regression target) on the training rows (default; "
        "--no-standardize keeps the raw values)",
    )
    p.add_argument(
        "--rerun",
        default=None,
        metavar="DIR",
        help="re-run a run folder exactly (its spec.json); only --out, --no-timing and --isolate apply",
    )
    add_recipe_args(p)
    port_cli.add_args(p)  # issue 13: --model, --input-shape, --weights, --export, --export-trained
    add_campaign_args(p)  # issue 17: --sweep, --fuzz, --fuzz-seed, --cluster, --parallel
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
    from netparity.backends import backend_object

    return tuple(backend_object(name).requires)


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
            names = ", ".join(shown(u, 40) for u in unknown[:5])
            raise UsageError(f"unknown backend {names or quoted(text)} (known: {', '.join(BACKENDS)})")
    if reference not in BACKENDS:
        raise UsageError(f"unknown reference backend {quoted(reference)} (known: {', '.join(BACKENDS)})")
    reason = check(reference)
    if reason:
        raise UsageError(f"the reference backend {reference} is not available: {reason}")
    return chosen


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """The command line: exit status 0 agree, 1 disagree or fail, 2 bad usage."""
    try:
        return _main(build_parser(prog).parse_args(argv), argv)
    except (UsageError, SpecError) as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"{prog}: interrupted: {one_line(err)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prog}: interrupted before any result was written", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    if args.list:
        print(list_all())
        return 0
    if args.backend_timeout is not None:
        if args.isolate is False:  # said explicitly: a backend in this process cannot be ended
            raise UsageError(
                "--backend-timeout needs isolated backends (one running in this process cannot be ended): "
                "drop --no-isolate"
            )
        args.isolate = True  # a timeout implies isolation, with --no-timing too (README, Reliability)
    from netparity.rerun import rerun_args

    saved = rerun_args(args)  # --rerun DIR or --spec DIR/spec.json: args now say how that run ran
    if args.dtype not in DTYPES:
        raise UsageError(f"unknown dtype {quoted(args.dtype)} (known: {', '.join(DTYPES)})")
    check_threads(args.threads)
    check_seed(args.seed, "--seed")
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {quoted(args.device)} (known: cpu, cuda)")
    port_cli.check_args(args)
    # --task with a recipe-only --spec trains the task's model and data by that recipe
    recipe_only = args.task is not None and args.spec is not None and args.data is None
    custom = (args.spec is not None and not recipe_only) or args.data is not None or args.model is not None
    if custom and args.task is not None:
        raise UsageError("--task and --spec/--data exclude each other: a custom run has its own model and data")
    if args.target is not None and args.data is None:
        raise UsageError("--target needs --data FILE.csv")
    if (args.split is not None or not args.standardize) and args.data is None:
        raise UsageError("--split and --no-standardize apply to --data FILE.csv")
    if args.loss is not None and not custom:
        raise UsageError("--loss applies to --spec/--data runs; a built-in task has its own loss")
    check_campaign_args(args, custom)
    if args.fuzz is not None:  # random models: no task of its own
        return fuzz_command(args, parse_backends(args.backends, args.reference, deep=False))
    task_name = "custom" if custom else args.task or "regression"
    task_def = None if custom else get_task(task_name)

    from netparity.harness.overrides import apply_changes, native_defaults
    from netparity.harness.report import ReportError, RunFolder
    from netparity.harness.run import RunConfig, backends_to_run, with_overrides

    initial = None  # canonical initial parameters: None for the seeded initializer
    if saved is not None:
        task = saved.task
        initial = port_cli.rerun_params(saved.folder, task)
    elif args.model is not None:
        task, initial, imported_line = port_cli.model_task(args)
        print(imported_line, flush=True)
    elif task_def is None:
        from netparity.spec.files import custom_task, parse_split

        split, standardize = parse_split(args.split), args.standardize
        task = custom_task(
            args.spec, args.data, args.target, loss=args.loss, seed=args.seed, split=split, standardize=standardize
        )
    else:
        task = task_def.build(args.seed)
        if recipe_only:
            from netparity.spec.files import task_with_recipe_file

            task = task_with_recipe_file(task, args.spec)
            if task is None:
                raise UsageError(
                    "--task and --spec/--data exclude each other: a custom run has its own model and data "
                    "(a --spec holding only a recipe may go with --task)"
                )
    if args.model is None and saved is None:
        initial = port_cli.weights_for(args, task)
    from netparity.spec.recipe import softmax_twice

    warning = softmax_twice(task.model.layers, task.recipe.loss)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    lrs = parse_lrs(args.lr)
    axes = sweep_axes(args.sweep, lrs)
    changes = recipe_changes(args, lr=lrs[0] if len(lrs) == 1 else None)
    first = task  # as built for --seed, before the recipe overrides

    def build(seed: int) -> TaskInstance:
        """The task with every command-line override; a sweep over seeds rebuilds it for each
        seed (a saved run or an imported model keeps its own)."""
        t = first
        if seed != args.seed and saved is None and args.model is None:
            if task_def is None:
                from netparity.spec.files import custom_task, parse_split

                split, standardize = parse_split(args.split), args.standardize
                t = custom_task(
                    args.spec, args.data, args.target, loss=args.loss, seed=seed, split=split, standardize=standardize
                )
            else:
                t = task_def.build(seed)
                if recipe_only:
                    from netparity.spec.files import task_with_recipe_file

                    t = task_with_recipe_file(t, args.spec)
        t = apply_changes(t, changes)
        return with_overrides(t, epochs=args.epochs, batch_size=args.batch_size)

    task = build(args.seed)
    sweep = (axes, build, args.isolate) if axes else None  # --isolate unsaid: a sweep runs on the worker pool
    # --isolate unsaid: persistent workers (harness/pool.py), comparisons side by side and the
    # timing runs one at a time; --isolate: a fresh process per backend, one after another
    pooled = args.isolate is None and not axes
    if args.isolate is None:
        args.isolate = True
    backends = parse_backends(
        args.backends, args.reference, deep=not args.isolate
    )  # after the spec: it may import every framework
    pinned = saved.pinned if saved else set(changes.hyper)
    native = native_defaults(task, backends, changes.defaults, pinned, sweep=bool(axes))
    names = backends_to_run(backends, args.reference)
    data, recipe = task.data, task.recipe  # refused before the run allocates anything
    check_memory(task.model, len(data.x_train), len(data.x_test), recipe.batch_size, recipe.epochs, len(names))
    config = RunConfig(
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        reference=args.reference,
        timing=not args.no_timing,
        threads=args.threads,
        isolate=args.isolate,
        tf32_timing=args.tf32,
        backend_timeout=args.backend_timeout,
        timing_budget_s=args.timing_budget,
    )
    try:  # only once the task is valid: a bad spec leaves no empty run folder behind
        folder = RunFolder(args.out, task.name, command=[sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    except ReportError as err:
        raise UsageError(str(err)) from None
    with folder:
        return _run(
            args,
            task,
            backends,
            names,
            sweep,
            native,
            folder,
            config,
            changes,
            pinned,
            saved,
            task_name,
            initial,
            pooled,
        )


def _run(
    args: argparse.Namespace,
    task: TaskInstance,
    backends: list[str],
    names: list[str],
    sweep: tuple[dict, Callable[[int], TaskInstance], bool | None] | None,
    native: NativeDefaults | None,
    folder: RunFolder,
    config: RunConfig,
    changes: RecipeChanges,
    pinned: set[str],
    saved: SavedRun | None,
    task_name: str,
    initial: dict[str, np.ndarray] | None,
    pooled: bool = False,
) -> int:
    """The run into its held folder; Ctrl-C writes what finished and raises Interrupted.
    ``pooled``: the backends run on persistent workers (harness.pool.WorkerPool.run_all)."""
    from netparity.harness.progress import TrainingProgress
    from netparity.harness.report import console_table, write_report
    from netparity.harness.run import run
    from netparity.rerun import data_source, record

    out_dir = folder.path
    print(
        f"task {task.name} | dtype {args.dtype} | seed {args.seed} | reference {args.reference} | "
        f"backends {', '.join(names)}",
        flush=True,
    )
    bar = TrainingProgress()  # a tqdm bar on an interactive terminal, silent in CI and pipes
    interrupted = "the finished backends' results are in {out}, marked interrupted"
    if sweep is not None:  # a sweep: one report per point plus campaign.csv, plots and report.md (issue 17)
        from netparity.harness.campaign import open_engine
        from netparity.harness.sweep import run_sweep, sweep_console

        axes, build, isolate = sweep
        engine = open_engine(args.cluster, isolate=isolate, timeout_s=args.backend_timeout)
        try:
            # points side by side only on persistent workers: a fresh process per backend (or this
            # process) keeps one point at a time, so that Ctrl-C stops exactly the running one
            parallel = args.parallel if isolate is None or args.cluster else 1
            swept = run_sweep(
                build, axes, backends, config, out_dir, runner=engine, parallel=parallel, progress=bar, params=initial
            )
        finally:
            engine.close()
        bar.close()
        folder.finish()
        if swept.interrupted:
            raise Interrupted(interrupted.format(out=out_dir))
        print(sweep_console(swept.table))
        print(f"report: {out_dir}")
        return 0 if swept.ok else 1
    runner = None  # run() picks: a fresh process per backend (config.isolate), or this process
    if pooled:
        from netparity.harness.pool import WorkerPool

        # one worker per framework (Keras shares its engine's), side by side within the cores;
        # warm=False: each backend's 'import' is timed for the report
        runner = WorkerPool(args.backend_timeout, share=True, warm=False, side_by_side=True)
    try:
        result = run(
            task,
            backends,
            config,
            progress=bar,
            runner=runner,
            task_for=native.task_for(task) if native else None,
            params=initial,
            named=() if args.backends is None else tuple(backends),  # a named backend must not be skipped
        )
    finally:
        if runner is not None:
            runner.close()
    bar.close()
    if native:  # the defaults that differed: in each reason, defaults.csv and spec.json
        native.annotate(result)
        from netparity.harness.report import atomic_write

        atomic_write(out_dir / "defaults.csv", native.frame().to_csv(index=False))
    from netparity.harness.environment import environment

    verdict = result.verdict()  # harness.verdict; native.annotate named the explained backends
    ok = verdict.passed
    source = saved.record["source"] if saved else port_cli.data_source(args) or data_source(args, task_name)
    extra = {
        "defaults": changes.defaults,
        "rerun": record(source, task, backends, config, defaults=changes.defaults, pinned=pinned),
        "environment": environment(config.device, config.threads),
    }
    if saved:
        extra["rerun_of"] = str(saved.folder)
    tables = write_report(result, out_dir, extra=extra, ok=ok)
    # params npz, --export and the certificate, inside the held folder (before finish)
    exported_ok = result.interrupted or port_cli.finish(args, task, result, out_dir, initial)
    folder.finish()
    if result.interrupted:
        raise Interrupted(interrupted.format(out=out_dir))
    from netparity.harness.verdict import console_line

    print(console_line(verdict))
    print(console_table(tables["summary"]))
    print(f"report: {out_dir}")
    if saved:
        from netparity.rerun import same_losses

        print(f"rerun of {saved.folder}: {same_losses(saved.folder, out_dir)}")
    return 0 if ok and exported_ok else 1
