"""Training recipes: loss, optimizer with every hyper-parameter explicit, epochs, batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from spec.errors import SpecError

LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw")


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and all of its hyper-parameters; no backend falls back on its own defaults.

    sgd:     v = momentum*v + g (v0 = g); p -= lr*(g + momentum*v if nesterov else v)
    adagrad: acc += g^2 (acc0 = initial_accumulator); p -= lr*g/(sqrt(acc) + epsilon)
    rmsprop: s = rho*s + (1-rho)*g^2; p -= lr*g/(sqrt(s) + epsilon)   (momentum, centered optional)
    adam:    bias-corrected m, v; p -= lr*m_hat/(sqrt(v_hat) + epsilon)
    adamw:   adam plus decoupled decay p -= lr*weight_decay*p before the step
    """

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    rho: float = 0.9
    initial_accumulator: float = 0.1
    centered: bool = False

    def check(self) -> None:
        if self.name not in OPTIMIZERS:
            raise SpecError(f"unknown optimizer {self.name!r} (known: {', '.join(OPTIMIZERS)})")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise SpecError(f"optimizer lr must be a positive number, got {self.lr!r}")
        for name in ("momentum", "beta1", "beta2", "rho"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise SpecError(f"optimizer {name} must be in [0, 1), got {value!r}")
        for name in ("weight_decay", "epsilon", "initial_accumulator"):
            if getattr(self, name) < 0:
                raise SpecError(f"optimizer {name} must be >= 0, got {getattr(self, name)!r}")
        if self.nesterov and self.momentum == 0:
            raise SpecError("nesterov=True needs momentum > 0")


@dataclass(frozen=True)
class Recipe:
    """How to train: loss, optimizer, epochs and mini-batches (order from ``shuffle_seed``).

    ``l2`` adds l2 * sum(kernel**2) over every kernel-like parameter to the loss.
    """

    loss: str = "mse"
    optimizer: Optimizer = field(default_factory=Optimizer)
    epochs: int = 10
    batch_size: int = 32
    shuffle_seed: int = 0
    l2: float = 0.0

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise SpecError(f"unknown loss {self.loss!r} (known: {', '.join(LOSSES)})")
        self.optimizer.check()
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SpecError(f"{name} must be a positive integer, got {value!r}")
        if self.l2 < 0:
            raise SpecError(f"l2 must be >= 0, got {self.l2!r}")


WEIGHT_PARAMS = ("kernel", "recurrent_kernel", "wq", "wk", "wv", "wo")


def l2_applies(param_name: str) -> bool:
    """Whether the recipe's l2 penalty covers this canonical parameter (kernels, not biases)."""
    return param_name.rsplit(".", 1)[-1] in WEIGHT_PARAMS
