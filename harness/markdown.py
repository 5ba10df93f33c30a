"""report.md: the verdict at a glance, then the tables and plots that back it up."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from netparity.harness.diff import TOLERANCES
from netparity.harness.report import format_ms
from netparity.harness.run import RunResult
from netparity.spec.layers import Layer
from netparity.spec.recipe import Optimizer, softmax_twice

STATUS_MARK = {
    "ok": "✅",
    "mismatch": "❌",
    "diverged": "💥",
    "failed": "💥",
    "skipped": "⏭️",
    "unverified": "❔",
}
SUMMARY_COLUMNS = {  # summary.csv column -> heading in report.md
    "backend": "backend",
    "status": "status",
    "max_rel_output_diff": "rel output",
    "max_rel_grad_diff": "rel grad",
    "max_rel_loss_diff": "rel loss curve",
    "max_rel_param_diff": "rel trained params",
    "final_loss": "final loss",
    "prediction_agreement": "prediction agreement",
    "root": "root",
    "first_divergent_layer": "first divergent layer",
    "train_step_ms": "train step ms",
}


def _cell(value: object, fmt: str = "{:.3g}") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return fmt.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[list[object]], header: list[str], formats: dict[int, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``formats`` maps a column index to a format string."""
    formats = formats or {}
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v, formats.get(i, "{:.3g}")) for i, v in enumerate(row)) + " |")
    return "\n".join(lines)


def verdict(run: RunResult) -> str:
    """One line a reader can stop at (harness.verdict's), plus one line per backend that is not ok."""
    tol = run.tolerance
    judged = run.verdict()
    widened = (
        f", widened from {TOLERANCES[run.dtype]['trained']:.0e} to 10x the reference's own float32 drift "
        f"{run.rounding_drift:.1e}"
        if tol["trained"] > TOLERANCES[run.dtype]["trained"]
        else ""
    )
    where = (
        f"(normwise relative, {run.dtype}: {tol['single']:.0e} per evaluation, "
        f"{tol['trained']:.1e} after training{widened})"
    )
    mark = "✅" if judged.passed else "❌"
    lines = [f"**{mark} {judged.headline}** {where}."]
    warning = softmax_twice(run.task.model.layers, run.task.recipe.loss)
    lines += [f"- ⚠️ warning: {warning}"] if warning else []
    for name, o in judged.outcomes.items():
        if o.status == "ok":
            continue
        words = "" if o.words == o.status else f" ({o.words})"
        lines.append(f"- {STATUS_MARK.get(o.status, '')} `{name}` **{o.status}**{words}: {o.reason}")
    lines += _allowance_notes(run)
    return "\n".join(lines)


def _allowance_notes(run: RunResult) -> list[str]:
    """Where an ok backend's trained numbers pass only thanks to the adaptive optimizer's
    allowance (harness.diff, point 3), say so and for which parameter."""
    notes, base = [], run.tolerance["trained"]
    for name, c in run.comparisons.items():
        if run.results[name].status != "ok" or not c.amplification:
            continue
        unjudged = [p for p, a in c.amplification.items() if not np.isfinite(a)]
        if unjudged:
            notes.append(
                f"- ℹ️ `{name}`: trained {', '.join(f'`{p}`' for p in unjudged)} not judged: the reference gradient "
                f"is rounding noise, which {run.task.recipe.optimizer.name} divides by its own size (harness/diff.py)"
            )
        finite = {p: a for p, a in c.amplification.items() if np.isfinite(a)}
        over = c.trajectory.max_rel > base or any(d.max_rel > base for p, d in c.params.items() if p in finite)
        if not over or not finite:
            continue
        param, amp = max(finite.items(), key=lambda kv: kv[1])
        notes.append(
            f"- ℹ️ `{name}`: trained parameters / loss curve beyond {base:.0e}, within the allowance for "
            f"{run.task.recipe.optimizer.name} dividing rounding noise by the gradient's own size "
            f"(harness/diff.py): up to {amp:.0f}x for `{param}`, whose gradient is {1 / amp:.1e} of the largest"
        )
    return notes


def _layer_text(layer: Layer) -> str:
    """``Dense(64, activation=relu)``: only the fields that differ from their defaults."""
    fields = []
    for f in dataclasses.fields(layer):
        value = getattr(layer, f.name)
        if f.name == "layers":
            fields.append("[" + ", ".join(_layer_text(x) for x in value) + "]")
        elif f.default is dataclasses.MISSING:
            fields.append(str(value))
        elif value != f.default:
            fields.append(f"{f.name}={value}")
    return f"{type(layer).__name__}({', '.join(fields)})"


