"""Results as pandas frames, written atomically into a run folder, and a console summary."""

from __future__ import annotations

import fcntl
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
from netparity.spec.errors import shown
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
    """Every training step's loss and the learning rate that step used (the backend's own)."""
    rows = [
        {"backend": n, "epoch": e, "step": s, "loss": loss, "lr": lr}
        for n, r in run.results.items()
        for (e, s, loss), lr in zip(r.losses, r.lrs or [float("nan")] * len(r.losses), strict=True)
    ]
    return pd.DataFrame(rows, columns=["backend", "epoch", "step", "loss", "lr"])


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


#: files and folders that say a folder already holds results; such a folder is never reused
FOLDER_CONTENTS = {
    REPORT_MARKER: "a report",
    "sweep.csv": "a learning-rate sweep",
    "lr=*/": "a learning-rate sweep",
    "campaign.csv": "a campaign",
    "campaign.json": "a campaign",
    "campaign.md": "a campaign",
}
RUNNING = "RUNNING"  # written first, removed last: its presence means an unfinished run
LOCK = ".lock"  # flock'ed by the run writing into the folder
PLACEHOLDER_TITLE = "# Unfinished run"  # report.md until the real one replaces it


def folder_holds(path: Path) -> str:
    """What results ``path`` already holds ("a report", "a learning-rate sweep", "a campaign",
    "an unfinished run ..."), or "" when it holds none."""
    path = Path(path)
    if not path.is_dir():
        return ""
    unfinished = incomplete_run(path)
    if unfinished:
        return unfinished
    for name, what in FOLDER_CONTENTS.items():
        found = any(p.is_dir() for p in path.glob(name[:-1])) if name.endswith("/") else (path / name).exists()
        if found:
            return what
    return ""


def incomplete_run(path: str | Path) -> str:
    """Why ``path`` holds an unfinished run (its RUNNING marker is still there: the run is going
    on, or was killed), or "" when it does not. ``report.md`` and ``--rerun`` use this."""
    marker = Path(path) / RUNNING
    try:
        info = json.loads(marker.read_text())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError):
        info = {}
    who = f"pid {info.get('pid', '?')}, started {info.get('started', '?')}"
    state = "still running" if _locked(Path(path)) else "stopped before it finished"
    return f"an unfinished run ({who}; {state})"


def _locked(path: Path) -> bool:
    """Whether another process holds the folder's lock."""
    try:
        fd = os.open(path / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def prepare_out_dir(out: str | None, task: str, root: str = "reports") -> Path:
    """``out`` exactly (created if absent, refused if it holds results), or a fresh
    timestamped folder under ``root`` so no earlier run is ever overwritten."""
    if out is not None:
        if not out.strip():
            raise ReportError("--out is empty: name a folder (or leave --out out for a new one under reports/)")
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ReportError(f"--out {shown(out)}: exists and is not a folder")
        held = folder_holds(path)
        if held:
            raise ReportError(f"--out {shown(out)}: already holds {held}; choose a new folder")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = Path(root) / f"{stamp}-{task}", 1
        while True:  # mkdir without exist_ok: two runs started in the same second get two folders
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = Path(root) / f"{stamp}-{task}-{n}"
            except OSError as err:
                raise ReportError(f"cannot write the report to {shown(path)}: {err.strerror or err}") from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ReportError(f"cannot write the report to {shown(path)}: {err.strerror or err}") from None
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
            "interrupted": run.interrupted,
            "backends": rows,
        },
        indent=2,
    )


class RunFolder:
    """A run folder held for one run: an exclusive lock on it (a second run into the same
    folder is refused, naming the holder's pid), a RUNNING marker and a placeholder report.md
    that say "unfinished" until :meth:`finish`. Use as a context manager; the lock is released
    on exit, the marker stays unless the run finished (a crash or kill reads as unfinished)."""

    def __init__(self, out: str | None, task: str, root: str = "reports", command: list[str] | None = None) -> None:
        self.path = prepare_out_dir(out, task, root)
        self._fd: int | None = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "?"
            self.close()
            raise ReportError(
                f"--out {shown(self.path)}: another run (pid {holder}) is writing into it; "
                "wait for it to finish or choose another folder"
            ) from None
        held = folder_holds(self.path)  # again, now under the lock: a run may have finished meanwhile
        if held:
            self.close()
            raise ReportError(f"--out {shown(self.path)}: already holds {held}; choose a new folder")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        info = {"pid": os.getpid(), "started": started, "command": command or []}
        atomic_write(self.path / RUNNING, json.dumps(info, indent=2) + "\n")
        atomic_write(
            self.path / "report.md",
            f"{PLACEHOLDER_TITLE}\n\nThis run started at {started} (pid {os.getpid()}) and has not finished: "
            "it is still running, or it was stopped (killed, or the machine went down) before it wrote "
            "its report. The folder's `RUNNING` file says so too; its results, if any, are incomplete.\n",
        )

    def finish(self) -> None:
        """The run's report is complete (or marked interrupted): remove the RUNNING marker, and
        the placeholder report.md if nothing replaced it (a sweep's reports are in its subfolders)."""
        placeholder = self.path / "report.md"
        if placeholder.exists() and placeholder.read_text(errors="replace").startswith(PLACEHOLDER_TITLE):
            placeholder.unlink()
        (self.path / RUNNING).unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        "interrupted": run.interrupted,
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
    text = render_report(run, tables, plots, problem, extra=extra, out_dir=out_dir)
    if run.interrupted:
        text = (
            "> **Interrupted** (Ctrl-C): this report holds the backends that finished; the others are "
            '`failed` with the reason "interrupted".\n\n' + text
        )
    atomic_write(out_dir / "report.md", text)


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
