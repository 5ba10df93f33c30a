"""Campaigns: many comparisons through one engine, collected into one ``campaign.csv``.

An engine is a runner for ``harness.run.run`` (``runner(name, task, params, config,
progress)``) with a ``close()``:

- ``WorkerPool`` (the default): persistent local workers, one per backend (harness/pool.py);
- ``Isolated`` (``--isolate`` said explicitly): a fresh process per backend per run, as a
  single run has it (harness/isolate.py);
- ``RayEngine``: one Ray actor per backend on a cluster (``ray://HOST:PORT``) or a Ray
  instance started here (``local-ray``) (harness/cluster.py);
- ``InProcess``: every backend in this process (``--no-isolate``).

Several comparisons stay in flight at once (``parallel``), so different backends' workers
compute at the same time; the driver alone writes the results, wherever they ran.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from netparity.harness.fuzz import Case, Judgement, covered_types, draw_cases, judge, shrink
from netparity.harness.report import atomic_write, summary_frame, write_report
from netparity.harness.run import RunConfig, RunResult, run, run_backend

T = TypeVar("T")
R = TypeVar("R")


class InProcess:
    """Every backend in this process, one after another (no isolation, no start-up cost)."""

    def __call__(self, *args: Any, **kwargs: Any):
        return run_backend(*args, **kwargs)

    def close(self) -> None:
        pass


class Isolated(InProcess):
    """A fresh process per backend per run (harness.isolate.run_isolated)."""

    def __call__(self, *args: Any, **kwargs: Any):
        from netparity.harness.isolate import run_isolated

        return run_isolated(*args, **kwargs)


def open_engine(cluster: str | None = None, *, isolate: bool | None = None, timeout_s: float | None = None):
    """The engine for ``--cluster`` (``local-ray``, ``ray://HOST:PORT``), else for ``isolate``:
    None (unsaid) the local pool of persistent workers, True a fresh process per backend per
    run, False this process."""
    if cluster:
        from netparity.harness.cluster import RayEngine

        return RayEngine(cluster, timeout_s=timeout_s)
    if isolate is False:
        return InProcess()
    if isolate is True:
        return Isolated()
    from netparity.harness.pool import WorkerPool

    return WorkerPool(timeout_s=timeout_s)


def in_flight(items: Iterable[T], fn: Callable[[T], R], parallel: int) -> list[R]:
    """``[fn(x) for x in items]`` with up to ``parallel`` calls at once, results in order."""
    items = list(items)
    if parallel <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=parallel)
    try:
        return list(pool.map(fn, items))
    except KeyboardInterrupt:  # Ctrl-C: start nothing new; closing the engine ends what runs
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=False)


def say(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------ fuzzing


@dataclass
class Failure:
    """One finding, shrunk: its folder holds spec.json, description.txt and a full report."""

    number: int
    case_index: int
    backend: str
    description: str
    folder: Path
    original: Case
    reproducer: Case
    tries: int
    signature: str = ""  # backend, what went wrong and the reproducer's layer types: duplicates share it


@dataclass
class FuzzResult:
    """Counts of a fuzz campaign, its table (one row per case x backend) and its failures."""

    out_dir: Path
    cases: list[Case]
    table: pd.DataFrame
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        judged = self.table[self.table["verdict"] != "reference"]
        per_case = judged.groupby("case")["verdict"].agg(set)
        return {
            "specs": len(self.cases),
            "agreed": int(sum(v <= {"agree"} for v in per_case)),
            "with_findings": int(sum("finding" in v for v in per_case)),
            "noise_only": int(sum("noise" in v and "finding" not in v for v in per_case)),
            "known_only": int(sum("known" in v and "finding" not in v for v in per_case)),
            "failures_saved": len(self.failures),
        }

    @property
    def ok(self) -> bool:
        return not self.failures


def fuzz_config(base: RunConfig | None, case: Case) -> RunConfig:
    """float64 comparisons without timing, weights seeded by the case."""
    return dataclasses.replace(base or RunConfig(), dtype="float64", timing=False, seed=case.seed)


def run_case(case: Case, backends: list[str], runner: Any, config: RunConfig | None = None) -> RunResult:
    return run(case.task(), backends, fuzz_config(config, case), runner=runner)


def run_fuzz(
    n: int,
    seed: int,
    backends: list[str],
    runner: Any,
    out_dir: Path,
    *,
    config: RunConfig | None = None,
    parallel: int = 2,
    shrink_tries: int = 40,
    log: Callable[[str], None] = say,
) -> FuzzResult:
    """Draw ``n`` random models (``seed``), compare each on ``backends``; shrink every finding to
    a minimal reproducer in ``out_dir/failures/NNN/``; write campaign.csv and report.md."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    cases = draw_cases(n, seed)
    reference = (config or RunConfig()).reference
    done = [0]
    lock = threading.Lock()

    def one(item: tuple[int, Case]) -> tuple[int, RunResult, dict[str, Judgement]]:
        i, case = item
        result = run_case(case, backends, runner, config)
        judged = {b: judge(result, b) for b in result.results if b != result.reference}
        with lock:
            done[0] += 1
            bad = [f"{b}: {j.verdict}" for b, j in judged.items() if j.verdict != "agree"]
            log(f"[{done[0]}/{n}] case {i}: {'; '.join(bad) or 'agree'} | {case.describe()}")
        return i, result, judged

    outcomes = in_flight(enumerate(cases), one, parallel)
    rows = []
    for i, result, judged in outcomes:
        for row in summary_frame(result).to_dict("records"):
            j = judged.get(row["backend"], Judgement("reference" if row["backend"] == reference else "agree"))
            rows.append({"case": i, **case_columns(cases[i]), **row, "verdict": j.verdict, "verdict_detail": j.detail})
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "campaign.csv", table.to_csv(index=False))

    failures: list[Failure] = []
    for i, _, judged in outcomes:
        for backend in [b for b, j in judged.items() if j.verdict == "finding"]:  # each backend's own reproducer
            failures.append(
                save_failure(
                    len(failures) + 1,
                    i,
                    cases[i],
                    backend,
                    judged[backend],
                    backends,
                    runner,
                    out_dir,
                    config,
                    shrink_tries,
                    log,
                )
            )
    fuzz = FuzzResult(out_dir, cases, table, failures, time.perf_counter() - start)
    atomic_write(out_dir / "report.md", fuzz_markdown(fuzz, seed, backends))
    return fuzz


