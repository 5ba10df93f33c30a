"""Learning-rate sweep: the same task at several rates, one full report per rate, and one
table (``sweep.csv``) and one plot (``sweep.png``) showing how the rate decides convergence.

Exit status of a sweep: divergence is a legitimate outcome of a too-large rate, so a rate at
which *every* backend diverges together with the reference counts as agreement. Anything
else that is not ``ok`` (a mismatch, a failure, one backend diverging alone) fails the sweep.
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
from netparity.spec.tasks import TaskInstance

AGREEING = ("ok", "skipped")
FLOOR = 1e-18  # where an exact zero loss is drawn on the log axis


def with_lr(task: TaskInstance, lr: float) -> TaskInstance:
    optimizer = dataclasses.replace(task.recipe.optimizer, lr=lr)
    return dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, optimizer=optimizer))


def sweep_rows(lr: float, result: RunResult, summary: pd.DataFrame) -> list[dict]:
    cols = ["backend", "status", "final_loss", "max_rel_loss_diff", "max_rel_param_diff"]
    cols += ["root"] if "root" in summary.columns else []
    rows = []
    for row in summary[cols].to_dict("records"):
        res = result.results[row["backend"]]
        rows.append({"lr": lr, **row, "steps": len(res.losses), "reason": res.reason})
    return rows


def run_ok(result: RunResult) -> bool:
    """Every backend agrees with the reference, where all diverging together is agreement."""
    ref = result.results[result.reference]
    for res in result.results.values():
        if res.status in AGREEING:
            continue
        if res.status == "diverged" and ref.status == "diverged":
            continue
        return False
    return True


def run_lr_sweep(
    task: TaskInstance, lrs: list[float], out_dir: Path, run_one: Callable[[TaskInstance], RunResult]
) -> tuple[pd.DataFrame, bool]:
    """Run ``task`` at each rate into ``out_dir/lr=<rate>/``; write sweep.csv and sweep.png."""
    rows, ok, curves = [], True, {}
    for lr in lrs:
        result = run_one(with_lr(task, lr))
        sub = Path(out_dir) / f"lr={lr:g}"
        sub.mkdir(parents=True, exist_ok=True)
        tables = write_report(result, sub)
        rows += sweep_rows(lr, result, tables["summary"])
        ok = ok and run_ok(result)
        curves[lr] = {n: np.array([x[2] for x in r.losses], dtype=float) for n, r in result.results.items()}
        reference = result.reference
        if result.interrupted:  # Ctrl-C: the rates that finished, and this one marked, are kept
            break
    table = pd.DataFrame(rows)
    atomic_write(Path(out_dir) / "sweep.csv", table.to_csv(index=False))
    sweep_plot(curves, reference, Path(out_dir) / "sweep.png", task.name)
    return table, ok


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


def sweep_console(table: pd.DataFrame) -> str:
    """One line per rate: each backend's status and root (or final loss)."""
    value = "root" if "root" in table.columns else "final_loss"
    lines = [f"learning-rate sweep ({value} per backend, status when not ok):"]
    for lr, group in table.groupby("lr", sort=False):
        cells = []
        for r in group.itertuples():
            v = getattr(r, value)
            text = "nan" if pd.isna(v) else f"{v:.10g}"
            cells.append(f"{r.backend}={text}" + ("" if r.status == "ok" else f" ({r.status})"))
        lines.append(f"  lr={lr:<8g} " + "  ".join(cells))
    return "\n".join(lines)
