"""PNG plots of a run, drawn from its report frames (so they can be redrawn from the CSVs).

- ``loss_curves.png``: every backend's training loss per step, overlaid, and below it the
  relative difference to the reference at every step on a log scale, with the tolerance.
- ``layers.png``: per-layer max relative difference of activations (and gradients) to the
  reference, log scale, with the tolerance as a line: the first point above it is the first
  divergent layer.
- ``timings.png``: median forward and train-step time per backend, whiskers p10..p90.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

# Okabe & Ito's colour-blind-safe palette, and a marker per backend so that the lines stay
# apart in grey print too; backends beyond these take the rest in order
COLORS = {"numpy": "#0072B2", "torch": "#D55E00", "tf": "#009E73", "keras": "#CC79A7"}
MARKERS = {"numpy": "o", "torch": "s", "tf": "^", "keras": "D"}
SPARE_COLORS = ("#E69F00", "#56B4E9", "#000000", "#F0E442")
SPARE_MARKERS = ("v", "P", "X", "*")
TIMED_PHASES = ("forward", "train_step")


def _spare(backend: str, table: dict[str, str], spare: tuple[str, ...]) -> str:
    if backend not in table:
        table[backend] = spare[sum(1 for b in table if b not in ("numpy", "torch", "tf", "keras")) % len(spare)]
    return table[backend]


def _color(backend: str) -> str:
    return _spare(backend, COLORS, SPARE_COLORS)


def _marker(backend: str) -> str:
    return _spare(backend, MARKERS, SPARE_MARKERS)


def _save(fig: plt.Figure, path: Path) -> Path:
    from netparity.harness.report import atomic_write  # lazy: report imports this module

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def loss_curves(
    losses: pd.DataFrame, reference: str, path: Path, title: str = "", tolerance: float | None = None
) -> Path | None:
    """Loss per training step for every backend, and below it the relative difference to the
    reference's loss at each step (log scale; steps where they agree exactly are counted in
    the legend, since zero has no place on a log axis)."""
    if losses.empty:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, height_ratios=(3, 2))
    curves = {b: g.loss.to_numpy(dtype=float) for b, g in losses.groupby("backend", sort=False)}
    ref = curves.get(reference)
    for backend, loss in curves.items():
        style = {"lw": 2.4, "alpha": 0.5} if backend == reference else {"lw": 1.0, "ls": "--"}
        every = max(len(loss) // 12, 1)  # a few markers tell the overlaid lines apart
        marker = {"marker": _marker(backend), "markevery": every, "ms": 4}
        top.plot(np.arange(1, len(loss) + 1), loss, label=backend, color=_color(backend), **style, **marker)
        if ref is not None and backend != reference:
            n = min(len(loss), len(ref))
            rel = np.abs(loss[:n] - ref[:n]) / np.maximum(np.abs(ref[:n]), np.finfo(float).tiny)
            steps = np.arange(1, n + 1)
            shown = np.isfinite(rel) & (rel > 0)
            exact = int(np.sum(rel == 0))
            label = f"{backend} ({exact}/{n} steps exact)" if exact else backend
            missing = int(np.sum(~np.isfinite(rel)))  # NaN/inf: never drawn as agreement
            label += f", {missing} steps not comparable" if missing else ""
            bottom.plot(steps[shown], rel[shown], _marker(backend), ms=3, label=label, color=_color(backend))
    top.set_ylabel("training loss")
    top.set_yscale("log" if (losses.loss > 0).all() else "linear")
    top.legend(loc="upper right", fontsize=8)
    _lr_axis(top, losses, reference)
    top.set_title(title or "loss per training step")
    bottom.set_yscale("log")
    bottom.set_ylabel(f"|loss − {reference}| / |{reference}|")
    bottom.set_xlabel("training step")
    if tolerance is not None:
        bottom.axhline(tolerance, color="black", lw=1, ls=":", label=f"tolerance {tolerance:.0e}")
    if ref is None:
        bottom.text(0.5, 0.5, f"the reference {reference} has no losses", ha="center", transform=bottom.transAxes)
    elif len(curves) > 1:
        bottom.legend(fontsize=8, loc="best")
    for ax in (top, bottom):
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    return _save(fig, path)


def _lr_axis(ax: plt.Axes, losses: pd.DataFrame, reference: str) -> None:
    """The reference's learning rate per step on a right-hand axis, when a schedule changes it."""
    if "lr" not in losses:
        return
    lr = losses[losses.backend == reference].lr.to_numpy(dtype=float)
    if lr.size == 0 or not np.isfinite(lr).all() or np.ptp(lr) == 0:
        return
    right = ax.twinx()
    right.plot(np.arange(1, len(lr) + 1), lr, color="gray", lw=1, ls=":", label="learning rate")
    right.set_ylabel("learning rate", color="gray")
    right.tick_params(axis="y", colors="gray")


