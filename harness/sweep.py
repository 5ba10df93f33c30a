"""Sweeps: the same task at every point of a cross product of settings (``--sweep KEY=V1,V2``,
repeatable; ``--lr a,b,c`` is ``--sweep lr=a,b,c``), one full report per point, and for the
whole sweep one ``campaign.csv`` (a row per point x backend: the summary columns plus the
point's keys), ``sweep.png`` (loss curves per point), ``spread.png`` (final loss across seeds
per backend, when seeds are swept) and ``report.md``.

Exit status of a sweep: divergence is a legitimate outcome of a too-large rate, so a point at
which *every* backend diverges together with the reference counts as agreement. Anything
else that is not ``ok`` (a mismatch, a failure, one backend diverging alone) fails the sweep.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from netparity.harness.report import atomic_write, write_report
from netparity.harness.run import RunConfig, RunResult, run, with_overrides
from netparity.spec.errors import SpecError
from netparity.spec.recipe import OPTIMIZERS, Optimizer
from netparity.spec.tasks import TaskInstance

AGREEING = ("ok", "skipped")
FLOOR = 1e-18  # where an exact zero loss is drawn on the log axis


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _choice(known: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in known:
            raise ValueError
        return text

    parse.known = known  # type: ignore[attr-defined]
    return parse


#: every key a sweep may vary, with the parser of one value (raises ValueError when bad)
SWEEP_KEYS: dict[str, Callable[[str], Any]] = {
    "lr": _positive_float,
    "seed": _seed,
    "batch_size": _positive_int,
    "epochs": _positive_int,
    "dtype": _choice(("float32", "float64")),
    "optimizer": _choice(OPTIMIZERS),
    "threads": _positive_int,
}
WHAT = {
    "lr": "a positive number",
    "seed": "a non-negative integer",
    "batch_size": "a positive integer",
    "epochs": "a positive integer",
    "threads": "a positive integer",
}


def parse_sweep(items: list[str]) -> dict[str, list[Any]]:
    """``["lr=0.1,0.2", "seed=0,1"]`` -> ``{"lr": [0.1, 0.2], "seed": [0, 1]}`` (SpecError when bad)."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        key, eq, values = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in SWEEP_KEYS:
            raise SpecError(f"--sweep expects KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}, got {item!r}")
        if key in axes:
            raise SpecError(f"--sweep names {key} twice")
        parse = SWEEP_KEYS[key]
        texts = [v.strip() for v in values.split(",") if v.strip()]
        try:
            parsed = [parse(v) for v in texts]
        except ValueError:
            what = WHAT.get(key) or "one of " + ", ".join(parse.known)  # type: ignore[attr-defined]
            raise SpecError(f"--sweep {key}: each value must be {what}, got {values!r}") from None
        if not parsed:
            raise SpecError(f"--sweep {key}= lists no values")
        if len(set(parsed)) != len(parsed):
            raise SpecError(f"--sweep {key} lists a value twice: {values!r}")
        axes[key] = parsed
    return axes


def sweep_points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cross product, the first key varying slowest."""
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def point_name(point: dict[str, Any]) -> str:
    """``lr=0.01,seed=1``: the point's folder and its label."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())


def with_lr(task: TaskInstance, lr: float) -> TaskInstance:
    optimizer = dataclasses.replace(task.recipe.optimizer, lr=lr)
    return dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, optimizer=optimizer))


def point_task(base: Callable[[int], TaskInstance], point: dict[str, Any], config: RunConfig) -> TaskInstance:
    """The task at ``point``: built from its seed, then its optimizer (another optimizer starts
    from that one's recipe defaults, keeping the lr), lr, epochs and batch size."""
    task = base(point.get("seed", config.seed))
    if "optimizer" in point and point["optimizer"] != task.recipe.optimizer.name:
        optimizer = Optimizer(point["optimizer"], lr=task.recipe.optimizer.lr)
        task = dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, optimizer=optimizer))
    if "lr" in point:
        task = with_lr(task, point["lr"])
    return with_overrides(task, epochs=point.get("epochs"), batch_size=point.get("batch_size"))


def point_config(config: RunConfig, point: dict[str, Any]) -> RunConfig:
    changes = {k: point[k] for k in ("seed", "dtype", "threads") if k in point}
    return dataclasses.replace(config, **changes)


def run_ok(result: RunResult) -> bool:
    """Every backend agrees with the reference, where diverging together is agreement
    (the policy is harness.verdict's)."""
    return result.verdict(diverging_together_agrees=True).passed


