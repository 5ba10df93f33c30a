"""Framework-free pieces of model import and export that every backend's importer.py and
export.py share: the refusal error and what an importer hands back."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from netparity.spec.errors import SpecError
from netparity.spec.layers import BatchNorm, Conv1D, Conv2D, Dense, Layer
from netparity.spec.model import ModelSpec

#: how a model's inputs are laid out (what an importer reports, what an exported artifact takes)
INPUT_LAYOUTS = ("NCHW", "NHWC", "NCW", "features", "sequence", "tokens")  # NCW: torch Conv1d's (C, L)


class ImportRefused(SpecError):
    """A construct with no exact canonical counterpart; the message names it and says why."""


@dataclass
class Imported:
    """A converted model: its spec, canonical parameters and state (float64), the layout the
    original model takes its inputs in, and where it came from (a class or model name)."""

    spec: ModelSpec
    params: dict[str, np.ndarray]
    input_layout: str
    source: str


def fold_bias_into_batch_norm(steps: list[tuple[Layer, dict[str, np.ndarray]]]) -> list[tuple[Layer, dict]]:
    """A Dense/Conv1D/Conv2D bias b right before a BatchNorm is dropped into its moving mean (mean - b).

    BatchNorm subtracts the batch mean, which absorbs b exactly: the output never depends on b,
    so its gradient is exactly zero and any value a backend computes for it is rounding noise
    (relative differences near 1 between backends). Without b, the moving mean is the old one
    minus b and keeps tracking the same statistic, so inference and training are unchanged.
    """
    out = list(steps)
    for i in range(len(out) - 1):
        (layer, params), (nxt, nxt_params) = out[i], out[i + 1]
        if isinstance(layer, (Dense, Conv1D, Conv2D)) and layer.use_bias and isinstance(nxt, BatchNorm):
            if layer.activation not in (None, "identity"):
                continue
            bias = params["bias"]
            out[i] = (replace(layer, use_bias=False), {k: v for k, v in params.items() if k != "bias"})
            out[i + 1] = (nxt, {**nxt_params, "moving_mean": nxt_params["moving_mean"] - bias})
    return out
