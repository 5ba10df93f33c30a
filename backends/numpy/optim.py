"""Optimizers in NumPy: ``step(params, grads)`` updates the parameter arrays in place."""

from __future__ import annotations

import numpy as np

from spec.recipe import Optimizer


class SGD:
    """v = momentum*v + g (v = g on the first step); p -= lr * (g + momentum*v if nesterov else v).

    weight_decay is coupled L2 (g += weight_decay * p), as in torch.optim.SGD.
    """

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        o = self.opt
        for name, g in grads.items():
            p = params[name]
            if o.weight_decay:
                g = g + o.weight_decay * p
            if o.momentum:
                v = self.velocity.get(name)
                if v is None:
                    v = self.velocity[name] = g.copy()
                else:
                    v *= o.momentum
                    v += g
                g = g + o.momentum * v if o.nesterov else v
            p -= o.lr * g


OPTIMIZERS = {"sgd": SGD}


def make_optimizer(opt: Optimizer) -> SGD:
    if opt.name not in OPTIMIZERS:
        raise NotImplementedError(f"the numpy backend has no {opt.name!r} optimizer")
    return OPTIMIZERS[opt.name](opt)
