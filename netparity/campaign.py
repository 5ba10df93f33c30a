"""Campaigns from Python and from the command line: sweeps and random-model fuzzing.

    import netparity
    result = netparity.sweep("regression", {"lr": [0.01, 0.1], "seed": [0, 1, 2]}, dtype="float64")
    result.ok, result.table                 # campaign.csv as a DataFrame
    found = netparity.fuzz(50, seed=1)      # 50 random models on every installed backend
    found.counts(), [f.description for f in found.failures]

Both run on the local pool of persistent backend workers unless ``cluster`` names a Ray
cluster (``"local-ray"`` or ``"ray://HOST:PORT"``); ``isolate=False`` runs in this process,
``isolate=True`` starts a fresh process per backend and run.
Nothing heavy is imported until a campaign starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netparity.harness.campaign import FuzzResult
    from netparity.harness.sweep import SweepResult
    from netparity.spec.tasks import TaskInstance


def _out_dir(out: str | Path | None, name: str) -> Path:
    from netparity.harness.report import ReportError, prepare_out_dir
    from netparity.spec.errors import SpecError

    try:
        return prepare_out_dir(str(out) if out is not None else None, name)
    except ReportError as err:
        raise SpecError(str(err)) from None


def _backends(backends: list[str] | str | None, reference: str) -> list[str]:
    from netparity.backends import BACKENDS, installed_reason
    from netparity.spec.errors import SpecError

    if backends is None:
        return [b for b in BACKENDS if installed_reason(b) is None]
    names = [b.strip() for b in backends.split(",")] if isinstance(backends, str) else list(backends)
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not names:
        raise SpecError(f"unknown backend {', '.join(unknown) or repr(backends)} (known: {', '.join(BACKENDS)})")
    if reference not in BACKENDS:
        raise SpecError(f"unknown reference backend {reference!r} (known: {', '.join(BACKENDS)})")
    return names


def sweep(
    task: str | TaskInstance | Callable[[int], TaskInstance] = "regression",
    axes: dict[str, list[Any]] | list[str] | None = None,
    *,
    backends: list[str] | str | None = None,
    out: str | Path | None = None,
    cluster: str | None = None,
    isolate: bool | None = None,
    parallel: int = 2,
    timeout_s: float | None = None,
    **settings: Any,
) -> SweepResult:
    """Run ``task`` (a task name, a TaskInstance, or ``seed -> TaskInstance``) at every point of
    ``axes`` (``{"lr": [...], "seed": [...]}`` or ``["lr=0.1,0.2", ...]``; keys: lr, seed,
    batch_size, epochs, dtype, optimizer, threads). ``settings`` are RunConfig fields (dtype,
    seed, reference, timing, threads, device). Writes ``out`` (default: a new folder under
    reports/) and returns the result: ``.ok``, ``.table`` (campaign.csv), ``.out_dir``."""
    from netparity.harness.campaign import open_engine
    from netparity.harness.run import RunConfig
    from netparity.harness.sweep import SWEEP_KEYS, parse_sweep, run_sweep
    from netparity.spec.errors import SpecError
    from netparity.spec.tasks import TaskInstance, get_task

    if isinstance(axes, dict):
        unknown = [k for k in axes if k not in SWEEP_KEYS]
        if unknown:
            raise SpecError(f"cannot sweep {', '.join(unknown)} (known: {', '.join(SWEEP_KEYS)})")
        axes = parse_sweep([f"{k}={','.join(map(str, v))}" for k, v in axes.items()])
    else:
        axes = parse_sweep(list(axes or []))
    if not axes:
        raise SpecError("a sweep needs at least one key with values, e.g. {'lr': [0.01, 0.1]}")
    if isinstance(task, str):
        base = get_task(task).build
    elif isinstance(task, TaskInstance):
        base = lambda seed: task  # noqa: E731  (a fixed task: a seed axis changes the weights only)
    else:
        base = task
    config = RunConfig(**settings)
    names = _backends(backends, config.reference)
    out_dir = _out_dir(out, "sweep")
    engine = open_engine(cluster, isolate=isolate, timeout_s=timeout_s)
    try:
        return run_sweep(base, axes, names, config, out_dir, runner=engine, parallel=parallel)
    finally:
        engine.close()


def fuzz(
    n: int,
    *,
    seed: int = 0,
    backends: list[str] | str | None = None,
    out: str | Path | None = None,
    cluster: str | None = None,
    isolate: bool | None = None,
    parallel: int = 2,
    reference: str = "numpy",
    threads: int | None = 1,
    timeout_s: float | None = 600.0,
    shrink_tries: int = 40,
    runner: Any = None,
    log: Callable[[str], None] | None = None,
) -> FuzzResult:
    """Draw ``n`` random valid models (reproducibly from ``seed``) over every layer type and
    optimizer, compare each in float64 on ``backends``, and shrink every disagreement to a
    minimal reproducer in ``out/failures/NNN/`` (spec.json, description.txt, report/).
    ``runner`` replaces the engine (e.g. a test's planted backend)."""
    from netparity.harness.campaign import open_engine, run_fuzz, say
    from netparity.harness.run import RunConfig
    from netparity.spec.errors import SpecError

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SpecError(f"--fuzz expects a positive number of models, got {n!r}")
    names = _backends(backends, reference)
    out_dir = _out_dir(out, "fuzz")
    engine = runner if runner is not None else open_engine(cluster, isolate=isolate, timeout_s=timeout_s)
    config = RunConfig(dtype="float64", timing=False, reference=reference, threads=threads)
    try:
        return run_fuzz(
            n, seed, names, engine, out_dir, config=config, parallel=parallel, shrink_tries=shrink_tries, log=log or say
        )
    finally:
        if runner is None:
            engine.close()


# ------------------------------------------------------------ the command line (netparity/cli.py)


def add_campaign_args(p: argparse.ArgumentParser) -> None:
    c = p.add_argument_group("campaigns (sweeps, fuzzing, a cluster)")
    c.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="run every combination (repeatable; keys: lr, seed, batch_size, epochs, dtype, optimizer, threads)",
    )
    c.add_argument(
        "--fuzz", type=int, default=None, metavar="N", help="compare N random models (float64) on every backend"
    )
    c.add_argument("--fuzz-seed", type=int, default=0, help="seed of the random models (default 0)")
    c.add_argument(
        "--cluster", default=None, metavar="ADDRESS", help="run a campaign on Ray: local-ray or ray://HOST:PORT"
    )
    c.add_argument("--parallel", type=int, default=2, help="comparisons in flight in a campaign (default 2)")