def _files(out_dir: Path | None) -> str:
    names = {"summary.csv", "spec.json"}
    if out_dir is not None:
        names |= {
            p.name
            for p in Path(out_dir).iterdir()
            if p.suffix in (".csv", ".json", ".npz") and not p.name.startswith(".")
        }
    return "\n".join(f"- `{n}`" + (f": {FILE_NOTES[n]}" if n in FILE_NOTES else "") for n in sorted(names))


def optimizer_text(opt: Optimizer) -> str:
    """``adam lr=0.003 epsilon=0.0001``: the name, lr and every field that differs from its
    default (spec.recipe.Optimizer), so that nothing that changes the numbers is hidden."""
    default = Optimizer()
    changed = [
        f"{f.name}={getattr(opt, f.name)}"
        for f in dataclasses.fields(opt)
        if f.name not in ("name", "lr") and getattr(opt, f.name) != getattr(default, f.name)
    ]
    return " ".join([opt.name, f"lr={opt.lr}", *changed])


def _model_table(run: RunResult) -> str:
    """Per layer: output shape and parameter count, like Keras's ``model.summary()``."""
    rows, total = [], 0
    infos = run.task.model.infer()
    rows.append(["", "input", "", str(tuple(run.task.model.input_shape)), ""])
    for info in infos:
        count = sum(int(np.prod(p.shape)) for p in info.params.values())
        total += count
        rows.append([info.index, info.name, _layer_text(info.layer), str(tuple(info.out_shape)), count])
    rows.append(["", "**total**", "", "", f"**{total}**"])
    return table(rows, ["#", "layer", "spec", "output shape", "parameters"], {4: "{:d}"})


def _recipe_text(recipe) -> str:
    """Loss, optimizer, schedule, clipping, epochs and batch in one line."""
    opt, parts = recipe.optimizer, [str(recipe.loss)]
    parts.append(optimizer_text(opt))
    if recipe.lr_schedule is not None:
        parts.append(f"lr_schedule {recipe.lr_schedule.name} per {recipe.lr_schedule.per}")
    if recipe.clip is not None:
        c = recipe.clip
        parts.append(f"clip value {c.value}" if c.value is not None else f"clip norm {c.norm} ({c.scope})")
    parts.append(f"{recipe.epochs} epochs, batch {recipe.batch_size}" + ("" if recipe.shuffle else ", unshuffled"))
    return ", ".join(parts)


def _run_facts(run: RunResult, extra: dict) -> str:
    task, recipe, data = run.task, run.task.recipe, run.task.data
    layers = ", ".join(_layer_text(x) for x in task.model.layers)
    rows = [
        ["task", task.name if task.kind == task.name else f"{task.name} ({task.kind})"],
        ["dtype / device / seed", f"{run.dtype} / {run.device} / {run.seed}"],
        ["reference", run.reference],
        ["model", f"input {tuple(task.model.input_shape)} → {layers}"],
        ["recipe", _recipe_text(recipe)],
        ["data", f"{len(data.x_train)} training rows, {len(data.x_test)} test rows"],
    ]
    rows += [[k, v] for k, v in extra.items() if isinstance(v, (str, int, float, bool))]
    return table(rows, ["", ""])


def _summary(summary: pd.DataFrame) -> str:
    cols = [c for c in SUMMARY_COLUMNS if c in summary.columns]
    if "train_step_ms" in cols and summary["train_step_ms"].isna().all():  # --no-timing
        cols.remove("train_step_ms")
    metric_cols = [c for c in summary.columns if c.startswith("test_")]
    cols[-1:-1] = metric_cols  # metrics before the timing column
    header = [SUMMARY_COLUMNS.get(c, c) for c in cols]
    formats = {i: "{:.2e}" for i, c in enumerate(cols) if "diff" in c}
    formats.update({i: "{:.4g}" for i, c in enumerate(cols) if "diff" not in c})
    rows = []
    for r in summary.to_dict("records"):
        row = [format_ms(r[c]) if c == "train_step_ms" else r[c] for c in cols]
        row[1] = f"{STATUS_MARK.get(r['status'], '')} {r['status']}"
        rows.append(row)
    return table(rows, header, formats)


