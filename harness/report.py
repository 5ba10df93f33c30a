"""Results as pandas frames, written atomically into a run folder, and a console summary."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from netparity.harness.diff import Diff
from netparity.harness.metrics import prediction_agreement
from netparity.harness.run import RunResult
from netparity.spec.serialize import model_to_dict, recipe_to_dict

REPORT_MARKER = "summary.csv"  # a folder holding this already holds a report


class ReportError(RuntimeError):
    """The run folder cannot be used (exists with a report, not writable)."""


def root_column(run: RunResult, res) -> dict[str, float]:
    """``root``: the trained x of a Quadratic layer (task roots), the root that backend found."""
    names = [n for info in run.task.model.infer() if info.layer.kind == "quadratic" for n in info.params]
    if not names:
        return {}
    value = res.params.get(names[0])
    return {"root": float(np.ravel(value)[0]) if value is not None else float("nan")}


def summary_frame(run: RunResult) -> pd.DataFrame:
    rows = []
    ref = run.results.get(run.reference)
    for name, res in run.results.items():
        c = run.comparisons.get(name)
        is_ref = name == run.reference and res.ran
        agreement = {}
        if run.task.kind == "classification":
            agreement["prediction_agreement"] = prediction_agreement(res.test_outputs, ref and ref.test_outputs)
        zero = 0.0 if is_ref else float("nan")
        step = next((t.median_ms for t in res.timings if t.phase == "train_step"), float("nan"))
        rows.append(
            {
                "backend": name,
                "status": res.status,
                "reference": run.reference,
                "max_abs_output_diff": c.output.max_abs if c else zero,
                "max_rel_output_diff": c.output.max_rel if c else zero,
                "max_abs_grad_diff": c.grad.max_abs if c else zero,
                "max_rel_grad_diff": c.grad.max_rel if c else zero,
                "max_abs_param_diff": c.param.max_abs if c else zero,
                "max_rel_param_diff": c.param.max_rel if c else zero,
                "max_rel_loss_diff": c.trajectory.max_rel if c else zero,
                "final_loss": res.final_loss,
                **{m: res.metrics.get(m, float("nan")) for m in run.task.metrics},
                **root_column(run, res),
                **agreement,
                "first_divergent_layer": c.first_divergent_layer if c else "",
                "train_step_ms": step,
                "optimizer_impl": res.implementation.get("optimizer", ""),
                "reason": res.reason,
            }
        )
    return pd.DataFrame(rows)


def losses_frame(run: RunResult) -> pd.DataFrame:
    rows = [
        {"backend": n, "epoch": e, "step": s, "loss": loss} for n, r in run.results.items() for e, s, loss in r.losses
    ]
    return pd.DataFrame(rows, columns=["backend", "epoch", "step", "loss"])


def outputs_frame(run: RunResult) -> pd.DataFrame:
    frames = []
    for n, r in run.results.items():
        if r.outputs is None:
            continue
        out = r.outputs.reshape(len(r.outputs), -1)
        sample, output = np.indices(out.shape)
        frames.append(
            pd.DataFrame({"backend": n, "sample": sample.ravel(), "output": output.ravel(), "value": out.ravel()})
        )
    if not frames:
        return pd.DataFrame(columns=["backend", "sample", "output", "value"])
    return pd.concat(frames, ignore_index=True)


def grads_frame(run: RunResult) -> pd.DataFrame:
    rows = []
    for n, r in run.results.items():
        c = run.comparisons.get(n)
        for param, g in r.grads.items():
            d = c.grads.get(param) if c else None
            rows.append(
                {
                    "backend": n,
                    "param": param,
                    "shape": "x".join(map(str, g.shape)),
                    "norm": float(np.linalg.norm(g)),
                    "max_abs_diff": d.max_abs if d else (0.0 if n == run.reference else float("nan")),
                    "max_rel_diff": d.max_rel if d else (0.0 if n == run.reference else float("nan")),
                }
            )
    return pd.DataFrame(rows, columns=["backend", "param", "shape", "norm", "max_abs_diff", "max_rel_diff"])


LAYER_COLUMNS = ["backend", "layer_index", "layer", "max_abs_diff", "max_rel_diff"]
LAYER_GRAD_COLUMNS = ["max_abs_grad_diff", "max_rel_grad_diff"]  # worst parameter gradient of the layer


def layers_frame(run: RunResult) -> pd.DataFrame:
    """Activations of every layer against the reference; gradients of the layer's parameters
    (NaN for a layer without parameters)."""
    rows = []
    for n, c in run.comparisons.items():
        for i, layer, d in c.layers:
            grads = [g for param, g in c.grads.items() if param.startswith(f"{layer}.")]
            worst = Diff.worst(grads) if grads else Diff(float("nan"), float("nan"))
            values = [n, i, layer, d.max_abs, d.max_rel, worst.max_abs, worst.max_rel]
            rows.append(dict(zip(LAYER_COLUMNS + LAYER_GRAD_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=LAYER_COLUMNS + LAYER_GRAD_COLUMNS)


def timings_frame(run: RunResult) -> pd.DataFrame:
    rows = [
        {
            "backend": n,
            "phase": t.phase,
            "median_ms": t.median_ms,
            "p10_ms": t.p10_ms,
            "p90_ms": t.p90_ms,
            "repeats": t.repeats,
            "cv": t.cv,
            "gflops": t.gflops,
            "peak_rss_mb": t.peak_rss_mb,
        }
        for n, r in run.results.items()
        for t in r.timings
    ]
    columns = ["backend", "phase", "median_ms", "p10_ms", "p90_ms", "repeats", "cv", "gflops", "peak_rss_mb"]
    return pd.DataFrame(rows, columns=columns)


def frames(run: RunResult) -> dict[str, pd.DataFrame]:
    return {
        "summary": summary_frame(run),
        "losses": losses_frame(run),
        "outputs": outputs_frame(run),
        "grads": grads_frame(run),
        "layers": layers_frame(run),
        "timings": timings_frame(run),
    }


# ------------------------------------------------------------------ writing


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600; a report is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_out_dir(out: str | None, task: str, root: str = "reports") -> Path:
    """``out`` exactly (created if absent, refused if it holds a report), or a fresh
    timestamped folder under ``root`` so no earlier run is ever overwritten."""
    if out:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ReportError(f"--out {out}: exists and is not a folder")
        if (path / REPORT_MARKER).exists():
            raise ReportError(f"--out {out}: already holds a report; choose a new folder")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{stamp}-{task}"
        n = 1
        while path.exists():
            n += 1
            path = Path(root) / f"{stamp}-{task}-{n}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ReportError(f"cannot write the report to {path}: {err.strerror or err}") from None
    return path


def results_json(run: RunResult, summary: pd.DataFrame, ok: bool | None = None) -> str:
    """results.json: the verdict and summary.csv's rows, machine-readable (NaN as null)."""
    from netparity import __version__

    rows = [
        {
            k: None if isinstance(v, float) and np.isnan(v) else (v.item() if isinstance(v, np.generic) else v)
            for k, v in row.items()
        }
        for row in summary.to_dict(orient="records")
    ]
    return json.dumps(
        {
            "netparity": __version__,
            "ok": run.ok if ok is None else ok,
            "task": run.task.name,
            "dtype": run.dtype,
            "device": run.device,
            "seed": run.seed,
            "reference": run.reference,
            "tolerances": run.tolerance,
            "backends": rows,
        },
        indent=2,
    )


