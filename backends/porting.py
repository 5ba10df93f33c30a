"""Framework-free pieces of model import and export that every backend's importer.py and
export.py share: the refusal error and what an importer hands back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from netparity.spec.errors import SpecError
from netparity.spec.model import ModelSpec

#: how a model's inputs are laid out (what an importer reports, what an exported artifact takes)
INPUT_LAYOUTS = ("NCHW", "NHWC", "features", "sequence", "tokens")


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
