#!/usr/bin/env python3
"""NumPy train step against PyTorch's, in one process, same threads, interleaved rounds.

    .venv/bin/python benchmarks/step_ratio.py --tasks image,sequence --threads 1 --rounds 7
    .venv/bin/python benchmarks/step_ratio.py --tasks image --profile   # NumPy per layer

A busy machine slows both steps alike when they alternate round by round, so the ratio (the
median of the per-round ratios) is much steadier than either time on its own. ``--profile``
splits the NumPy step into each layer's forward and backward, the loss and the optimizer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
from netparity.backends import get_backend  # noqa: E402
from netparity.harness.timing import repeat  # noqa: E402


def build(task_name: str, backend_name: str, dtype: str):
    """The backend's model and its first training batch of the task."""
    from netparity.spec.data import batch_plan
    from netparity.spec.init import init_params
    from netparity.spec.tasks import get_task

    task = get_task(task_name).build(0)
    params = init_params(task.model, 0)
    idx = batch_plan(len(task.data.x_train), task.recipe.batch_size, task.recipe.shuffle_seed, 0)[0]
    model = get_backend(backend_name).build(task.model, params, task.recipe, dtype=dtype, device="cpu")
    return model, model.stage(task.data.x_train[idx], task.data.y_train[idx])


def cpu_ms(fn, budget_s: float = 0.3) -> float:
    """CPU milliseconds (user + system, every thread of this process) per call: on a shared
    machine this counts the work itself, not the time spent waiting for a core."""
    fn()
    calls, start = 0, time.process_time()
    while time.process_time() - start < budget_s or calls < 5:
        fn()
        calls += 1
    return (time.process_time() - start) / calls * 1e3


def ratio(task_name: str, threads: int, rounds: int, dtype: str, clock: str = "wall") -> dict[str, float]:
    """Median ms of each step and the median of the per-round NumPy/torch ratios (``clock``:
    wall time of the median call, or CPU time per call)."""
    steps = {}
    for name in ("numpy", "torch"):
        get_backend(name).set_threads(threads)
        model, batch = build(task_name, name, dtype)
        steps[name] = lambda model=model, batch=batch: model.train_step(batch)
    ms: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            if clock == "cpu":
                ms[name].append(cpu_ms(fn))
            else:
                ms[name].append(repeat(name, fn, warmup=2, min_repeats=10, budget_s=0.3).median_ms)
    ratios = np.array(ms["numpy"]) / np.array(ms["torch"])
    return {
        "numpy_ms": float(np.median(ms["numpy"])),
        "torch_ms": float(np.median(ms["torch"])),
        "ratio": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
    }


def profile(task_name: str, threads: int, dtype: str, steps: int = 200, clock: str = "wall") -> list[tuple[str, float]]:
    """Mean ms per step spent in each NumPy layer's forward and backward, the loss and the update."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    get_backend("numpy").set_threads(threads)
    model, batch = build(task_name, "numpy", dtype)
    spent: dict[str, float] = {}

    def timed(key: str, fn):
        def call(*args, **kwargs):
            start = now()
            out = fn(*args, **kwargs)
            spent[key] = spent.get(key, 0.0) + now() - start
            return out

        return call

    for k, layer in enumerate(model.layers):
        name = f"{k}:{type(layer).__name__}"
        layer.forward = timed(f"{name}.forward", layer.forward)
        layer.backward = timed(f"{name}.backward", layer.backward)
    model.loss_fn = timed("loss", model.loss_fn)
    for _ in range(10):
        model.train_step(batch)
    spent.clear()
    start = now()
    for _ in range(steps):
        model.train_step(batch)
    total = now() - start
    rows = sorted(((k, v / steps * 1e3) for k, v in spent.items()), key=lambda r: -r[1])
    return [
        ("step (total)", total / steps * 1e3),
        *rows,
        ("other (optimizer, glue)", (total - sum(spent.values())) / steps * 1e3),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="image,sequence")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: CPU time per step (busy machines)")
    p.add_argument("--profile", action="store_true", help="NumPy step split per layer instead")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {args.threads} threads, {args.dtype}, {args.clock} clock")
    for task in args.tasks.split(","):
        if args.profile:
            for key, ms in profile(task, args.threads, args.dtype, clock=args.clock):
                print(f"{task:12s} {key:34s} {ms:8.3f} ms")
        else:
            r = ratio(task, args.threads, args.rounds, args.dtype, args.clock)
            print(
                f"{task:12s} numpy {r['numpy_ms']:.3f} ms  torch {r['torch_ms']:.3f} ms  "
                f"numpy/torch {r['ratio']:.2f} (rounds {r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
