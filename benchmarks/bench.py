#!/usr/bin/env python3
"""netparity benchmarks: the speed targets, measured side by side in one run.

    .venv/bin/python benchmarks/bench.py                 # every task, all installed backends
    .venv/bin/python benchmarks/bench.py --tasks regression --quick

(a) adapter train step vs an idiomatic hand-written loop of the same framework on the same
    model (target: <= 1.10x); (b) NumPy vs PyTorch CPU on the same thread count (target for
    the MLP: <= 1.5x; image and sequence: <= 1.0x, one thread, CPU clock, step_ratio.py);
    (c) dense layer width x batch sweep, achieved GFLOP/s against this machine's measured
    GEMM peak (target for large layers: >= 70%); (d) the training loop's own overhead beyond
    the backends' train_step calls (target: <= 2%; the whole run's share reported beside); (e) `compare.py --task regression` end
    to end, imports included (target: <= 8 s with timing, <= 5 s with --no-timing, on two
    cores; CPU seconds reported beside, being load-proof).

Every (task, backend) measurement runs in its own fresh process with the same thread count.
Writes CSVs, one PNG per sweep and targets.md into benchmarks/results/<timestamp>/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from netparity.backends import BACKENDS, get_backend, unavailable_reason  # noqa: E402
from netparity.harness.isolate import in_fresh_process  # noqa: E402
from netparity.harness.report import atomic_write  # noqa: E402
from netparity.harness.timing import repeat  # noqa: E402

TARGETS = {
    "adapter_overhead": 1.10,
    "numpy_vs_torch_mlp": 1.5,
    "numpy_vs_torch_conv_lstm": 1.0,  # image and sequence (issue 18)
    "dense_share_of_peak": 0.70,
    "harness_overhead": 0.02,
    "compare_end_to_end_s": 8.0,
    "compare_no_timing_s": 5.0,
}


def interleaved(fns: dict[str, object], rounds: int, budget_s: float) -> dict[str, float]:
    """Median ms of each callable, measured in alternating rounds so that drift in the
    machine's speed (other processes, frequency) hits all of them alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up: tracing, allocator, caches
        for _ in range(5):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(repeat(name, fn, warmup=1, min_repeats=5, budget_s=budget_s).median_ms)
    return {k: float(np.median(v)) for k, v in samples.items()}


# ---------------------------------------------------------------- (a) + (b), per process


def measure_step(task_name: str, backend_name: str, threads: int, rounds: int) -> dict:
    """Adapter train step and, where the framework has one, its plain loop (child process)."""
    from netparity.spec.data import batch_plan
    from netparity.spec.flops import train_flops
    from netparity.spec.init import init_params
    from netparity.spec.tasks import get_task
    from plain_loops import PLAIN_STEPS

    backend = get_backend(backend_name)
    backend.set_threads(threads)
    task = get_task(task_name).build(0)
    params = init_params(task.model, 0)
    idx = batch_plan(len(task.data.x_train), task.recipe.batch_size, task.recipe.shuffle_seed, 0)[0]
    fns = {}
    model = backend.build(task.model, params, task.recipe, dtype="float32", device="cpu")
    batch = model.stage(task.data.x_train[idx], task.data.y_train[idx])
    fns["adapter"] = lambda: model.train_step(batch)
    if backend_name in PLAIN_STEPS:
        # a second model, so the two loops do not share optimizer state or traced functions
        plain_model = backend.build(task.model, params, task.recipe, dtype="float32", device="cpu")
        fns["plain"] = PLAIN_STEPS[backend_name](
            plain_model, plain_model.stage(task.data.x_train[idx], task.data.y_train[idx])
        )
    ms = interleaved(fns, rounds, budget_s=0.3)
    flops = train_flops(task.model, len(idx))
    return {
        "task": task_name,
        "backend": backend_name,
        "threads": threads,
        "batch": len(idx),
        "adapter_ms": ms["adapter"],
        "plain_ms": ms.get("plain", float("nan")),
        "overhead_ratio": ms["adapter"] / ms["plain"] if "plain" in ms else float("nan"),
        "adapter_gflops": flops / (ms["adapter"] * 1e6),
    }


# ---------------------------------------------------------------- (c) dense sweep


