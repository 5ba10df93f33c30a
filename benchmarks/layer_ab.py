#!/usr/bin/env python3
"""One NumPy recurrent layer from two versions of its source file, forward and backward,
alternating round by round in one process (CPU clock, one BLAS thread).

    git show faf3197:backends/numpy/layers/gru.py > /tmp/gru_before.py
    .venv/bin/python benchmarks/layer_ab.py gru /tmp/gru_before.py backends/numpy/layers/gru.py

Cases (the shapes of the ``sequence`` task): lstm, lstm_sequences, gru, gru_reset_before, on
(32, 16, 16) -> 64 units. Prints each side's median ms and the median of the per-round B/A.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
from netparity.backends import get_backend  # noqa: E402
from netparity.spec import layers as L  # noqa: E402
from step_ratio import cpu_ms  # noqa: E402  (benchmarks/ is this script's folder)

CASES = {
    "lstm": L.LSTM(64),
    "lstm_sequences": L.LSTM(64, return_sequences=True),
    "gru": L.GRU(64),
    "gru_reset_before": L.GRU(64, reset_after=False),
}


def load_class(path: str, tag: str, name: str) -> type:
    """The layer class ``name`` from the file at ``path``, without registering it."""
    import netparity.backends.numpy.layers as package

    register = package.register
    package.register = lambda spec_class: lambda cls: cls
    try:
        spec = importlib.util.spec_from_file_location(f"layer_ab_{tag}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        package.register = register
    return getattr(module, name)


LAYER_BUDGET_S = 0.25  # CPU seconds of repeats per measurement (step_ratio.cpu_ms)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("file_a")
    p.add_argument("file_b")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    from netparity.spec.init import init_params
    from netparity.spec.model import ModelSpec

    get_backend("numpy").set_threads(1)
    layer, in_shape = CASES[args.case], (16, 16)
    info = ModelSpec(in_shape, (layer,)).infer()[0]
    params = {k.split(".")[-1]: v.astype(args.dtype) for k, v in init_params(ModelSpec(in_shape, (layer,)), 0).items()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, *in_shape)).astype(args.dtype)
    dy = rng.normal(size=(32, *info.out_shape)).astype(args.dtype)
    name = type(layer).__name__
    models = {
        tag: load_class(path, tag, name)(
            layer, in_shape, {k: v.copy() for k, v in params.items()}, np.dtype(args.dtype)
        )
        for tag, path in (("A", args.file_a), ("B", args.file_b))
    }
    ms: dict[str, dict[str, list[float]]] = {tag: {"forward": [], "backward": []} for tag in models}
    for _ in range(args.rounds):
        for tag, model in models.items():
            ms[tag]["forward"].append(cpu_ms(lambda model=model: model.forward(x, True), LAYER_BUDGET_S))
            model.forward(x, True)
            ms[tag]["backward"].append(cpu_ms(lambda model=model: model.backward(dy), LAYER_BUDGET_S))
    for part in ("forward", "backward", "both"):
        a, b = ({k: np.array(v) for k, v in ms[tag].items()} for tag in "AB")
        ra, rb = (d["forward"] + d["backward"] if part == "both" else d[part] for d in (a, b))
        ratio = rb / ra
        print(
            f"{args.case} {args.dtype} {part:8s} A {np.median(ra):.3f} ms  B {np.median(rb):.3f} ms  "
            f"B/A {np.median(ratio):.3f} (rounds {ratio.min():.3f}-{ratio.max():.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