def case_columns(case: Case) -> dict[str, Any]:
    recipe = case.recipe
    return {
        "case_seed": case.seed,
        "model": case.describe().split(" | ")[0],
        "loss": recipe.loss,
        "optimizer": recipe.optimizer.name,
        "lr": recipe.optimizer.lr,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
    }


def failure_kind(j: Judgement) -> str:
    """mismatch | failed:<exception> | diverged: what a reproducer must keep showing."""
    status, _, reason = j.detail.partition(": ")
    return f"failed:{reason.split(':')[0]}" if status == "failed" else status


def one_line(reason: str) -> str:
    """A reason's first line; for a framework's multi-line error ("ValueError: in user code:" ...)
    its type and its last line, which says what went wrong."""
    lines = [x.strip() for x in reason.splitlines() if x.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[-1] if ":" in lines[-1] else f"{lines[0].split(':')[0]}: {lines[-1]}"
    return lines[0] if lines else ""


def save_failure(
    number: int,
    case_index: int,
    case: Case,
    backend: str,
    judgement: Judgement,
    backends: list[str],
    runner: Any,
    out_dir: Path,
    config: RunConfig | None,
    shrink_tries: int,
    log: Callable[[str], None],
) -> Failure:
    """Shrink the case against the reference and ``backend`` only (the same kind of finding
    must persist), then run the reproducer on every backend into ``failures/NNN/``."""
    reference = (config or RunConfig()).reference
    kind = failure_kind(judgement)

    def fails(candidate: Case) -> bool:
        result = run_case(candidate, [reference, backend], runner, config)
        j = judge(result, backend)
        return j.verdict == "finding" and failure_kind(j) == kind

    shrunk = shrink(case, fails, max_tries=shrink_tries)
    result = run_case(shrunk.case, backends, runner, config)
    folder = out_dir / "failures" / f"{number:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "spec.json", json.dumps(shrunk.case.file(), indent=2) + "\n")
    (folder / "report").mkdir(exist_ok=True)
    write_report(result, folder / "report")  # its own spec.json is the run's record, not a --spec file
    c = result.comparisons.get(backend)
    res = result.results[backend]
    layer = c.first_divergent_layer if c and c.first_divergent_layer else "-"
    n_layers = len(shrunk.case.spec["layers"])
    description = (
        f"{backend}: {res.status}, first divergent layer {layer}, {n_layers} layer(s): {shrunk.case.describe()} "
        f"[{one_line(res.reason) or judge(result, backend).detail}]"
    )
    replay = f"netparity --spec spec.json --seed {shrunk.case.seed} --dtype float64 --backends {reference},{backend} --no-timing"
    atomic_write(folder / "description.txt", description + "\n" + f"replay: {replay}\n")
    log(f"failure {number:03d} (case {case_index}, {shrunk.tries} shrink runs): {description}")
    what = res.reason.split(":")[0] if res.status == "failed" else f"diverging from {layer.split('.')[-1]}"
    signature = f"{backend} {res.status} ({what}): {' > '.join(shrunk.case.layer_types())}"
    return Failure(number, case_index, backend, description, folder, case, shrunk.case, shrunk.tries, signature)


def fuzz_markdown(fuzz: FuzzResult, seed: int, backends: list[str]) -> str:
    counts = fuzz.counts()
    lines = [
        f"# Fuzz campaign: {counts['specs']} random models, --fuzz-seed {seed}",
        "",
        f"Backends {', '.join(backends)}, float64, tolerance 1e-10 relative; {fuzz.seconds:.0f} s "
        f"({60 * counts['specs'] / max(fuzz.seconds, 1e-9):.1f} specs/min).",
        "",
        "| specs | agreed | with findings | rounding-level noise only | known differences only | failures saved |",
        "|---|---|---|---|---|---|",
        f"| {counts['specs']} | {counts['agreed']} | {counts['with_findings']} | {counts['noise_only']} | "
        f"{counts['known_only']} | {counts['failures_saved']} |",
        "",
        "## Verdicts per backend",
        "",
    ]
    table = fuzz.table[fuzz.table["verdict"] != "reference"]
    per = table.groupby(["backend", "verdict"]).size().unstack(fill_value=0)
    lines += [_markdown_table(per.reset_index()), ""]
    lines += ["## Layer types drawn", "", ", ".join(sorted(covered_types(fuzz.cases))), ""]
    if fuzz.failures:
        distinct: dict[str, list[Failure]] = {}
        for f in fuzz.failures:
            distinct.setdefault(f.signature, []).append(f)
        lines += ["## Distinct findings", "", "| finding | failures | smallest reproducer |", "|---|---|---|"]
        for signature, group in distinct.items():
            best = min(group, key=lambda f: (len(f.reproducer.spec["layers"]), f.number))
            numbers = ", ".join(f"{f.number:03d}" for f in group)
            lines.append(f"| {signature} | {numbers} | failures/{best.number:03d}: {best.reproducer.describe()} |")
        lines += ["", "## Failures (minimal reproducers)", ""]
        lines += [
            f"- [{f.number:03d}](failures/{f.number:03d}/description.txt) (case {f.case_index}): {f.description}"
            for f in fuzz.failures
        ]
    noise = table[table["verdict"] == "noise"]
    if len(noise):
        lines += ["", "## Rounding-level noise (not counted)", ""]
        lines += [
            "Parameters whose exact gradient is zero (their reference gradient is below 1e-12 of the model's "
            "largest): both sides hold rounding noise there, so their gradients and trained values are left out; "
            "everything else agreed.",
            "",
        ]
        lines += [f"- case {r.case} {r.backend}: {r.verdict_detail}" for r in noise.itertuples()]
    return "\n".join(lines) + "\n"


def _markdown_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    rows += ["| " + " | ".join(_cell(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join(rows)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