def _layers(layers: pd.DataFrame, tolerance: float) -> str:
    if layers.empty:
        return "_No per-layer comparison (no backend besides the reference produced activations)._"
    backends = list(dict.fromkeys(layers.backend))
    names = layers.drop_duplicates("layer_index").sort_values("layer_index")
    header = ["#", "layer"]
    for b in backends:
        header += [f"{b} activations", f"{b} gradients"]
    rows = []
    for idx, name in zip(names.layer_index, names.layer, strict=True):
        row: list[object] = [idx, name]
        for b in backends:
            hit = layers[(layers.backend == b) & (layers.layer_index == idx)]
            for col in ("max_rel_diff", "max_rel_grad_diff"):
                value = float(hit[col].iloc[0]) if len(hit) and col in hit else float("nan")
                text = "" if pd.isna(value) and col.endswith("grad_diff") else f"{value:.2e}"
                row.append(f"**{text}**" if not value <= tolerance and text else text)
        rows.append(row)
    note = f"Max relative difference to the reference per layer; **bold** is above the tolerance {tolerance:.0e}."
    return note + "\n\n" + table(rows, header)


def _implementations(run: RunResult) -> str:
    lines = []
    for name, res in run.results.items():
        impl = {k: v for k, v in res.implementation.items() if k != "traceback"}
        facts = "; ".join(f"{k}: `{v}`" for k, v in impl.items()) or "nothing recorded"
        lines.append(f"- **{name}** ({res.status}): {facts}")
    for name, res in run.results.items():
        if res.implementation.get("traceback"):  # where a failed backend broke, folded away
            trace = res.implementation["traceback"].strip()
            lines += ["", f"<details><summary>{name}: traceback</summary>", "", "```", trace, "```", "", "</details>"]
    return "\n".join(lines)


def _timings(timings: pd.DataFrame) -> str:
    if timings.empty:
        return "_No timings._"
    backends = list(dict.fromkeys(timings.backend))
    phases = list(dict.fromkeys(timings.phase))
    rows = []
    for phase in phases:
        row: list[object] = [phase]
        for b in backends:
            hit = timings[(timings.backend == b) & (timings.phase == phase)]
            if hit.empty:
                row.append("")
                continue
            t = hit.iloc[0]
            median = format_ms(t.median_ms)
            row.append(median if t.repeats <= 1 else f"{median} ({format_ms(t.p10_ms)}–{format_ms(t.p90_ms)})")
        rows.append(row)
    note = "Milliseconds: median (p10–p90) over the repeats; single calls (build, first call) have no spread."
    return note + "\n\n" + table(rows, ["phase", *backends])


FILE_NOTES = {
    "summary.csv": "one row per backend (the table above, every column)",
    "spec.json": "the exact model, recipe, seed and environment of this run (`netparity --rerun` re-runs it)",
    "results.json": "the verdict and the summary, machine-readable",
    "data.npz": "the run's data (given as arrays), for --rerun",
    "layers.csv": "per-layer differences",
    "losses.csv": "the loss of every training step",
}


def render_report(
    run: RunResult,
    tables: dict[str, pd.DataFrame],
    plots: dict[str, Path],
    problem: str = "",
    *,
    extra: dict | None = None,
    out_dir: Path | None = None,
) -> str:
    """The whole report.md; ``plots`` maps a caption to a PNG in the same folder. Simple values
    in ``extra`` (what write_report also stores in spec.json) join the run facts; ``out_dir``
    lists the folder's data files (summary.csv is named even before it is written)."""
    tol = run.tolerance["single"]
    parts = [
        f"# netparity: {run.task.name}, {run.dtype}",
        verdict(run),
        "## Run",
        _run_facts(run, extra or {}),
        "## Model",
        _model_table(run),
        "## Summary",
        "Normwise relative differences (`max|a − b| / max|b|`) to the reference; the full numbers are in `summary.csv`.",
        _summary(tables["summary"]),
        "## Per-layer divergence",
        _layers(tables["layers"], tol),
        "## What ran",
        _implementations(run),
        "## Timings",
        _timings(tables["timings"]),
        "## Plots",
    ]
    parts += [f"![{caption}]({path.name})" for caption, path in plots.items()] or ["_No plots._"]
    if problem:
        parts.append(f"> {problem}")
    env = (extra or {}).get("environment")
    if env:
        from netparity.harness.environment import environment_rows

        parts += ["## Environment", table(environment_rows(env), ["", ""])]
    parts += [
        "## Files",
        _files(out_dir),
    ]
    return "\n\n".join(parts) + "\n"
