"""PyTorch backend: nn.Sequential of native modules, native losses, torch.optim."""

from __future__ import annotations

import numpy as np
from netparity.backends.base import BackendUnavailable, Batch, ExtraTiming, check_dtype, check_params
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe


class TorchBackend:
    name = "torch"
    requires: tuple[str, ...] = ("torch",)  # its packages, looked up without importing them

    def unavailable(self) -> str | None:
        try:
            # The first torch.optim optimizer imports torch._dynamo (~1 s): pay it here, with
            # the import, so that the 'build' timing measures building the model.
            import torch._dynamo  # noqa: F401
        except Exception as err:  # ImportError, or a broken install raising anything else
            return f"PyTorch is not installed or failed to import ({type(err).__name__}: {err})"
        return None

    def set_threads(self, n: int) -> str:
        import torch

        torch.set_num_threads(n)
        return f"torch.set_num_threads({n})"

    def allow_tf32(self, enabled: bool) -> str:
        """TF32 matmuls/convolutions on Ampere+ GPUs (10-bit mantissa: ~1e-3 relative)."""
        import torch

        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled  # on by default in torch: off unless asked
        return f"tf32={'on' if enabled else 'off'}"

    def build(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, *, dtype: str, device: str = "cpu"):
        import torch
        from netparity.backends.torch.model import TorchModel

        check_dtype(dtype)
        check_params(spec, params)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"--device {device}: torch.cuda.is_available() is False (CPU build or no GPU)")
        self.allow_tf32(False)  # comparisons need full float32; timing runs may turn it on
        return TorchModel(spec, params, recipe, dtype, device)

    def extra_timings(self, model, batch: Batch, device: str) -> list[ExtraTiming]:
        """On a GPU, the whole train step captured as one CUDA graph: small steps are
        launch-bound, and a replayed graph is their idiomatic fast form (timing only)."""
        if not device.startswith("cuda"):
            return []
        from netparity.backends.torch.cuda_graph import capture_train_step

        return [ExtraTiming("train_step_cuda_graph", "cuda_graph_capture", lambda: capture_train_step(model, batch))]


BACKEND = TorchBackend()
