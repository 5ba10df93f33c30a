"""Learning-rate sweep: the same task at several rates, one full report per rate, and one
table (``sweep.csv``) and one plot (``sweep.png``) showing how the rate decides convergence.

Exit status of a sweep (decided by harness.verdict): divergence is a legitimate outcome of a
too-large rate, so a backend that diverges together with the reference counts as agreement
("diverged together (agreement)"). Anything else that is not ``ok`` (a mismatch, a failure,
one backend diverging alone) fails the sweep.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from netparity.harness.report import atomic_write, write_report
from netparity.harness.run import RunResult
from netparity.harness.verdict import Verdict, combine
from netparity.spec.tasks import TaskInstance

FLOOR = 1e-18  # where an exact zero loss is drawn on the log axis


def with_lr(task: TaskInstance, lr: float) -> TaskInstance:
    optimizer = dataclasses.replace(task.recipe.optimizer, lr=lr)
    return dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, optimizer=optimizer))


def sweep_rows(lr: float, result: RunResult, summary: pd.DataFrame, verdict: Verdict) -> list[dict]:
    cols = ["backend", "status", "final_loss", "max_rel_loss_diff", "max_rel_param_diff"]
    cols += ["root"] if "root" in summary.columns else []
    rows = []
    for row in summary[cols].to_dict("records"):
        res, said = result.results[row["backend"]], verdict.outcomes[row["backend"]]
        rows.append({"lr": lr, **row, "verdict": said.words, "steps": len(res.losses), "reason": res.reason})
    return rows


def run_verdict(result: RunResult) -> Verdict:
    """Every backend agrees with the reference, where diverging together is agreement."""
    return result.verdict(diverging_together_agrees=True)


def run_ok(result: RunResult) -> bool:
    return run_verdict(result).passed


def run_lr_sweep(
    task: TaskInstance, lrs: list[float], out_dir: Path, run_one: Callable[[TaskInstance], RunResult]
) -> tuple[pd.DataFrame, Verdict]:
    """Run ``task`` at each rate into ``out_dir/lr=<rate>/``; write sweep.csv, sweep.png and
    report.md; the verdict over every rate."""
    rows, verdicts, curves = [], {}, {}
    for lr in lrs:
        result = run_one(with_lr(task, lr))
        sub = Path(out_dir) / f"lr={lr:g}"
        sub.mkdir(parents=True, exist_ok=True)
        tables = write_report(result, sub)
        verdicts[f"lr={lr:g}"] = verdict = run_verdict(result)
        rows += sweep_rows(lr, result, tables["summary"], verdict)
        curves[lr] = {n: np.array([x[2] for x in r.losses], dtype=float) for n, r in result.results.items()}
        reference = result.reference
    table = pd.DataFrame(rows)
    verdict = combine(verdicts, "rates")
    atomic_write(Path(out_dir) / "sweep.csv", table.to_csv(index=False))
    sweep_plot(curves, reference, Path(out_dir) / "sweep.png", task.name)
    atomic_write(Path(out_dir) / "report.md", sweep_markdown(table, verdict, task.name))
    return table, verdict


def sweep_plot(curves: dict[float, dict[str, np.ndarray]], reference: str, path: Path, title: str) -> Path:
    """Training loss per step for each rate (colour); the reference solid, other backends dashed.
    An exact zero loss is drawn at a floor, a diverging curve is cut at 1000x the largest
    starting loss and marked "diverged"."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("viridis")
    starts = [c[0] for per in curves.values() for c in per.values() if len(c) and np.isfinite(c[0])]
    top = 1e3 * max(starts) if starts else None
    for i, (lr, per_backend) in enumerate(curves.items()):
        color = cmap(i / max(len(curves) - 1, 1))
        for backend, loss in per_backend.items():
            if not len(loss):
                continue
            shown = np.where(np.isfinite(loss), np.maximum(loss, FLOOR), np.nan)
            is_ref = backend == reference
            label = f"lr={lr:g}" if is_ref else None
            if is_ref and top is not None and not (np.nanmax(shown) <= top):
                label += " (diverged)"
            ax.plot(
                np.arange(1, len(loss) + 1),
                shown,
                color=color,
                lw=2.2 if is_ref else 1.0,
                ls="-" if is_ref else "--",
                alpha=0.6 if is_ref else 0.9,
                marker="o" if len(loss) < 3 else None,
                label=label,
            )
    ax.set_yscale("log")
    if top is not None:
        ax.set_ylim(top=top)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training loss (log; exact 0 drawn at {FLOOR:g})")
    ax.set_title(f"{title}: learning-rate sweep ({reference} solid, other backends dashed)")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def _sweep_view(table: pd.DataFrame) -> pd.DataFrame:
    """One row per rate and backend: the value that matters, status and what the verdict says."""
    value = "root" if "root" in table.columns else "final_loss"
    view = table[["lr", "backend", value, "status", "verdict"]].copy()
    view["lr"] = view["lr"].map(lambda v: f"{v:g}")
    fmt = "{:.10g}" if value == "root" else "{:.4g}"
    view[value] = view[value].map(lambda v: "nan" if pd.isna(v) else fmt.format(v))
    return view


def sweep_console(table: pd.DataFrame) -> str:
    """An aligned table: one line per rate and backend."""
    return _sweep_view(table).to_string(index=False)


def sweep_markdown(table: pd.DataFrame, verdict: Verdict, title: str) -> str:
    """The sweep's own report.md: the verdict, the table, the plot and each rate's report."""
    from netparity.harness.markdown import table as md_table

    view = _sweep_view(table)
    rates = [f"- [`lr={lr:g}/report.md`](lr={lr:g}/report.md)" for lr in dict.fromkeys(table["lr"])]
    parts = [
        f"# netparity: {title}, learning-rate sweep",
        f"**{'✅' if verdict.passed else '❌'} {verdict.headline}**",
        md_table(view.values.tolist(), list(view.columns)),
        "![training loss per rate](sweep.png)",
        "## Each rate's report",
        "\n".join(rates),
    ]
    return "\n\n".join(parts) + "\n"