def check_campaign_args(args: argparse.Namespace, custom: bool) -> None:
    """Bad combinations, as one-line SpecErrors (exit 2)."""
    from netparity.spec.errors import SpecError

    if args.parallel < 1:
        raise SpecError(f"--parallel must be at least 1, got {args.parallel}")
    if args.cluster is not None:
        from netparity.harness.cluster import parse_cluster

        parse_cluster(args.cluster)
    if args.fuzz is not None:
        if args.fuzz < 1:
            raise SpecError(f"--fuzz expects a positive number of models, got {args.fuzz}")
        if custom or args.task is not None or args.sweep:
            raise SpecError("--fuzz draws its own models: --task, --spec, --data and --sweep do not apply")


def fuzz_command(args: argparse.Namespace, backends: list[str]) -> int:
    """``--fuzz N``: exit 0 when no finding is left (noise and known differences aside), else 1."""
    result = fuzz(
        args.fuzz,
        seed=args.fuzz_seed,
        backends=backends,
        out=args.out,
        cluster=args.cluster,
        isolate=args.isolate,  # unsaid: persistent workers
        parallel=args.parallel,
        reference=args.reference,
        threads=args.threads,
    )
    counts = result.counts()
    print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    for f in result.failures:
        print(f"  failures/{f.number:03d}: {f.description}")
    print(f"report: {result.out_dir}")
    return 0 if result.ok else 1


def sweep_axes(items: list[str], lrs: list[float]) -> dict[str, list[Any]]:
    """``--sweep`` items plus ``--lr a,b,c`` (shorthand for ``--sweep lr=a,b,c``)."""
    from netparity.harness.sweep import parse_sweep
    from netparity.spec.errors import SpecError

    axes = parse_sweep(items)
    if lrs and "lr" in axes:
        raise SpecError("--lr and --sweep lr=... both set the learning rate: give one")
    if len(lrs) > 1:
        axes = {"lr": lrs, **axes}
    return axes