def dense_sweep(widths: list[int], batches: list[int], threads: int) -> tuple[pd.DataFrame, float]:
    """Dense(w -> w) forward + backward + SGD update in NumPy (our layer) and PyTorch, float32."""
    import torch
    from netparity.backends.numpy.layers import build_layer
    from netparity.spec.layers import Dense
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)

    peak = 0.0  # the machine's GEMM peak: best square sgemm of either library
    for n in (1024, 2048):
        a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        for fn in (lambda a=a, b=b: a @ b, lambda ta=ta, tb=tb: ta @ tb):
            t = repeat("gemm", fn, warmup=2, min_repeats=5, budget_s=1.0)
            peak = max(peak, 2 * n**3 / (t.median_ms * 1e6))

    rows = []
    for w in widths:
        for bsz in batches:
            x = rng.standard_normal((bsz, w), dtype=np.float32)
            dy = rng.standard_normal((bsz, w), dtype=np.float32)
            kernel = (rng.standard_normal((w, w)) / np.sqrt(w)).astype(np.float32)
            layer = build_layer(Dense(w), (w,), {"kernel": kernel.copy(), "bias": np.zeros(w, np.float32)}, np.float32)

            def np_step(layer=layer, x=x, dy=dy) -> None:
                layer.forward(x, True)
                layer.backward(dy)
                for k, p in layer.params.items():
                    p -= 1e-3 * layer.grads[k]

            lin = torch.nn.Linear(w, w)
            opt = torch.optim.SGD(lin.parameters(), lr=1e-3)
            tx = torch.from_numpy(x).requires_grad_(True)
            tdy = torch.from_numpy(dy)

            def torch_step(lin=lin, opt=opt, tx=tx, tdy=tdy) -> None:
                opt.zero_grad(set_to_none=True)
                lin(tx).backward(tdy)
                opt.step()

            flops = 3 * 2 * bsz * w * w  # forward, input gradient, weight gradient
            for name, fn in (("numpy", np_step), ("torch", torch_step)):
                t = repeat(name, fn, warmup=3, min_repeats=10, budget_s=0.4)
                gflops = flops / (t.median_ms * 1e6)
                rows.append(
                    {
                        "backend": name,
                        "width": w,
                        "batch": bsz,
                        "median_ms": t.median_ms,
                        "gflops": gflops,
                        "share_of_peak": gflops / peak,
                    }
                )
    return pd.DataFrame(rows), peak


# ---------------------------------------------------------------- (d) harness overhead