def sweep_rows(point: dict[str, Any], result: RunResult, summary: pd.DataFrame) -> list[dict]:
    verdict = result.verdict(diverging_together_agrees=True)
    together = result.results[result.reference].status == "diverged" and verdict.passed
    rows = []
    for row in summary.to_dict("records"):
        res = result.results[row["backend"]]
        agreement = "diverged together (agreement)" if together else ("agrees" if verdict.passed else "disagrees")
        said = verdict.outcomes[row["backend"]].words if row["backend"] in verdict.outcomes else ""
        rows.append(
            {**point, **row, "steps": len(res.losses), "point": point_name(point), "point_verdict": agreement}
            | {"verdict": said}
        )
    return rows


@dataclass
class SweepResult:
    out_dir: Path
    axes: dict[str, list[Any]]
    table: pd.DataFrame  # campaign.csv
    ok: bool
    seconds: float
    interrupted: bool = False  # Ctrl-C: only the points that finished are in it


def run_sweep(
    base: Callable[[int], TaskInstance],
    axes: dict[str, list[Any]],
    backends: list[str],
    config: RunConfig,
    out_dir: Path,
    *,
    runner: Any = None,
    parallel: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
    params: dict[str, np.ndarray] | None = None,
) -> SweepResult:
    """Every point of ``axes`` (``base(seed)`` builds the task) into ``out_dir/<point>/``; then
    campaign.csv, sweep.png, spread.png and report.md. Points with timing run one at a time.
    ``params``: fixed initial weights (an imported model's) instead of each point's seeded ones."""
    from netparity.harness.campaign import in_flight

    start = time.perf_counter()
    out_dir = Path(out_dir)
    points = sweep_points(axes)

    stop = threading.Event()  # Ctrl-C in a point: the points that finished are kept, no new one starts

    def one(point: dict[str, Any]) -> tuple[dict[str, Any], RunResult] | None:
        if stop.is_set():
            return None
        cfg = point_config(config, point)
        result = run(point_task(base, point, cfg), backends, cfg, runner=runner, progress=progress, params=params)
        if result.interrupted:
            stop.set()
        sub = out_dir / point_name(point)
        sub.mkdir(parents=True, exist_ok=True)
        write_report(result, sub)
        return point, result

    outcomes = [o for o in in_flight(points, one, 1 if config.timing else parallel) if o is not None]
    rows, curves = [], {}
    for point, result in outcomes:
        from netparity.harness.report import summary_frame

        rows += sweep_rows(point, result, summary_frame(result))
        curves[point_name(point)] = {
            n: np.array([x[2] for x in r.losses], dtype=float) for n, r in result.results.items()
        }
    table = pd.DataFrame(rows)
    atomic_write(out_dir / "campaign.csv", table.to_csv(index=False))
    reference, title = outcomes[0][1].reference, outcomes[0][1].task.name
    plots = {}
    try:
        plots["loss curves"] = sweep_plot(curves, reference, out_dir / "sweep.png", title)
        if len(axes.get("seed", [])) > 1:
            plots["final loss across seeds"] = spread_plot(
                table, [k for k in axes if k != "seed"], out_dir / "spread.png"
            )
    except Exception as err:  # a plotting failure costs only the plots
        plots = {f"plots could not be drawn: {type(err).__name__}: {err}": None}
    ok = all(run_ok(r) for _, r in outcomes)
    result = SweepResult(out_dir, axes, table, ok, time.perf_counter() - start, stop.is_set())
    atomic_write(out_dir / "report.md", sweep_markdown(result, title, backends, plots))
    return result


def spread(table: pd.DataFrame, others: list[str]) -> pd.DataFrame:
    """Final loss across seeds per backend (and per value of the other swept keys)."""
    keys = [*others, "backend"]
    g = table.groupby(keys, sort=False)["final_loss"]
    out = g.agg(["min", "max", "mean", "std", "count"]).reset_index()
    out["range"] = out["max"] - out["min"]
    return out.rename(columns={"count": "seeds"})


