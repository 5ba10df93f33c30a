"""Hand-written NumPy backend: own forward and backward for every layer, own optimizers."""

from __future__ import annotations

import numpy as np
from netparity.backends.base import check_dtype, check_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe


class NumpyBackend:
    name = "numpy"
    requires: tuple[str, ...] = ()  # its packages, looked up without importing them

    def unavailable(self) -> str | None:
        return None

    def set_threads(self, n: int) -> str:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(limits=n)  # global: lasts for the process
        libs = sorted({f"{i['internal_api']}" for i in threadpool_info()})
        return f"BLAS threads={n} ({', '.join(libs) or 'no BLAS pool found'})"

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        from netparity.backends.numpy.model import NumpyModel

        check_dtype(dtype)
        check_params(spec, params)
        model = NumpyModel(spec, params, recipe, dtype)
        if device != "cpu":  # the reference stays on the CPU: GPU backends are compared with it
            model.implementation["device"] = f"cpu (NumPy has no {device} device)"
        return model

    def allow_tf32(self, enabled: bool) -> str:
        return "tf32 n/a (CPU)"


BACKEND = NumpyBackend()
