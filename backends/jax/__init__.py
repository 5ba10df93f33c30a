"""JAX backend: pure functions over canonical-layout parameter pytrees, gradients from
jax.grad, jax.jit-compiled steps, optax optimizers and losses."""

from __future__ import annotations

import os

import numpy as np
from netparity.backends.base import BackendUnavailable, check_dtype, check_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

#: XLA's CPU client has no thread-count setting, but these two flags make it compute on one thread
ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def xla_started() -> bool:
    """Whether XLA's backends are up (its thread pools are then fixed)."""
    from jax._src import xla_bridge

    return bool(getattr(xla_bridge, "_backends", None))


def enable_float64(dtype: str) -> None:
    """float64 needs jax_enable_x64: without it JAX silently makes every float64 array float32
    (docs/semantics.md, Keras engines and JAX). The switch is process-wide and stays on; float32 models keep
    float32 because every array they make has an explicit dtype."""
    import jax

    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)


def prepare_process(dtype: str, device: str) -> None:
    """JAX set up for a run, by the jax backend and Keras on JAX alike: the GPU the device
    names must exist, float64 switched on where asked, TF32 off (comparisons need full float32)."""
    import jax

    if device.startswith("cuda"):
        try:
            jax.devices("gpu")
        except RuntimeError as err:
            raise BackendUnavailable(f"--device {device}: JAX sees no GPU ({err})") from None
    enable_float64(dtype)
    BACKEND.allow_tf32(False)


class JaxBackend:
    name = "jax"
    requires: tuple[str, ...] = ("jax", "optax")  # its packages, looked up without importing them

    def unavailable(self) -> str | None:
        try:
            import jax  # noqa: F401
            import optax  # noqa: F401
        except Exception as err:
            return f"JAX/optax is not installed or failed to import ({type(err).__name__}: {err})"
        return None

    def set_threads(self, n: int) -> str:
        if xla_started():
            return "XLA already initialized; threads left at its default"
        if n == 1:
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {ONE_THREAD_FLAGS}".strip()
            return f"XLA_FLAGS={ONE_THREAD_FLAGS}"
        return f"XLA default threads (one per core; XLA has no setting for {n})"

    def allow_tf32(self, enabled: bool) -> str:
        """JAX's default float32 matmul precision on GPUs is TF32; comparisons use 'highest'."""
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if enabled else "highest")
        return f"tf32={'on' if enabled else 'off'}"

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        from netparity.backends.jax.model import JaxModel

        check_dtype(dtype)
        check_params(spec, params)
        prepare_process(dtype, device)
        return JaxModel(spec, params, recipe, dtype, device)


BACKEND = JaxBackend()
