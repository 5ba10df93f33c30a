"""The recipe's optimizer as a native torch.optim optimizer, configured explicitly."""

from __future__ import annotations

import torch

from spec.recipe import Optimizer


def make_optimizer(opt: Optimizer, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if opt.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=opt.lr,
            momentum=opt.momentum,
            nesterov=opt.nesterov,
            weight_decay=opt.weight_decay,
            dampening=0.0,
        )
    raise NotImplementedError(f"the torch backend has no {opt.name!r} optimizer")