def sweep_markdown(result: SweepResult, title: str, backends: list[str], plots: dict[str, Path | None]) -> str:
    from netparity.harness.markdown import table as md_table

    t = result.table
    n_points = t["point"].nunique()
    head = "✅ PASS" if result.ok else "❌ FAIL"
    lines = [
        f"# Sweep: {title}, {n_points} points x {len(backends)} backends",
        "",
        f"**{head}**: at every point each backend agrees with `{t['reference'].iloc[0]}`"
        if result.ok
        else f"**{head}**: some point has a backend that disagrees, fails or diverges alone",
        "(every backend diverging together with the reference counts as agreement).",
        "",
        "Swept: "
        + "; ".join(f"`{k}` = {', '.join(map(str, v))}" for k, v in result.axes.items())
        + f" ({result.seconds:.0f} s). Each point's full report is in its folder; every row is in `campaign.csv`.",
        "",
        "## Status and final loss per point",
        "",
    ]
    names = list(dict.fromkeys(t["backend"]))
    rows = []
    for point, g in t.groupby("point", sort=False):
        by = {r["backend"]: r for r in g.to_dict("records")}
        cells = [f"[{point}]({point}/report.md)", g["point_verdict"].iloc[0]]
        for b in names:
            r = by.get(b)
            cells.append("" if r is None else f"{r['final_loss']:.6g} ({r['status']})")
        rows.append(cells)
    lines += [md_table(rows, ["point", "verdict", *names]), ""]
    if len(result.axes.get("seed", [])) > 1:
        others = [k for k in result.axes if k != "seed"]
        s = spread(t, others)
        lines += ["## Spread of the final loss across seeds", ""]
        cols = [*others, "backend", "seeds", "min", "max", "mean", "std", "range"]
        lines += [md_table(s[cols].values.tolist(), cols), ""]
    for what, path in plots.items():
        lines += [f"## {what}", "", f"![{what}]({path.name})" if path else what, ""]
    return "\n".join(lines)


def sweep_plot(curves: dict[str, dict[str, np.ndarray]], reference: str, path: Path, title: str) -> Path:
    """Training loss per step for each point (colour); the reference solid, other backends dashed.
    An exact zero loss is drawn at a floor, a diverging curve is cut at 1000x the largest
    starting loss and marked "diverged"."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("viridis")
    starts = [c[0] for per in curves.values() for c in per.values() if len(c) and np.isfinite(c[0])]
    top = 1e3 * max(starts) if starts else None
    for i, (name, per_backend) in enumerate(curves.items()):
        color = cmap(i / max(len(curves) - 1, 1))
        for backend, loss in per_backend.items():
            if not len(loss):
                continue
            shown = np.where(np.isfinite(loss), np.maximum(loss, FLOOR), np.nan)
            is_ref = backend == reference
            label = name if is_ref else None
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
    ax.set_title(f"{title}: sweep ({reference} solid, other backends dashed)")
    ax.legend(fontsize=7 if len(curves) > 6 else 8)
    return _save(fig, path)


def spread_plot(table: pd.DataFrame, others: list[str], path: Path) -> Path:
    """Final loss of every seed (dots) and its range (bar) per backend, one group per value of
    the other swept keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(table["backend"]))
    groups = list(table.groupby(others, sort=False)) if others else [((), table)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(groups) * len(backends)), 4.0))
    cmap = plt.get_cmap("tab10")
    ticks, labels = [], []
    for gi, (key, g) in enumerate(groups):
        for bi, backend in enumerate(backends):
            x = gi * (len(backends) + 1) + bi
            values = g.loc[g["backend"] == backend, "final_loss"].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if len(values):
                ax.vlines(x, values.min(), values.max(), color=cmap(bi), lw=6, alpha=0.3)
                ax.scatter(np.full(len(values), x), values, color=cmap(bi), s=14, zorder=3)
            ticks.append(x)
            values_ = key if isinstance(key, tuple) else (key,)
            key_text = ",".join(
                f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in zip(others, values_, strict=False)
            )
            labels.append(f"{backend}\n{key_text}" if others else backend)
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylabel("final training loss")
    ax.set_title("final loss across seeds, per backend")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def sweep_console(table: pd.DataFrame) -> str:
    """One line per point: each backend's status and root (or final loss)."""
    value = "root" if "root" in table.columns else "final_loss"
    lines = [f"sweep ({value} per backend, status when not ok):"]
    for point, group in table.groupby("point", sort=False):
        cells = []
        for r in group.itertuples():
            v = getattr(r, value)
            text = "nan" if pd.isna(v) else f"{v:.10g}"
            cells.append(f"{r.backend}={text}" + ("" if r.status == "ok" else f" ({r.status})"))
        lines.append(f"  {point:<12} " + "  ".join(cells))
    return "\n".join(lines)
