"""--device cuda: GPU tests skip cleanly without a GPU; on a CPU-only machine a GPU request
skips the framework backends with the reason and keeps the NumPy reference on the CPU."""

from __future__ import annotations

import pytest
from netparity.harness.run import run, with_overrides
from netparity.spec.init import init_params
from netparity.spec.tasks import get_task

from netparity.testing import assert_close, backend_params, require


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


gpu = pytest.mark.skipif(not _cuda_available(), reason="no CUDA device (torch.cuda.is_available() is False)")


@pytest.mark.torch
def test_cuda_request_without_gpu_is_a_clean_skip() -> None:
    require("torch")
    if _cuda_available():
        pytest.skip("this machine has a GPU")
    task = with_overrides(get_task("regression").build(0), epochs=1)
    result = run(task, ["numpy", "torch"], dtype="float64", device="cuda", timing=False)
    torch_result, numpy_result = result.results["torch"], result.results["numpy"]
    assert torch_result.status in ("skipped", "failed")  # failed only when CI requires every backend
    assert "cuda" in torch_result.reason.lower()
    assert numpy_result.status == "ok" and "cpu" in numpy_result.implementation["device"]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", backend_params(("torch", "tf", "jax", "keras", "keras-jax", "keras-torch")))
def test_gpu_matches_numpy(backend: str, dtype: str) -> None:
    """Same numbers on the GPU: TF32 is off in comparisons, so float32 keeps its tolerance."""
    require(backend)
    task = with_overrides(get_task("regression").build(0), epochs=2)
    result = run(task, ["numpy", backend], dtype=dtype, device="cuda", timing=True)
    res = result.results[backend]
    if res.status == "skipped":
        pytest.skip(res.reason)
    assert res.status == "ok", res.reason
    if backend == "torch":
        assert {"cuda_graph_capture", "train_step_cuda_graph"} <= {t.phase for t in res.timings}


@pytest.mark.gpu
@gpu
def test_cuda_graph_step_matches_eager() -> None:
    """A replayed graph step changes the parameters exactly as an eager step does."""
    import torch
    from netparity.backends import get_backend
    from netparity.backends.torch.cuda_graph import capture_train_step

    task = get_task("regression").build(0)
    params = init_params(task.model, 0)
    backend = get_backend("torch")
    eager = backend.build(task.model, params, task.recipe, dtype="float64", device="cuda")
    graphed = backend.build(task.model, params, task.recipe, dtype="float64", device="cuda")
    x, y = task.data.x_train[:32], task.data.y_train[:32]
    replay = capture_train_step(graphed, graphed.stage(x, y), warmup=3)  # 3 warm-up steps + capture
    for _ in range(3):
        eager.train_step(eager.stage(x, y))
    replay()
    eager.train_step(eager.stage(x, y))
    torch.cuda.synchronize()
    for name, value in graphed.params().items():
        assert_close(name, value, eager.params()[name], 1e-12)
