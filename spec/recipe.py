"""Training recipes: loss, optimizer with every hyper-parameter explicit, learning-rate
schedule, gradient clipping, epochs, batches.

Every formula a backend must compute is written here; docs/semantics.md says which
framework computes which convention natively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from netparity.spec.errors import SpecError, quoted
from netparity.spec.limits import check_finite_fields, check_seed

LOSSES = ("mse", "mae", "huber", "bce", "cross_entropy")
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "adadelta", "nadam", "adamax")
SCHEDULES = ("step", "exponential", "cosine", "linear_warmup")

#: where epsilon goes, per optimizer (the first value is the default; docs/semantics.md §1.3-1.6, §15)
#:   adam/adamw "outside": lr * m_hat / (sqrt(v_hat) + eps)           (Kingma & Ba Alg. 1; torch)
#:              "hat":     lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)  (eps-hat; Keras, TF)
#:   adagrad/rmsprop "outside": g / (sqrt(acc) + eps)                  (torch, TF AdagradV2)
#:                   "inside":  g / sqrt(acc + eps)                    (Keras, TF RMSProp)
#:   adamax "max":     u = max(b2*u, |g| + eps); step m / u            (torch)
#:          "outside": u = max(b2*u, |g|);       step m / (u + eps)    (Keras, TF ResourceApplyAdaMax)
EPSILON_MODES = {
    "sgd": ("outside",),
    "adagrad": ("outside", "inside"),
    "rmsprop": ("outside", "inside"),
    "adam": ("outside", "hat"),
    "adamw": ("outside", "hat"),
    "adadelta": ("inside",),
    "nadam": ("outside",),
    "adamax": ("max", "outside"),
}


def _finite(owner: str, name: str, value: object, low: float | None = None, *, strict: bool = False) -> None:
    """A real number (not bool), finite, and >= low (> low when strict)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{owner} {name} must be a finite number, got {quoted(value)}")
    if low is not None and (value <= low if strict else value < low):
        raise SpecError(f"{owner} {name} must be {'>' if strict else '>='} {low}, got {quoted(value)}")


def _positive_int(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"{owner} {name} must be a positive integer, got {quoted(value)}")


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and all of its hyper-parameters; no backend falls back on its own defaults.

    sgd:      v = momentum*v + g (v0 = g); p -= lr*(g + momentum*v if nesterov else v)
    adagrad:  acc += g^2 (acc0 = initial_accumulator); p -= lr*g/(sqrt(acc) + epsilon)
    rmsprop:  s = rho*s + (1-rho)*g^2; p -= lr*g/(sqrt(s) + epsilon); centered: s - gbar^2
              under the sqrt (gbar = rho*gbar + (1-rho)*g); momentum: b = momentum*b + g/den,
              p -= lr*b
    adam:     m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2; p -= lr*m_hat/(sqrt(v_hat) + epsilon)
    adamw:    adam with decoupled weight decay
    adadelta: s = rho*s + (1-rho)*g^2; d = sqrt(u + eps)/sqrt(s + eps) * g;
              u = rho*u + (1-rho)*d^2; p -= lr*d                      (Zeiler 2012 with lr)
    nadam:    mu_t = b1*(1 - 0.5*0.96^(t*momentum_decay)), P_t = mu_1*...*mu_t;
              m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, den = sqrt(v/(1-b2^t)) + eps;
              p -= lr*(1-mu_t)/(1-P_t) * g/den + lr*mu_{t+1}/(1-P_t*mu_{t+1}) * m/den
              (Dozat 2016; momentum_decay 0.004 = his 1/250 and torch's default; Keras
              hard-codes 0.96^t, i.e. momentum_decay 1)
    adamax:   m = b1*m + (1-b1)*g; "max": u = max(b2*u, |g| + eps), p -= lr/(1-b1^t) * m/u;
              "outside": u = max(b2*u, |g|), p -= lr/(1-b1^t) * m/(u + eps)

    ``epsilon_mode`` names where epsilon goes where frameworks differ (EPSILON_MODES).
    Weight decay applies to every parameter (biases too, as torch and Keras do): coupled
    (``g += weight_decay*p``, torch's SGD/Adagrad/RMSprop/Adam) unless the optimizer is
    adamw or ``decoupled_weight_decay`` is set (``p -= lr*weight_decay*p`` before the
    step; AdamW, and every Keras optimizer). The momentum conventions of torch
    (``v = mu*v + g; p -= lr*v``) and Keras (``m = mu*m - lr*g; p += m``) are the same
    update for a constant lr; with a schedule each framework's own convention runs (torch
    and the reference: lr outside the buffer), see docs/semantics.md §15.
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
    epsilon_mode: str = ""  # "" = the optimizer's first EPSILON_MODES entry
    decoupled_weight_decay: bool = False
    momentum_decay: float = 0.004  # nadam's psi

    def __post_init__(self) -> None:
        if self.epsilon_mode == "" and self.name in EPSILON_MODES:
            object.__setattr__(self, "epsilon_mode", EPSILON_MODES[self.name][0])

    @property
    def decoupled(self) -> bool:
        """Whether weight decay is decoupled (p -= lr*wd*p) rather than added to the gradient."""
        return self.name == "adamw" or self.decoupled_weight_decay

    def check(self) -> None:
        if self.name not in OPTIMIZERS:
            raise SpecError(f"unknown optimizer {quoted(self.name)} (known: {', '.join(OPTIMIZERS)})")
        check_finite_fields(self, "optimizer")
        if isinstance(self.lr, bool) or not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise SpecError(f"optimizer lr must be a positive number, got {quoted(self.lr)}")
        _finite("optimizer", "lr", self.lr, 0.0, strict=True)
        for name in ("momentum", "beta1", "beta2", "rho"):
            value = getattr(self, name)
            _finite("optimizer", name, value)
            if not 0 <= value < 1:
                raise SpecError(f"optimizer {name} must be in [0, 1), got {quoted(value)}")
        for name in ("weight_decay", "epsilon", "initial_accumulator", "momentum_decay"):
            _finite("optimizer", name, getattr(self, name), 0.0)
        if self.nesterov and self.momentum == 0:
            raise SpecError("nesterov=True needs momentum > 0")
        if self.nesterov and self.name != "sgd":
            raise SpecError(f"nesterov applies to sgd only, not {self.name}")
        if self.momentum and self.name not in ("sgd", "rmsprop"):
            raise SpecError(f"momentum applies to sgd and rmsprop only, not {self.name} (adam uses beta1)")
        if self.centered and self.name != "rmsprop":
            raise SpecError(f"centered applies to rmsprop only, not {self.name}")
        if self.name == "adadelta" and self.epsilon == 0:
            raise SpecError("adadelta needs epsilon > 0 (its first step is sqrt(eps)/sqrt(s + eps) * g)")
        modes = EPSILON_MODES[self.name]
        if self.epsilon_mode not in modes:
            raise SpecError(
                f"epsilon_mode {quoted(self.epsilon_mode)} does not apply to {self.name} (known: {', '.join(modes)})"
            )