def _exact_floor(values: np.ndarray, tolerance: float) -> float:
    """A decade below the smallest non-zero difference (and the tolerance): where exact
    agreement is drawn, labelled 'exact', since zero has no place on a log axis."""
    positive = values[np.isfinite(values) & (values > 0)]
    smallest = min(float(positive.min()) if positive.size else tolerance, tolerance)
    return 10.0 ** (np.floor(np.log10(smallest)) - 1)


def _shown(values: np.ndarray, floor: float) -> np.ndarray:
    """Exact 0 drawn at the floor ('exact'); NaN and inf stay gaps, never 'exact'."""
    return np.where(values == 0, floor, np.where(np.isfinite(values) & (values > 0), values, np.nan))


def layer_divergence(layers: pd.DataFrame, tolerance: float, path: Path, reference: str = "") -> Path | None:
    """Max relative difference per layer (activations solid, gradients dashed), log scale."""
    if layers.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = layers.drop_duplicates("layer_index").sort_values("layer_index")
    grad_col = "max_rel_grad_diff" if "max_rel_grad_diff" in layers else None
    cols = ["max_rel_diff", *([grad_col] if grad_col else [])]
    floor = _exact_floor(layers[cols].to_numpy(dtype=float).ravel(), tolerance)
    missing = False
    for backend, g in layers.groupby("backend", sort=False):
        g = g.sort_values("layer_index")
        act = g.max_rel_diff.to_numpy(dtype=float)
        ax.plot(g.layer_index, _shown(act, floor), marker=_marker(backend), label=backend, color=_color(backend))
        missing |= bool(np.any(~np.isfinite(act)))
        if grad_col:
            grad = g[grad_col].to_numpy(dtype=float)
            ax.plot(g.layer_index, _shown(grad, floor), marker="x", ls="--", color=_color(backend), alpha=0.7)
    ax.axhline(tolerance, color="black", lw=1, ls=":", label=f"tolerance {tolerance:.0e}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 3)
    bottom, top = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if floor * 1.5 < t <= top]
    ax.set_yticks([floor, *ticks], ["exact", *(f"1e{np.log10(t):.0f}" for t in ticks)])
    ax.set_ylim(bottom, top)
    ax.set_xticks(names.layer_index.to_numpy(), names.layer.tolist(), rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"max rel diff to {reference}" if reference else "max rel diff")
    ax.set_title("per-layer divergence (markers: activations, x: gradients)")
    if missing:
        ax.text(
            0.01, 0.97, "a gap: not comparable (NaN or shapes differ)", transform=ax.transAxes, va="top", fontsize=7
        )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def timing_bars(timings: pd.DataFrame, path: Path) -> Path | None:
    """Median time per backend for the repeated phases, with p10..p90 whiskers."""
    t = timings[timings.phase.isin(TIMED_PHASES)]
    if t.empty:
        return None
    backends = list(dict.fromkeys(t.backend))
    phases = [p for p in TIMED_PHASES if p in set(t.phase)]
    fig, axes = plt.subplots(1, len(phases), figsize=(3.6 * len(phases), 3.4), squeeze=False)
    for ax, phase in zip(axes[0], phases, strict=True):
        rows = t[t.phase == phase].set_index("backend").reindex(backends)
        med = rows.median_ms.to_numpy(dtype=float)
        err = np.vstack([med - rows.p10_ms.to_numpy(dtype=float), rows.p90_ms.to_numpy(dtype=float) - med])
        bars = ax.bar(backends, med, yerr=np.maximum(err, 0), capsize=4, color=[_color(b) or "grey" for b in backends])
        from netparity.harness.report import format_ms  # lazy: report imports this module

        ax.bar_label(bars, labels=[format_ms(m) for m in med], fontsize=7, padding=2)
        finite = med[np.isfinite(med) & (med > 0)]
        if len(finite) and finite.max() / finite.min() > 30:  # frameworks differ by orders of magnitude
            ax.set_yscale("log")
        ax.set_title(f"{phase} (median, p10–p90)")
        ax.set_ylabel("ms")
        ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def write_plots(
    tables: dict[str, pd.DataFrame],
    out_dir: Path,
    *,
    reference: str,
    tolerance: float,
    trained_tolerance: float | None = None,
    title: str = "",
) -> dict[str, Path]:
    """Every plot that has data, keyed by what it shows; files go into ``out_dir``.
    ``tolerance`` applies to single evaluations (layers), ``trained_tolerance`` to the loss curve."""
    out_dir = Path(out_dir)
    # the pictures are a report's, not the terminal's: matplotlib's and NumPy's warnings about
    # degenerate axes (a constant loss) or NaN in a curve stay out of the console
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        made = {
            "loss curves": loss_curves(
                tables["losses"], reference, out_dir / "loss_curves.png", title, trained_tolerance
            ),
            "per-layer divergence": layer_divergence(tables["layers"], tolerance, out_dir / "layers.png", reference),
            "timings": timing_bars(tables["timings"], out_dir / "timings.png"),
        }
    return {k: v for k, v in made.items() if v is not None}
