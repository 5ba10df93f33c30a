"""Whole-step CUDA-graph capture for the PyTorch backend's timing runs.

At the task models' sizes a GPU step is launch-bound (dozens of tiny kernels, ~1 ms of
launch overhead on an H100), so the idiomatic fast form of a small step is a captured
graph replayed with one launch. Used for timing only; the trajectory is never captured.
Follows the "whole network capture" recipe of the PyTorch CUDA-graphs notes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from netparity.backends.base import Batch


def capture_train_step(model, batch: Batch, warmup: int = 3) -> Callable[[], None]:
    """Capture forward + backward + optimizer step on ``batch`` (static tensors) and return
    a callable that replays it and waits for the GPU. Runs ``warmup`` real steps first (on a
    side stream, as capture requires) so that optimizer state exists before capture."""
    if batch.x.device.type != "cuda":
        raise ValueError("CUDA-graph capture needs a model on a CUDA device")
    for group in model.optimizer.param_groups:
        if "capturable" in group:  # Adam/AdamW/RMSprop...: keep step counters on the GPU
            group["capturable"] = True
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            model.train_step(batch)
    torch.cuda.current_stream().wait_stream(side)

    graph = torch.cuda.CUDAGraph()
    model.optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = model.loss_tensor(batch)
        loss.backward()
        model.optimizer.step()

    def replay() -> None:
        graph.replay()
        torch.cuda.synchronize()

    return replay
