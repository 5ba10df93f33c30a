"""Campaign throughput: small random float64 specs compared per minute on every backend.

Engines compared (the same specs, drawn by harness/fuzz.py from --fuzz-seed):
  isolated   today's default: a fresh process per backend per spec (harness/isolate.py)
  pool       persistent workers, one per backend, --parallel comparisons in flight (harness/pool.py)
  local-ray  one Ray actor per backend on a Ray instance started here (harness/cluster.py)

    python benchmarks/campaign_throughput.py --specs 20 --modes pool
    python benchmarks/campaign_throughput.py --specs 4 --modes isolated
    python benchmarks/campaign_throughput.py --specs 200 --modes pool      # the 200-spec campaign

Prints specs/min with and without the engine's start-up (framework imports), the machine's
cores and load average (the figures depend on what else runs), and the verdict counts.
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from netparity.backends import BACKENDS, installed_reason
from netparity.harness.campaign import in_flight, run_case
from netparity.harness.fuzz import draw_cases, judge
from netparity.harness.run import RunConfig


def engine(mode: str, timeout_s: float | None):
    if mode == "isolated":
        from netparity.harness.campaign import Isolated

        return Isolated()
    if mode == "pool":
        from netparity.harness.pool import WorkerPool

        return WorkerPool(timeout_s=timeout_s)
    if mode == "local-ray":
        from netparity.harness.cluster import RayEngine

        return RayEngine("local-ray", timeout_s=timeout_s)
    raise SystemExit(f"unknown mode {mode!r} (known: isolated, pool, local-ray)")


def measure(mode: str, args: argparse.Namespace, backends: list[str]) -> dict:
    cases = draw_cases(args.specs, args.fuzz_seed)
    config = RunConfig(threads=args.threads)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    eng = engine(mode, args.timeout)
    if hasattr(eng, "start"):  # start the workers (the imports) before the clock for steady state
        eng.start(backends, RunConfig(threads=args.threads))
    try:
        verdicts: dict[str, int] = {}
        first = [None]

        def one(case):
            result = run_case(case, backends, eng, config)
            if first[0] is None:
                first[0] = time.perf_counter()
            for b in backends[1:]:
                v = judge(result, b).verdict
                verdicts[v] = verdicts.get(v, 0) + 1
            return result

        in_flight(cases, one, 1 if mode == "isolated" else args.parallel)
        total = time.perf_counter() - t0
    finally:
        eng.close()  # joins the workers: their CPU time is counted from here on
    cpu = cpu_seconds() - cpu0
    steady = total - (first[0] - t0) if first[0] and len(cases) > 1 else total
    return {
        "mode": mode,
        "specs": len(cases),
        "seconds": total,
        "specs_per_min": 60 * len(cases) / total,
        "steady_specs_per_min": 60 * (len(cases) - 1) / steady if len(cases) > 1 else float("nan"),
        "cpu_s_per_spec": cpu / len(cases),
        "verdicts": verdicts,
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--specs", type=int, default=20)
    p.add_argument("--modes", default="pool,isolated")
    p.add_argument("--parallel", type=int, default=2, help="comparisons in flight (pool, local-ray)")
    p.add_argument("--threads", type=int, default=1, help="compute threads per backend")
    p.add_argument("--fuzz-seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="per-backend time-out (s)")
    args = p.parse_args()
    backends = [b for b in BACKENDS if installed_reason(b) is None]
    load = os.getloadavg()
    print(
        f"cores {os.cpu_count()} | load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} | backends {', '.join(backends)}"
    )
    print(
        f"{args.specs} random float64 specs (--fuzz-seed {args.fuzz_seed}), threads {args.threads}, parallel {args.parallel}"
    )
    for mode in args.modes.split(","):
        r = measure(mode.strip(), args, backends)
        print(
            f"{r['mode']:<10} {r['specs']:>4} specs in {r['seconds']:7.1f} s: {r['specs_per_min']:6.1f} specs/min "
            f"(after the first: {r['steady_specs_per_min']:.1f}/min) | "
            f"{r['cpu_s_per_spec']:.2f} CPU-s/spec, i.e. {120 / r['cpu_s_per_spec']:.0f} specs/min on 2 idle cores | verdicts {r['verdicts']}",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average afterwards {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