def harness_overhead(task_name: str, threads: int) -> list[dict]:
    """The harness's own share of time, two ways, for every installed backend:

    - ``loop``: the training loop (harness.run.train_epochs) less the staging of each epoch's
      batches before it runs: its time minus the time inside the backend's ``train_step``
      calls, over its time, in CPU seconds (``harness_share``; load-proof) and wall seconds
      (``harness_share_wall``). This is the target (<= 2%): the per-step bookkeeping.
      Conservative: the timer calls count as harness.
    - ``run``: all of harness.run plus writing the CSVs, against the time spent inside any
      backend call (build, stage, forward, train_step, ...): batching, dropout masks,
      diffs, metrics and reporting, all once per run (reported, no target).
    """
    import netparity.harness.run as hr
    from netparity.harness.report import frames

    inside = [0.0]

    class Timed:
        """Proxy adding the time of every call into a backend object to ``inside``."""

        def __init__(self, obj: object) -> None:
            self._obj = obj

        def __getattr__(self, name: str):
            attr = getattr(self._obj, name)
            if not callable(attr):
                return attr

            def call(*args, **kwargs):
                start = time.perf_counter()
                try:
                    out = attr(*args, **kwargs)
                finally:
                    inside[0] += time.perf_counter() - start
                return Timed(out) if name == "build" else out

            return call

    loops: dict[str, dict[str, float]] = {}  # backend -> loop and train_step, wall and CPU seconds
    real_train_epochs = hr.train_epochs

    def timed_train_epochs(model, result, recipe, batches_of, progress=None) -> None:
        raw = model._obj  # the backend's model itself, without the proxy's per-call cost
        inner = {"wall": 0.0, "cpu": 0.0}
        wall, cpu = time.perf_counter, time.process_time

        class Stepper:
            """The model, its train_step timed; every other attribute (schedule hooks) its own."""

            def __getattr__(self, name: str):
                return getattr(raw, name)

            def train_step(self, batch):
                start_wall, start_cpu = wall(), cpu()
                loss = raw.train_step(batch)
                inner["cpu"] += cpu() - start_cpu
                inner["wall"] += wall() - start_wall
                return loss

        staging = {"wall": 0.0, "cpu": 0.0}

        def timed_batches_of(epoch: int):
            """An epoch's batches, staged (converted, Dropout masks drawn) before its steps: kept
            out of the per-step figure."""
            start_wall, start_cpu = wall(), cpu()
            batches = batches_of(epoch)
            staging["cpu"] += cpu() - start_cpu
            staging["wall"] += wall() - start_wall
            return batches

        start_wall, start_cpu = wall(), cpu()
        real_train_epochs(Stepper(), result, recipe, timed_batches_of, progress)
        loop_cpu, loop_wall = cpu() - start_cpu - staging["cpu"], wall() - start_wall - staging["wall"]
        inside[0] += inner["wall"]  # the whole-run figure counts train_step as backend time too
        loops[result.backend] = {
            "wall_s": loop_wall,
            "backend_s": inner["wall"],
            "cpu_s": loop_cpu,
            "backend_cpu_s": inner["cpu"],
            "staging_s": staging["wall"],
        }

    real_get = hr.get_backend
    hr.get_backend = lambda name: Timed(real_get(name))
    hr.train_epochs = timed_train_epochs
    from netparity.spec.tasks import get_task

    task = get_task(task_name).build(0)
    backends = [b for b in BACKENDS if unavailable_reason(b) is None]
    for b in backends:  # imports are not the harness's doing
        real_get(b).set_threads(threads)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = hr.run(task, backends, dtype="float32", timing=False)
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in frames(result).items():
            atomic_write(Path(tmp) / f"{name}.csv", frame.to_csv(index=False))
    wall = time.perf_counter() - start
    rows = [
        {
            "task": task_name,
            "scope": "loop",
            "backend": b,
            **t,
            # CPU time: on a shared machine, waiting for a core lands on whichever side was running
            "harness_share": (t["cpu_s"] - t["backend_cpu_s"]) / t["cpu_s"],
            "harness_share_wall": (t["wall_s"] - t["backend_s"]) / t["wall_s"],
        }
        for b, t in loops.items()
    ]
    rows.append(
        {
            "task": task_name,
            "scope": "run",
            "backend": "all",
            "wall_s": wall,
            "backend_s": inside[0],
            "harness_share": (wall - inside[0]) / wall,
            "harness_share_wall": (wall - inside[0]) / wall,
        }
    )
    for r in rows:
        r["load"] = load
    return rows


def loop_overhead_ab(task_name: str, backend_name: str = "numpy", rounds: int = 9, threads: int = 1) -> dict:
    """The training loop's bookkeeping without per-step timers: CPU time of
    harness.run.train_epochs against a bare ``for batch: model.train_step(batch)`` over the
    same steps, alternating, median of the per-round shares. NumPy has the shortest steps,
    so the bookkeeping weighs most there."""
    import netparity.harness.run as hr
    from netparity.spec.data import batch_plan
    from netparity.spec.init import init_params
    from netparity.spec.tasks import get_task

    backend = get_backend(backend_name)
    backend.set_threads(threads)
    task = get_task(task_name).build(0)
    model = backend.build(task.model, init_params(task.model, 0), task.recipe, dtype="float32", device="cpu")
    plan = batch_plan(len(task.data.x_train), task.recipe.batch_size, task.recipe.shuffle_seed, 0)
    batches = [model.stage(task.data.x_train[i], task.data.y_train[i]) for i in plan]
    epochs = max(1, task.recipe.epochs)

    def harness_loop() -> None:
        hr.train_epochs(model, hr.BackendResult(backend_name), task.recipe, lambda epoch: batches, None)

    def bare_loop() -> None:
        for _ in range(epochs):
            for batch in batches:
                model.train_step(batch)

    start = time.process_time()
    bare_loop()  # warm-up, and how many runs make a sample of at least 0.2 CPU seconds
    runs = max(1, int(np.ceil(0.2 / max(time.process_time() - start, 1e-6))))
    shares = []
    for _ in range(rounds):
        cpu = {}
        for name, fn in (("harness", harness_loop), ("bare", bare_loop)):
            start = time.process_time()
            for _ in range(runs):
                fn()
            cpu[name] = time.process_time() - start
        shares.append((cpu["harness"] - cpu["bare"]) / cpu["harness"])
    return {
        "task": task_name,
        "scope": "loop A/B",
        "backend": backend_name,
        "steps": epochs * len(batches) * runs,
        "harness_share": float(np.median(shares)),
        "load": os.getloadavg()[0],
    }


