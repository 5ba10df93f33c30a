"""Training recipes: loss, optimizer with every hyper-parameter explicit, epochs, batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from netparity.spec.errors import SpecError

LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw")

#: where epsilon goes, per optimizer (the first value is the default; docs/semantics.md §1.3-1.6)
#:   adam/adamw "outside": lr * m_hat / (sqrt(v_hat) + eps)           (Kingma & Ba Alg. 1; torch)
#:              "hat":     lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)  (eps-hat; Keras, TF)
#:   adagrad/rmsprop "outside": g / (sqrt(acc) + eps)                  (torch, TF AdagradV2)
#:                   "inside":  g / sqrt(acc + eps)                    (Keras, TF RMSProp)
EPSILON_MODES = {
    "sgd": ("outside",),
    "adagrad": ("outside", "inside"),
    "rmsprop": ("outside", "inside"),
    "adam": ("outside", "hat"),
    "adamw": ("outside", "hat"),
}


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and all of its hyper-parameters; no backend falls back on its own defaults.

    sgd:     v = momentum*v + g (v0 = g); p -= lr*(g + momentum*v if nesterov else v)
    adagrad: acc += g^2 (acc0 = initial_accumulator); p -= lr*g/(sqrt(acc) + epsilon)
    rmsprop: s = rho*s + (1-rho)*g^2; p -= lr*g/(sqrt(s) + epsilon); centered: s - gbar^2
             under the sqrt (gbar = rho*gbar + (1-rho)*g); momentum: b = momentum*b + g/den,
             p -= lr*b
    adam:    m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2; p -= lr*m_hat/(sqrt(v_hat) + epsilon)
    adamw:   adam with decoupled weight decay

    ``epsilon_mode`` names where epsilon goes where frameworks differ (EPSILON_MODES).
    Weight decay applies to every parameter (biases too, as torch and Keras do): coupled
    (``g += weight_decay*p``, torch's SGD/Adagrad/RMSprop/Adam) unless the optimizer is
    adamw or ``decoupled_weight_decay`` is set (``p -= lr*weight_decay*p`` before the
    step; AdamW, and every Keras optimizer). The momentum conventions of torch
    (``v = mu*v + g; p -= lr*v``) and Keras (``m = mu*m - lr*g; p += m``) are the same
    update for a constant lr, which is all a recipe can express.
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
    epsilon_mode: str = "outside"
    decoupled_weight_decay: bool = False

    @property
    def decoupled(self) -> bool:
        """Whether weight decay is decoupled (p -= lr*wd*p) rather than added to the gradient."""
        return self.name == "adamw" or self.decoupled_weight_decay

    def check(self) -> None:
        if self.name not in OPTIMIZERS:
            raise SpecError(f"unknown optimizer {self.name!r} (known: {', '.join(OPTIMIZERS)})")
        if isinstance(self.lr, bool) or not (isinstance(self.lr, (int, float)) and self.lr > 0):
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
        if self.nesterov and self.name != "sgd":
            raise SpecError(f"nesterov applies to sgd only, not {self.name}")
        if self.momentum and self.name not in ("sgd", "rmsprop"):
            raise SpecError(f"momentum applies to sgd and rmsprop only, not {self.name} (adam uses beta1)")
        if self.centered and self.name != "rmsprop":
            raise SpecError(f"centered applies to rmsprop only, not {self.name}")
        modes = EPSILON_MODES[self.name]
        if self.epsilon_mode not in modes:
            raise SpecError(
                f"epsilon_mode {self.epsilon_mode!r} does not apply to {self.name} (known: {', '.join(modes)})"
            )


@dataclass(frozen=True, eq=False)
class Loss:
    """A loss and how it reads the model's output; written as a name (``"mse"``) or an object
    (``{"name": "cross_entropy", "from_logits": false}``).

    mse:           mean((out - y)^2) over every element
    cross_entropy: mean(-log softmax(out)[label]) with ``from_logits`` (the default: the
                   model outputs logits), mean(-log out[label]) without (the model outputs
                   probabilities: it ends in softmax)
    """

    name: str = "mse"
    from_logits: bool = True

    # A Loss compares equal to its name (``recipe.loss == "cross_entropy"``: the name was the
    # whole loss before from_logits existed) and to a Loss with the same fields.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name == other
        if isinstance(other, Loss):
            return (self.name, self.from_logits) == (other.name, other.from_logits)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def classification(self) -> bool:
        """Whether targets are integer class labels."""
        return self.name == "cross_entropy"

    def check(self) -> None:
        if not isinstance(self.name, str) or self.name not in LOSSES:
            raise SpecError(f"unknown loss {self.name!r} (known: {', '.join(LOSSES)})")
        if not isinstance(self.from_logits, bool):
            raise SpecError(f"loss from_logits must be true or false, got {self.from_logits!r}")
        if not self.from_logits and self.name != "cross_entropy":
            raise SpecError(f"from_logits applies to cross_entropy only, not {self.name}")

    def __str__(self) -> str:
        return self.name if self.from_logits else f"{self.name} (on probabilities)"


def output_activation(layers: tuple) -> str | None:
    """The activation the model's last layer ends in (a Dense/Conv2D activation or an
    Activation layer), or None."""
    if not layers:
        return None
    last = layers[-1]
    return last.name if last.kind == "activation" else getattr(last, "activation", None)


def softmax_twice(layers: tuple, loss: Loss) -> str:
    """The warning for a model that ends in softmax under a loss that applies softmax itself
    (empty when there is nothing to warn about)."""
    if output_activation(layers) == "softmax" and loss.classification and loss.from_logits:
        return (
            "the model ends in softmax and cross_entropy takes logits, so softmax is applied twice; "
            'for probabilities use "loss": {"name": "cross_entropy", "from_logits": false}'
        )
    return ""


@dataclass(frozen=True)
class Recipe:
    """How to train: loss, optimizer, epochs and mini-batches (order from ``shuffle_seed``).

    ``l2`` adds l2 * sum(kernel**2) over every kernel-like parameter to the loss.
    """

    loss: Loss = field(default_factory=Loss)  # a loss name is taken as Loss(name)
    optimizer: Optimizer = field(default_factory=Optimizer)
    epochs: int = 10
    batch_size: int = 32
    shuffle_seed: int = 0
    l2: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.loss, Loss):
            object.__setattr__(self, "loss", Loss(self.loss))

    def check(self) -> None:
        self.loss.check()
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
