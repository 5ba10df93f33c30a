"""What ``netparity.compare`` returns: the run's tables as DataFrames, the verdict, and the
report folder on request. Displaying a Result never prints an array."""

from __future__ import annotations

import html
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from netparity.harness.diff import Diff
from netparity.harness.run import BackendResult, RunResult

SHOWN = ["backend", "status", "max_rel_output_diff", "max_rel_grad_diff", "max_rel_param_diff", "final_loss"]


class Result:
    """One comparison run.

    ``summary`` (one row per backend, the columns of summary.csv), ``losses``, ``layers``,
    ``timings``, ``grads`` and ``outputs`` are pandas DataFrames; ``ok`` is the verdict,
    ``assert_ok()`` raises an AssertionError that names the worst array and element;
    ``save(dir)`` writes the report folder the command line writes. ``run`` holds every
    array (canonical NumPy) if you need them.
    """

    def __init__(self, run: RunResult, *, extra: dict | None = None, data_file: bool = False) -> None:
        self.run = run
        self._extra = dict(extra or {})
        self._data_file = data_file  # the data came as arrays: save() writes data.npz for --rerun

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        from netparity.harness.report import frames

        return frames(self.run)

    @property
    def summary(self) -> pd.DataFrame:
        return self.tables["summary"]

    @property
    def losses(self) -> pd.DataFrame:
        return self.tables["losses"]

    @property
    def layers(self) -> pd.DataFrame:
        return self.tables["layers"]

    @property
    def timings(self) -> pd.DataFrame:
        return self.tables["timings"]

    @property
    def grads(self) -> pd.DataFrame:
        return self.tables["grads"]

    @property
    def outputs(self) -> pd.DataFrame:
        return self.tables["outputs"]

    @property
    def ok(self) -> bool:
        """Every backend that ran agrees with the reference within tolerance (skipped ones aside)."""
        return self.run.ok

    def assert_ok(self) -> None:
        """Raise AssertionError unless ``ok``; the message names, for each backend that does not
        agree, the worst array (relative to its tolerance) and its worst element."""
        if self.ok:
            return
        raise AssertionError(failure_message(self.run))

    def save(self, out: str | Path) -> Path:
        """Write the report folder (CSVs, spec.json, results.json, plots, report.md) into ``out``
        (created; refused if it already holds a report). Returns the folder."""
        from netparity.harness.report import ReportError, RunFolder, write_report
        from netparity.spec.errors import SpecError

        try:  # held as the command line holds its folder: locked, marked unfinished until written
            held = RunFolder(str(out), self.run.task.name)
        except ReportError as err:
            raise SpecError(str(err)) from None
        with held:
            if self._data_file:
                from netparity.rerun import save_data

                save_data(self.run.task.data, held.path)
            write_report(self.run, held.path, extra=self._extra, tables=self.tables)
            held.finish()
        return held.path

    def _line(self) -> str:
        run = self.run
        parts = []
        for name, res in run.results.items():
            c = run.comparisons.get(name)
            worst = "" if c is None else f" {max(c.output.max_rel, c.grad.max_rel, c.param.max_rel):.1e}"
            parts.append(f"{name} {res.status}{worst}")
        return f"{run.task.name}, {run.dtype}, reference {run.reference}: " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"<netparity.Result {'ok' if self.ok else 'NOT ok'}: {self._line()}>"

    def _repr_html_(self) -> str:
        summary = self.summary
        cols = [c for c in SHOWN if c in summary.columns]
        view = summary[cols].copy()
        for c in cols[2:]:
            view[c] = view[c].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
        verdict = "every backend agrees with the reference" if self.ok else "NOT ok"
        head = html.escape(f"netparity: {self.run.task.name}, {self.run.dtype} — {verdict}")
        reasons = "".join(
            f"<li>{html.escape(r.backend)}: {html.escape(r.reason)}</li>" for r in summary.itertuples() if r.reason
        )
        return f"<p><b>{head}</b></p>{view.to_html(index=False)}" + (f"<ul>{reasons}</ul>" if reasons else "")


# ------------------------------------------------------------------ assert_ok's message


def _arrays(res: BackendResult, names: list[str]) -> list[tuple[str, str, object]]:
    """(what, tolerance kind, array) for every quantity the verdict compares."""
    out: list[tuple[str, str, object]] = [("outputs", "single", res.outputs)]
    out += [(f"activation of layer {n}", "single", a) for n, a in zip(names, res.activations, strict=False)]
    out.append(("loss", "single", np.array([res.loss])))
    out += [(f"gradient of {k}", "single", g) for k, g in res.grads.items()]
    out.append(("loss trajectory", "trained", np.array([x[2] for x in res.losses])))
    out += [(f"trained parameter {k}", "trained", p) for k, p in res.params.items()]
    return out


def worst_array(run: RunResult, backend: str) -> str:
    """The array of ``backend`` furthest from the reference relative to its tolerance, with its
    worst element, e.g. as torch.testing.assert_close reports it."""
    res, ref = run.results[backend], run.results[run.reference]
    names = [info.name for info in run.task.model.infer()]
    mine = {what: (kind, a) for what, kind, a in _arrays(res, names)}
    worst, score = None, -1.0
    for what, _, b in _arrays(ref, names):
        kind, a = mine.get(what, (None, None))
        if a is None or b is None:
            continue
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        d = Diff.of(a, b)
        tol = run.tolerance[kind]
        s = float("inf") if not np.isfinite(d.max_rel) else d.max_rel / tol
        if s > score:
            worst, score = (what, a, b, d, tol), s
    if worst is None:
        return "no array to compare"
    what, a, b, d, tol = worst
    if a.shape != b.shape:
        return f"Worst array: {what}: shape {a.shape} != reference {b.shape}"
    err = np.abs(a - b)
    err = np.where(np.isnan(err), np.inf, err)  # a NaN is the worst element there is
    index = np.unravel_index(int(np.argmax(err)), a.shape) if a.size else ()
    at = tuple(int(i) for i in index)
    return (
        f"Worst array: {what} (shape {a.shape}): normwise relative difference {d.max_rel:.3e} "
        f"(allowed {tol:.0e})\n"
        f"Greatest absolute difference: {d.max_abs:.3e} at index {at}: {float(a[index])!r} vs reference {float(b[index])!r}"
    )


def failure_message(run: RunResult) -> str:
    lines = [f"netparity: {run.task.name}, {run.dtype}: backends disagree with the reference {run.reference}"]
    for name, res in run.results.items():
        if res.status in ("ok", "skipped"):
            continue
        lines.append(f"{name}: {res.status}: {res.reason}")
        if res.status in ("mismatch", "diverged") and run.results[run.reference].ran:
            lines.append("  " + worst_array(run, name).replace("\n", "\n  "))
    fine = [n for n, r in run.results.items() if r.status == "ok" and n != run.reference]
    if fine:
        lines.append(f"agree: {', '.join(fine)}")
    return "\n".join(lines)