# ---------------------------------------------------------------- (e) end to end


def compare_end_to_end(no_timing: bool = False) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of every process it started) of
    `compare.py --task regression`; CPU time hardly moves with the machine's load."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "compare.py"), "--task", "regression", "--out", str(Path(tmp) / "r")]
            + (["--no-timing"] if no_timing else []),
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def conv_lstm_ratios(tasks: list[str], rounds: int) -> list[dict]:
    """NumPy/torch train step of the conv and LSTM tasks, one process, one thread, CPU clock
    (step_ratio.py): interleaved rounds, so a busy machine cannot favour either side."""
    from step_ratio import ratio

    return [{"task": t, **ratio(t, 1, rounds, "float32", clock="cpu")} for t in tasks]


# ---------------------------------------------------------------- plots and verdicts


def plot(steps: pd.DataFrame, sweep: pd.DataFrame, peak: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    framed = steps.dropna(subset=["overhead_ratio"])
    if not framed.empty:
        fig, ax = plt.subplots(figsize=(8, 4))
        pivot = framed.pivot(index="task", columns="backend", values="overhead_ratio")
        pivot.plot.bar(ax=ax)
        ax.axhline(TARGETS["adapter_overhead"], color="red", ls="--", label="target 1.10x")
        ax.set_ylabel("adapter step / plain loop")
        ax.set_title("(a) adapter overhead")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "adapter_overhead.png", dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    pivot = steps.pivot(index="task", columns="backend", values="adapter_ms")
    pivot.plot.bar(ax=ax, logy=True)
    ax.set_ylabel("train step, ms (log)")
    ax.set_title("(b) train step per backend, same thread count")
    fig.tight_layout()
    fig.savefig(out / "step_times.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    for (backend, bsz), group in sweep.groupby(["backend", "batch"]):
        ax.plot(
            group.width,
            group.share_of_peak * 100,
            marker="o",
            ls="-" if backend == "numpy" else "--",
            label=f"{backend}, batch {bsz}",
        )
    ax.axhline(TARGETS["dense_share_of_peak"] * 100, color="red", ls=":", label="target 70%")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width (Dense w -> w)")
    ax.set_ylabel(f"% of GEMM peak ({peak:.0f} GFLOP/s)")
    ax.set_title("(c) dense layer train step vs GEMM peak")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "dense_sweep.png", dpi=110)
    plt.close(fig)


def verdicts(
    steps: pd.DataFrame,
    sweep: pd.DataFrame,
    overhead: pd.DataFrame,
    e2e: dict[str, tuple[float, float]],
    conv_lstm: list[dict],
) -> pd.DataFrame:
    rows = []
    for r in steps.dropna(subset=["overhead_ratio"]).itertuples():
        rows.append(("(a) adapter/plain", f"{r.task}/{r.backend}", r.overhead_ratio, "<=", TARGETS["adapter_overhead"]))
    both = steps.pivot(index="task", columns="backend", values="adapter_ms")
    if {"numpy", "torch"} <= set(both.columns):
        for task, r in both.iterrows():
            rows.append(
                (
                    "(b) numpy/torch step",
                    task,
                    r["numpy"] / r["torch"],
                    "<=",
                    TARGETS["numpy_vs_torch_mlp"] if task in ("regression", "classification") else float("nan"),
                )
            )
    for r in conv_lstm:
        rows.append(
            (
                "(b) numpy/torch step, 1 thread, CPU clock",
                r["task"],
                r["ratio"],
                "<=",
                TARGETS["numpy_vs_torch_conv_lstm"],
            )
        )
    biggest = sweep[sweep.width == sweep.width.max()]
    for r in biggest[biggest.batch == biggest.batch.max()].itertuples():
        rows.append(
            (
                "(c) share of GEMM peak",
                f"{r.backend} w={r.width} b={r.batch}",
                r.share_of_peak,
                ">=",
                TARGETS["dense_share_of_peak"],
            )
        )
    for r in overhead.itertuples():
        loop = r.scope != "run"
        rows.append(
            (
                {
                    "loop": "(d) training loop overhead, per-step timers (upper bound)",
                    "loop A/B": "(d) training loop overhead, vs a bare loop",
                    "run": "(d) harness share of the whole run",
                }[r.scope],
                f"{r.task}/{r.backend}",
                r.harness_share,
                "<=",
                TARGETS["harness_overhead"] if loop else float("nan"),
            )
        )
    for mode, goal in (("timing", TARGETS["compare_end_to_end_s"]), ("no-timing", TARGETS["compare_no_timing_s"])):
        wall, cpu = e2e[mode]
        rows.append((f"(e) compare.py regression, {mode}, wall s", "end to end", wall, "<=", goal))
        rows.append((f"(e) compare.py regression, {mode}, CPU s", "user + sys", cpu, "<=", float("nan")))
    frame = pd.DataFrame(rows, columns=["target", "case", "measured", "op", "goal"])
    frame["met"] = [
        "" if np.isnan(g) else ("yes" if (m <= g if op == "<=" else m >= g) else "NO")
        for m, op, g in zip(frame.measured, frame.op, frame.goal, strict=True)
    ]
    return frame


def main() -> int:
    from netparity.spec.tasks import TASKS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(sorted(TASKS)), help="comma-separated tasks")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds per step")
    p.add_argument("--quick", action="store_true", help="smaller sweep and fewer rounds")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        print(
            f"bench.py: error: unknown task(s) {', '.join(unknown)} (known: {', '.join(sorted(TASKS))})",
            file=sys.stderr,
        )
        return 2
    rounds = 2 if args.quick else args.rounds
    out = Path(args.out or ROOT / "benchmarks" / "results" / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    backends = [b for b in BACKENDS if unavailable_reason(b) is None]

    rows = []
    for task in tasks:
        for backend in backends:
            print(f"(a,b) {task} / {backend} ...", flush=True)
            try:
                rows.append(in_fresh_process(measure_step, task, backend, args.threads, rounds))
            except Exception as err:  # one failure must not lose the rest of the benchmark
                print(f"  failed: {type(err).__name__}: {err}", file=sys.stderr)
    steps = pd.DataFrame(rows)
    atomic_write(out / "steps.csv", steps.to_csv(index=False))

    print("(c) dense sweep ...", flush=True)
    widths = [128, 512, 2048] if args.quick else [128, 256, 512, 1024, 2048]
    batches = [32, 1024] if args.quick else [32, 256, 1024]
    sweep, peak = in_fresh_process(dense_sweep, widths, batches, args.threads)
    atomic_write(out / "dense_sweep.csv", sweep.to_csv(index=False))

    print("(d) harness overhead ...", flush=True)
    overhead = pd.DataFrame(
        [row for t in tasks for row in in_fresh_process(harness_overhead, t, args.threads)]
        + [in_fresh_process(loop_overhead_ab, t) for t in tasks]
    )
    atomic_write(out / "harness_overhead.csv", overhead.to_csv(index=False))

    print("(b) numpy/torch, conv and LSTM, CPU clock ...", flush=True)
    conv_lstm = in_fresh_process(conv_lstm_ratios, [t for t in tasks if t in ("image", "sequence")], rounds)

    print("(e) compare.py --task regression end to end ...", flush=True)
    e2e = {"timing": compare_end_to_end(), "no-timing": compare_end_to_end(no_timing=True)}

    plot(steps, sweep, peak, out)
    table = verdicts(steps, sweep, overhead, e2e, conv_lstm)
    atomic_write(out / "targets.csv", table.to_csv(index=False))
    md = [
        f"# netparity benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {args.threads} threads, "
        f"{os.cpu_count()} cores, GEMM peak {peak:.1f} GFLOP/s, load average {os.getloadavg()[0]:.1f})",
        "",
        table.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else table.to_string(index=False),
        "",
        "![adapter overhead](adapter_overhead.png) ![step times](step_times.png) ![dense sweep](dense_sweep.png)",
    ]
    atomic_write(out / "targets.md", "\n".join(md) + "\n")
    print(table.to_string(index=False))
    print(f"results: {out}")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