def write_report(
    run: RunResult,
    out_dir: Path,
    extra: dict | None = None,
    *,
    readable: bool = True,
    tables: dict[str, pd.DataFrame] | None = None,
    ok: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """CSV files, the exact spec with the environment it ran in (spec.json), results.json,
    plots and report.md (unless ``readable`` is False), and the frames they came from;
    summary.csv last. ``ok`` overrides ``run.ok`` in results.json (native-defaults mode)."""
    from netparity.harness.environment import environment

    tables = tables or frames(run)
    extra = dict(extra or {})
    extra.setdefault("environment", environment(run.device))
    for name, frame in tables.items():
        if name == "summary":
            continue  # written last: its presence marks a complete report
        atomic_write(out_dir / f"{name}.csv", frame.to_csv(index=False))
    meta = {
        "task": run.task.name,
        "dtype": run.dtype,
        "device": run.device,
        "seed": run.seed,
        "reference": run.reference,
        "model": model_to_dict(run.task.model),
        "recipe": recipe_to_dict(run.task.recipe),
        "implementation": {n: r.implementation for n, r in run.results.items()},
        "tolerances": run.tolerance,
        "reference_float32_drift": run.rounding_drift,
        **extra,
    }
    atomic_write(out_dir / "spec.json", json.dumps(meta, indent=2, default=str))
    atomic_write(out_dir / "results.json", results_json(run, tables["summary"], ok))
    if readable:
        write_readable(run, tables, out_dir, extra)
    atomic_write(out_dir / REPORT_MARKER, tables["summary"].to_csv(index=False))
    return tables


def write_readable(run: RunResult, tables: dict[str, pd.DataFrame], out_dir: Path, extra: dict | None = None) -> None:
    """PNG plots and report.md; a plotting failure is noted in report.md, never fatal."""
    from netparity.harness.markdown import render_report

    plots: dict[str, Path] = {}
    problem = ""
    try:
        from netparity.harness.plots import write_plots

        tol = run.tolerance
        plots = write_plots(
            tables,
            out_dir,
            reference=run.reference,
            tolerance=tol["single"],
            trained_tolerance=tol["trained"],
            title=f"{run.task.name}, {run.dtype}",
        )
    except Exception as err:  # the CSVs matter more than the pictures
        problem = f"plots could not be drawn: {type(err).__name__}: {err}"
    atomic_write(out_dir / "report.md", render_report(run, tables, plots, problem, extra=extra, out_dir=out_dir))


def format_ms(ms: float) -> str:
    """Plain milliseconds (harness.plots.format_ms, without importing matplotlib here)."""
    if pd.isna(ms) or not np.isfinite(ms):
        return ""
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.3g}" if abs(ms) >= 0.01 else f"{ms:.4f}"


def console_table(summary: pd.DataFrame) -> str:
    """The summary as a compact, aligned text table."""
    cols = ["backend", "status", "max_rel_output_diff", "max_rel_grad_diff", "max_rel_param_diff", "final_loss"]
    cols += [c for c in summary.columns if c.startswith("test_") or c == "prediction_agreement"]
    cols += ["train_step_ms"] if summary["train_step_ms"].notna().any() else []  # none: --no-timing
    cols += ["root"] if "root" in summary.columns else []
    view = summary[cols].copy()
    for c in cols[2:]:
        if c == "train_step_ms":
            view[c] = view[c].map(format_ms)
            continue
        fmt = "{:.2e}" if "diff" in c else "{:.10g}" if c == "root" else "{:.4g}"
        view[c] = view[c].map(lambda v, fmt=fmt: "" if pd.isna(v) else fmt.format(v))
    view.columns = [c.replace("max_rel_", "rel_").replace("_diff", "") for c in cols]
    text = view.to_string(index=False)
    notes = [f"  {r.backend}: {r.reason}" for r in summary.itertuples() if r.reason]
    return text + ("\n" + "\n".join(notes) if notes else "")
