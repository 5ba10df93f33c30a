"""Export a spec with its weights as a ``torch.export`` program (``torch_model.pt2``).

The program is the torch backend's own nn.Sequential in inference mode, traced by
torch.export: ``torch.export.load(path).module()`` runs it with no netparity (or user) class
importable. It takes torch's layout: NCHW images, (batch, T, features) sequences; the batch
axis is dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from netparity.backends.torch.layout import NCHW
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

ARTIFACT = "torch_model.pt2"


def save(spec: ModelSpec, params: dict[str, np.ndarray], directory: Path, dtype: str = "float32") -> Path:
    from netparity.backends.torch.model import TorchModel

    net = TorchModel(spec, params, Recipe(), dtype, "cpu").net.eval()
    shape = spec.input_shape
    native_shape = (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape
    if spec.integer_inputs:
        example = torch.zeros((2, *native_shape), dtype=torch.int64)
    else:
        example = torch.zeros((2, *native_shape), dtype=getattr(torch, dtype))
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings():
        # nn.LSTM re-packs its weights into _flat_weights during tracing and torch warns about the
        # attribute; the program still reads the registered parameters (checked on every reload)
        warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    path = Path(directory) / ARTIFACT
    torch.export.save(program, str(path))
    return path


def predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Load the program (torch only) and run it on canonical ``x``; canonical outputs."""
    module = torch.export.load(str(path)).module()
    x = np.asarray(x)
    placeholder = next(n for n in module.graph.nodes if n.op == "placeholder")
    dtype = placeholder.meta["val"].dtype if "val" in placeholder.meta else torch.float32
    xt = torch.as_tensor(NCHW.to_native(x) if x.ndim == 4 else x, dtype=dtype)
    with torch.no_grad():
        out = module(xt).numpy()
    return NCHW.from_native(out) if out.ndim == 4 else out
