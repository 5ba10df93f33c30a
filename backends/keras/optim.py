"""The recipe's optimizer as a native keras.optimizers optimizer, configured explicitly;
documented subclasses where no argument of the stock optimizer gives the recipe's formula.

Stock Keras computes: SGD (any momentum/nesterov: m = mu*m - lr*g, p += m, the same update
as torch's for a constant lr), Adagrad and RMSprop with epsilon inside the sqrt, Adam and
AdamW with epsilon-hat, and decoupled weight decay for all of them.
Subclasses (update written in keras.ops, Keras's own slots and step counter):
  TorchStyleAdam/AdamW  epsilon outside the bias-corrected sqrt: lr*m_hat/(sqrt(v_hat) + eps)
  TorchStyleAdagrad     p -= lr*g/(sqrt(acc) + eps)
  TorchStyleRMSprop     den = sqrt(s [- gbar^2]) + eps
  CoupledDecay<X>       g += wd*p before X's update (every Keras weight_decay is decoupled);
                        not needed for SGD without momentum, where both are the same update.

Precision: Keras casts Python-float hyper-parameters with ``ops.cast(value, dtype)``, which
makes a float32 tensor first (docs/semantics.md §1.8). In a float64 run every hyper-parameter is
therefore handed over as ``np.float64`` (a float subclass, so Keras's own type checks pass),
which ``ops.cast`` converts exactly; in float32 runs plain floats are already exact enough.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np
from keras import ops
from netparity.spec.recipe import Optimizer


@contextlib.contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """Keras creates optimizer variables (the learning rate among them) in floatx; a float64
    run needs them in float64, or lr=0.01 is rounded to 0.009999999776 (docs/semantics.md §1.8)."""
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def _const(value, variable):
    return ops.convert_to_tensor(value, dtype=variable.dtype)


class TorchStyleAdamUpdate:
    """m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr*(m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)."""

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1, b2, eps = _const(self.beta_1, variable), _const(self.beta_2, variable), _const(self.epsilon, variable)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(v, b2 * v + (1 - b2) * ops.square(g))
        m_hat = m / (1 - ops.power(b1, t))
        v_hat = v / (1 - ops.power(b2, t))
        self.assign_sub(variable, lr * m_hat / (ops.sqrt(v_hat) + eps))


class TorchStyleAdam(TorchStyleAdamUpdate, keras.optimizers.Adam):
    """keras.optimizers.Adam with epsilon outside the bias-corrected sqrt (torch, Kingma & Ba Alg. 1)."""


class TorchStyleAdamW(TorchStyleAdamUpdate, keras.optimizers.AdamW):
    """keras.optimizers.AdamW (decoupled decay by Keras) with TorchStyleAdam's update."""


class TorchStyleAdagrad(keras.optimizers.Adagrad):
    """acc += g^2; p -= lr*g/(sqrt(acc) + eps): epsilon outside the sqrt (torch, TF AdagradV2)."""

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        acc = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(acc, ops.square(g))
        self.assign_sub(variable, lr * g / (ops.sqrt(acc) + _const(self.epsilon, variable)))


class TorchStyleRMSprop(keras.optimizers.RMSprop):
    """s = rho*s + (1-rho)*g^2; [gbar = rho*gbar + (1-rho)*g; s' = s - gbar^2];
    inc = lr*g/(sqrt(s') + eps): epsilon outside the sqrt (torch); momentum: mom = mu*mom + inc,
    p -= mom (Keras keeps lr inside the buffer; the same update for a constant lr)."""

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        rho, eps = _const(self.rho, variable), _const(self.epsilon, variable)
        s = self._velocities[index]
        self.assign(s, rho * s + (1 - rho) * ops.square(g))
        mean_square = s
        if self.centered:
            gbar = self._average_gradients[index]
            self.assign(gbar, rho * gbar + (1 - rho) * g)
            mean_square = s - ops.square(gbar)
        increment = lr * g / (ops.sqrt(mean_square) + eps)
        if self.momentum > 0:
            mom = self._momentums[index]
            self.assign(mom, _const(self.momentum, variable) * mom + increment)
            increment = mom
        self.assign_sub(variable, increment)


class CoupledDecay:
    """Mixin: coupled weight decay g += wd*p before the wrapped optimizer's update
    (Keras's own weight_decay is decoupled and stays off)."""

    def __init__(self, *args, coupled_decay: float, **kw) -> None:
        super().__init__(*args, **kw)
        self.coupled_decay = coupled_decay

    def update_step(self, gradient, variable, learning_rate):
        g = ops.cast(gradient, variable.dtype) + _const(self.coupled_decay, variable) * variable
        super().update_step(g, variable, learning_rate)


_COUPLED: dict[type, type] = {}


def coupled(base: type) -> type:
    """The CoupledDecay subclass of a Keras optimizer class (one class per base)."""
    if base not in _COUPLED:
        doc = f"{base.__name__} with coupled weight decay (g += wd*p), see CoupledDecay."
        _COUPLED[base] = type(f"CoupledDecay{base.__name__}", (CoupledDecay, base), {"__doc__": doc})
    return _COUPLED[base]


def make_optimizer(opt: Optimizer, dtype: str) -> keras.optimizers.Optimizer:
    opt.check()
    f = np.float64 if dtype == "float64" else float  # see the module docstring

    if opt.name == "sgd":
        cls, kw = keras.optimizers.SGD, dict(momentum=f(opt.momentum), nesterov=opt.nesterov)
    elif opt.name == "adagrad":
        cls = TorchStyleAdagrad if opt.epsilon_mode == "outside" else keras.optimizers.Adagrad
        kw = dict(initial_accumulator_value=f(opt.initial_accumulator), epsilon=f(opt.epsilon))
    elif opt.name == "rmsprop":
        cls = TorchStyleRMSprop if opt.epsilon_mode == "outside" else keras.optimizers.RMSprop
        kw = dict(rho=f(opt.rho), momentum=f(opt.momentum), epsilon=f(opt.epsilon), centered=opt.centered)
    else:
        if opt.name == "adamw":
            cls = TorchStyleAdamW if opt.epsilon_mode == "outside" else keras.optimizers.AdamW
        else:
            cls = TorchStyleAdam if opt.epsilon_mode == "outside" else keras.optimizers.Adam
        kw = dict(beta_1=f(opt.beta1), beta_2=f(opt.beta2), epsilon=f(opt.epsilon))

    if opt.weight_decay:
        # plain SGD: p - lr*(g + wd*p) == (p - lr*wd*p) - lr*g, so Keras's decoupled decay is exact
        if opt.decoupled or (opt.name == "sgd" and not opt.momentum):
            kw["weight_decay"] = f(opt.weight_decay)
        else:
            cls, kw["coupled_decay"] = coupled(cls), f(opt.weight_decay)
    elif opt.name == "adamw":
        kw["weight_decay"] = f(0.0)  # AdamW requires the argument; 0 means no decay
    with floatx(dtype):
        return cls(learning_rate=f(opt.lr), **kw)


def describe(optimizer: keras.optimizers.Optimizer) -> str:
    """What ran, for the report: the stock class, or the subclass and the class it extends."""
    cls = type(optimizer)
    if cls.__module__ != __name__:
        return f"keras.optimizers.{cls.__name__}"
    stock = next(b for b in cls.__mro__ if b.__module__.startswith("keras"))
    return f"keras subclass {cls.__name__} of keras.optimizers.{stock.__name__}"