@dataclass(frozen=True)
class Schedule:
    """The learning rate of every optimizer step, from the optimizer's ``lr`` (lr0).

    k is the epoch index (``per="epoch"``: constant within an epoch, torch's
    ``scheduler.step()`` after each epoch) or the number of optimizer steps already taken
    (``per="step"``: torch's ``scheduler.step()`` after each step, Keras's schedules):

    step:          lr0 * gamma^floor(k / step_size)
    exponential:   lr0 * gamma^k
    cosine:        eta_min + (lr0 - eta_min) * (1 + cos(pi*k/t_max)) / 2,   k <= t_max
    linear_warmup: k < warmup_steps: lr0 * (start_factor + (1 - start_factor) * k/warmup_steps);
                   after: lr0 (``then="constant"``) or cosine from lr0 at k' = k - warmup_steps
                   (``then="cosine"``, with t_max and eta_min)

    A run must end by k = t_max (cosine, or warmup_steps + t_max): torch's CosineAnnealingLR
    rises again after t_max while Keras's CosineDecay stays at eta_min (``check_length``).
    """

    name: str
    per: str = "step"
    step_size: int = 1
    gamma: float = 0.1
    t_max: int = 0
    eta_min: float = 0.0
    warmup_steps: int = 0
    start_factor: float = 0.1
    then: str = "constant"

    @property
    def cosine(self) -> bool:
        return self.name == "cosine" or (self.name == "linear_warmup" and self.then == "cosine")

    def check(self, lr: float) -> None:
        where = f"lr_schedule {self.name}"
        check_finite_fields(self, "lr_schedule")
        if self.name not in SCHEDULES:
            raise SpecError(f"unknown lr_schedule {quoted(self.name)} (known: {', '.join(SCHEDULES)})")
        if self.per not in ("epoch", "step"):
            raise SpecError(f"{where}: per must be 'epoch' or 'step', got {quoted(self.per)}")
        if self.name == "step":
            _positive_int(where, "step_size", self.step_size)
        if self.name in ("step", "exponential"):
            _finite(where, "gamma", self.gamma, 0.0, strict=True)
            if self.gamma > 1:
                raise SpecError(f"{where}: gamma must be in (0, 1], got {quoted(self.gamma)}")
        if self.name == "linear_warmup":
            _positive_int(where, "warmup_steps", self.warmup_steps)
            _finite(where, "start_factor", self.start_factor, 0.0, strict=True)
            if self.start_factor > 1:
                raise SpecError(f"{where}: start_factor must be in (0, 1], got {quoted(self.start_factor)}")
            if self.then not in ("constant", "cosine"):
                raise SpecError(f"{where}: then must be 'constant' or 'cosine', got {quoted(self.then)}")
        if self.cosine:
            _positive_int(where, "t_max", self.t_max)
            _finite(where, "eta_min", self.eta_min, 0.0)
            if self.eta_min >= lr:
                raise SpecError(f"{where}: eta_min must be below the optimizer's lr {lr}, got {quoted(self.eta_min)}")

    def last_k(self, epochs: int, steps_per_epoch: int) -> int:
        """The largest k a run of ``epochs`` epochs of ``steps_per_epoch`` steps reaches."""
        return epochs - 1 if self.per == "epoch" else epochs * steps_per_epoch - 1

    def check_length(self, epochs: int, steps_per_epoch: int) -> None:
        """A cosine schedule must cover the whole run (see the class docstring)."""
        if not self.cosine:
            return
        end = self.t_max + (self.warmup_steps if self.name == "linear_warmup" else 0)
        last = self.last_k(epochs, steps_per_epoch)
        if last > end:
            unit = "epochs" if self.per == "epoch" else "steps"
            raise SpecError(
                f"lr_schedule {self.name}: the run reaches k = {last} {unit} but the cosine ends at {end}; "
                "raise t_max (torch's CosineAnnealingLR rises again after t_max, Keras's CosineDecay does not)"
            )

    def lr_at(self, lr0: float, k: int) -> float:
        """The formula above in plain Python (the NumPy reference and the tests use it)."""
        if self.name == "step":
            return lr0 * self.gamma ** (k // self.step_size)
        if self.name == "exponential":
            return lr0 * self.gamma**k
        if self.name == "linear_warmup":
            if k < self.warmup_steps:
                return lr0 * (self.start_factor + (1 - self.start_factor) * k / self.warmup_steps)
            if self.then == "constant":
                return lr0
            k -= self.warmup_steps
        return self.eta_min + (lr0 - self.eta_min) * (1 + math.cos(math.pi * min(k, self.t_max) / self.t_max)) / 2


@dataclass(frozen=True)
class Clip:
    """Gradient clipping, applied to the loss gradients (l2 penalty included) before the
    optimizer (and before its coupled weight decay), exactly one of:

    norm, scope "global":     g *= min(1, norm / (||all g||_2 + epsilon))   (one scale for all)
    norm, scope "per_tensor": g *= min(1, norm / (||g||_2 + epsilon))       (each tensor apart)
    value:                    g = clip(g, -value, value)

    epsilon 0 is Keras's ``global_clipnorm``/``clipnorm`` and TF's ``clip_by_global_norm``/
    ``clip_by_norm``; torch's ``clip_grad_norm_`` hard-codes epsilon 1e-6.
    """

    norm: float | None = None
    value: float | None = None
    scope: str = "global"
    epsilon: float = 0.0

    def check(self) -> None:
        check_finite_fields(self, "clip")
        if (self.norm is None) == (self.value is None):
            raise SpecError('clip needs exactly one of "norm" or "value"')
        for name in ("norm", "value"):
            if getattr(self, name) is not None:
                _finite("clip", name, getattr(self, name), 0.0, strict=True)
        if self.scope not in ("global", "per_tensor"):
            raise SpecError(f"clip scope must be 'global' or 'per_tensor', got {quoted(self.scope)}")
        if self.value is not None and self.scope != "global":
            raise SpecError("clip scope applies to norm clipping only")
        _finite("clip", "epsilon", self.epsilon, 0.0)


@dataclass(frozen=True, eq=False)
class Loss:
    """The training loss, averaged over every element of the batch (y: target, z: output):

    mse:           (z - y)^2
    mae:           |z - y|
    huber:         0.5*(z - y)^2 where |z - y| <= delta, else delta*(|z - y| - 0.5*delta)
                   (torch HuberLoss(delta), Keras Huber(delta); torch's SmoothL1Loss(beta)
                   is this divided by beta)
    bce:           -(y*log(p) + (1 - y)*log(1 - p)), p = sigmoid(z) (from_logits) or p = z
    cross_entropy: per row -sum_k q_k*log(softmax(z)_k), q = (1 - s)*onehot(y) + s/K with
                   s = label_smoothing (integer labels y, K classes); with from_logits false
                   the output is already probabilities (the model ends in softmax):
                   -log(z[y])

    Written as a string ("mse") or an object ({"name": "huber", "delta": 2.0}).
    """

    name: str = "mse"
    delta: float = 1.0
    from_logits: bool = True
    label_smoothing: float = 0.0

    def _key(self) -> tuple:
        return (self.name, self.delta, self.from_logits, self.label_smoothing)

    def __eq__(self, other: object) -> bool:
        """Equal to a Loss with the same fields, and to its name as a string (``loss == "mse"``
        reads as it did when the recipe held only the name)."""
        if isinstance(other, str):
            return self.name == other
        return isinstance(other, Loss) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        """``mse``, or ``huber(delta=2.0)`` naming the fields that differ from the defaults."""
        default = Loss(self.name)
        changed = [
            f"{k}={getattr(self, k)}"
            for k in ("delta", "from_logits", "label_smoothing")
            if getattr(self, k) != getattr(default, k)
        ]
        return f"{self.name}({', '.join(changed)})" if changed else self.name

    @property
    def integer_targets(self) -> bool:
        """Targets are class indices (int64), not arrays shaped like the output."""
        return self.name == "cross_entropy"

    #: the name issue 11's branch uses for the same rule (one rule, two names until it merges)
    classification = integer_targets

    @property
    def kind(self) -> str:
        """The task kind its targets imply: regression, classification or binary."""
        return {"cross_entropy": "classification", "bce": "binary"}.get(self.name, "regression")

    def check(self) -> None:
        check_finite_fields(self, "loss")
        if self.name not in LOSSES:
            raise SpecError(f"unknown loss {quoted(self.name)} (known: {', '.join(LOSSES)})")
        _finite(f"loss {self.name}", "delta", self.delta, 0.0, strict=True)
        if self.delta != 1.0 and self.name != "huber":
            raise SpecError(f"delta applies to huber only, not {self.name}")
        if not self.from_logits and self.name not in ("bce", "cross_entropy"):
            raise SpecError(f"from_logits applies to bce and cross_entropy only, not {self.name}")
        if not self.from_logits and self.label_smoothing:
            raise SpecError("label_smoothing needs logits (from_logits true)")
        _finite(f"loss {self.name}", "label_smoothing", self.label_smoothing, 0.0)
        if self.label_smoothing and self.name != "cross_entropy":
            raise SpecError(f"label_smoothing applies to cross_entropy only, not {self.name}")
        if self.label_smoothing > 1:
            raise SpecError(f"label_smoothing must be in [0, 1], got {quoted(self.label_smoothing)}")


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
    if output_activation(layers) == "softmax" and loss.name == "cross_entropy" and loss.from_logits:
        return (
            "the model ends in softmax and cross_entropy takes logits, so softmax is applied twice; "
            'for probabilities use "loss": {"name": "cross_entropy", "from_logits": false}'
        )
    return ""


@dataclass(frozen=True)
class Recipe:
    """How to train: loss, optimizer, schedule, clipping, epochs and mini-batches.

    Mini-batches follow a seeded permutation per epoch (``shuffle_seed``), or the rows in
    order when ``shuffle`` is false. ``l2`` adds l2 * sum(kernel**2) over every kernel-like
    parameter to the loss. ``loss`` may be given as a string; it is stored as a Loss.
    """

    loss: Loss = field(default_factory=Loss)
    optimizer: Optimizer = field(default_factory=Optimizer)
    epochs: int = 10
    batch_size: int = 32
    shuffle_seed: int = 0
    l2: float = 0.0
    shuffle: bool = True
    lr_schedule: Schedule | None = None
    clip: Clip | None = None

    def __post_init__(self) -> None:
        if isinstance(self.loss, str):
            object.__setattr__(self, "loss", Loss(self.loss))

    def check(self) -> None:
        if not isinstance(self.loss, Loss):
            raise SpecError(f"loss must be a name or an object like {{'name': 'mse'}}, got {quoted(self.loss)}")
        self.loss.check()
        self.optimizer.check()
        check_finite_fields(self, "recipe")
        check_seed(self.shuffle_seed, "recipe shuffle_seed")
        for name in ("epochs", "batch_size"):
            _positive_int("recipe", name, getattr(self, name))
        _finite("recipe", "l2", self.l2, 0.0)
        if self.lr_schedule is not None:
            self.lr_schedule.check(self.optimizer.lr)
            if self.lr_schedule.per == "epoch":
                self.lr_schedule.check_length(self.epochs, 1)
        if self.clip is not None:
            self.clip.check()

    def check_length(self, steps_per_epoch: int) -> None:
        """What only the data can tell: a per-step cosine schedule covers the whole run."""
        if self.lr_schedule is not None:
            self.lr_schedule.check_length(self.epochs, steps_per_epoch)


WEIGHT_PARAMS = ("kernel", "recurrent_kernel", "wq", "wk", "wv", "wo")


def l2_applies(param_name: str) -> bool:
    """Whether the recipe's l2 penalty covers this canonical parameter (kernels, not biases)."""
    return param_name.rsplit(".", 1)[-1] in WEIGHT_PARAMS
