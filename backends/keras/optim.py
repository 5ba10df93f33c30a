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
  TorchStyleSGD         momentum under a schedule: v = mu*v + g, p -= lr*v (Keras's
                        m = mu*m - lr*g keeps each step's lr inside the buffer)
  ScheduledMomentumRMSprop  epsilon inside the sqrt, momentum with lr outside the buffer
  PsiNadam              Nadam with mu_t = b1*(1 - 0.5*0.96^(t*psi)) (Keras: psi = 1 fixed)
  TorchStyleAdamax      u = max(b2*u, |g| + eps); p -= lr/(1-b1^t)*m/u (Keras: m/(u + eps))
  ClipEpsilon<X>        clipping by norm with the recipe's epsilon > 0 (see clip_kwargs)
  ClipConstantsInGradientDtype<X>  Keras-torch float64 only: clipnorm/clipvalue with c in float64
Stock also: Adadelta, Nadam (psi = 1 and float32), Adamax ("outside").

Schedules are keras.optimizers.schedules objects (ExponentialDecay, CosineDecay with its
warmup), evaluated by the optimizer at its iteration count (per "step"), or at the epoch
index by a keras.callbacks.LearningRateScheduler (per "epoch"). Clipping is the optimizer's
own global_clipnorm / clipnorm / clipvalue.

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
from netparity.spec.recipe import Clip, Optimizer, Schedule


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
    den = sqrt(s') + eps: epsilon outside the sqrt (torch); momentum: b = mu*b + g/den,
    p -= lr*b (torch keeps lr outside the buffer, Keras inside: the same update for a
    constant lr); else p -= lr*g/den."""

    epsilon_inside = False

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
        den = ops.sqrt(mean_square + eps) if self.epsilon_inside else ops.sqrt(mean_square) + eps
        step = g / den
        if self.momentum > 0:
            mom = self._momentums[index]
            self.assign(mom, _const(self.momentum, variable) * mom + step)
            step = mom
        self.assign_sub(variable, lr * step)


class TorchStyleSGD(keras.optimizers.SGD):
    """v = mu*v + g; p -= lr*v (nesterov: p -= lr*(g + mu*v)): torch's momentum, which keeps
    the learning rate out of the buffer; the same as Keras's for a constant lr only."""

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        mu = _const(self.momentum, variable)
        v = self.momentums[self._get_variable_index(variable)]
        self.assign(v, mu * v + g)
        self.assign_sub(variable, lr * (g + mu * v if self.nesterov else v))


class ScheduledMomentumRMSprop(TorchStyleRMSprop):
    """keras.optimizers.RMSprop (epsilon inside the sqrt) with lr outside the momentum buffer:
    b = mu*b + g/sqrt(s' + eps); p -= lr*b. Needed only when a schedule changes lr."""

    epsilon_inside = True


class PsiNadam(keras.optimizers.Nadam):
    """keras.optimizers.Nadam with Dozat's/torch's mu_t = b1*(1 - 0.5*0.96^(t*psi)) (Keras
    hard-codes psi = 1) and every constant in the variable's dtype (Keras casts 0.96 through
    float32 in float64 runs): m, v as in Adam; P_t = P_{t-1}*mu_t;
    p -= lr*((1-mu_t)/(1-P_t)*g + mu_{t+1}/(1-P_t*mu_{t+1})*m) / (sqrt(v/(1-b2^t)) + eps)."""

    def __init__(self, *args, momentum_decay: float, **kw) -> None:
        super().__init__(*args, **kw)
        self.momentum_decay = momentum_decay

    def _mu(self, step, dtype):
        decay, psi = ops.convert_to_tensor(np.float64(0.96), dtype), ops.convert_to_tensor(self.momentum_decay, dtype)
        return ops.convert_to_tensor(self.beta_1, dtype) * (1.0 - 0.5 * ops.power(decay, step * psi))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        dtype = self._u_product.dtype
        self.assign(self._u_product, self._u_product * self._mu(ops.cast(self.iterations + 1, dtype), dtype))
        keras.optimizers.Optimizer._backend_update_step(self, grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, g = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        mu, mu_next = self._mu(t, dtype), self._mu(t + 1, dtype)
        product = ops.cast(self._u_product, dtype)
        b1, b2, eps = _const(self.beta_1, variable), _const(self.beta_2, variable), _const(self.epsilon, variable)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(v, b2 * v + (1 - b2) * ops.square(g))
        den = ops.sqrt(v / (1 - ops.power(b2, t))) + eps
        step = (1 - mu) / (1 - product) * g + mu_next / (1 - product * mu_next) * m
        self.assign_sub(variable, lr * step / den)


class TorchStyleAdamax(keras.optimizers.Adamax):
    """m = b1*m + (1-b1)*g; u = max(b2*u, |g| + eps); p -= lr/(1-b1^t) * m/u: torch's
    epsilon inside the max (keras.optimizers.Adamax adds it outside: m/(u + eps))."""

    def update_step(self, gradient, variable, learning_rate):
        lr, g = ops.cast(learning_rate, variable.dtype), ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        b1, b2, eps = _const(self.beta_1, variable), _const(self.beta_2, variable), _const(self.epsilon, variable)
        index = self._get_variable_index(variable)
        m, u = self._m[index], self._u[index]
        self.assign(m, b1 * m + (1 - b1) * g)
        self.assign(u, ops.maximum(b2 * u, ops.abs(g) + eps))
        self.assign_sub(variable, lr / (1 - ops.power(b1, t)) * m / u)


class CoupledDecay:
    """Mixin: coupled weight decay g += wd*p before the wrapped optimizer's update
    (Keras's own weight_decay is decoupled and stays off)."""

    def __init__(self, *args, coupled_decay: float, **kw) -> None:
        super().__init__(*args, **kw)
        self.coupled_decay = coupled_decay

    def update_step(self, gradient, variable, learning_rate):
        g = ops.cast(gradient, variable.dtype) + _const(self.coupled_decay, variable) * variable
        super().update_step(g, variable, learning_rate)


class CoupledDecayParallel:
    """Mixin for Keras on torch: Keras swaps its stock optimizers for torch._foreach versions
    whose ``_parallel_update_step`` never calls ``update_step``, so the decay joins the
    gradients there. (A subclass of the stock class is not swapped and runs the generic
    update_step, whose ``ops.cast(self.rho, ...)`` rounds each hyper-parameter through
    float32 on that engine: 2.5e-9 relative after 100 float64 steps.)"""

    def __init__(self, *args, coupled_decay: float, **kw) -> None:
        super().__init__(*args, **kw)
        self.coupled_decay = coupled_decay

    def _parallel_update_step(self, grads, variables, learning_rate):
        grads = [g + _const(self.coupled_decay, v) * v.value for g, v in zip(grads, variables, strict=True)]
        super()._parallel_update_step(grads, variables, learning_rate)


_COUPLED: dict[type, type] = {}


def coupled(base: type) -> type:
    """The CoupledDecay subclass of a Keras optimizer class (one class per base and engine)."""
    mixin = CoupledDecay
    if keras.config.backend() == "torch":
        from keras.src.backend.torch.optimizers.torch_optimizer import TorchOptimizer

        swapped = type(TorchOptimizer.__new__(base))  # the torch._foreach class Keras would build
        if hasattr(swapped, "_parallel_update_step"):
            base, mixin = swapped, CoupledDecayParallel
    if base not in _COUPLED:
        doc = f"{base.__name__} with coupled weight decay (g += wd*p), see {mixin.__name__}."
        _COUPLED[base] = type(f"CoupledDecay{base.__name__}", (mixin, base), {"__doc__": doc})
    return _COUPLED[base]


def make_optimizer(
    opt: Optimizer, dtype: str, schedule: Schedule | None = None, clip: Clip | None = None
) -> keras.optimizers.Optimizer:
    opt.check()
    f = np.float64 if dtype == "float64" else float  # see the module docstring
    scheduled = schedule is not None

    if opt.name == "sgd":
        cls = TorchStyleSGD if opt.momentum and scheduled else keras.optimizers.SGD
        kw = dict(momentum=f(opt.momentum), nesterov=opt.nesterov)
    elif opt.name == "adagrad":
        cls = TorchStyleAdagrad if opt.epsilon_mode == "outside" else keras.optimizers.Adagrad
        kw = dict(initial_accumulator_value=f(opt.initial_accumulator), epsilon=f(opt.epsilon))
    elif opt.name == "rmsprop":
        if opt.epsilon_mode == "outside":
            cls = TorchStyleRMSprop
        else:
            cls = ScheduledMomentumRMSprop if opt.momentum and scheduled else keras.optimizers.RMSprop
        kw = dict(rho=f(opt.rho), momentum=f(opt.momentum), epsilon=f(opt.epsilon), centered=opt.centered)
    elif opt.name == "adadelta":
        # plain floats: Adadelta computes rho * variable, which np.float64 would turn into a
        # NumPy conversion of a graph tensor; Keras's binary ops keep Python floats exact
        cls, kw = keras.optimizers.Adadelta, dict(rho=float(opt.rho), epsilon=float(opt.epsilon))
    elif opt.name == "nadam":
        kw = dict(beta_1=f(opt.beta1), beta_2=f(opt.beta2), epsilon=f(opt.epsilon))
        # stock Keras: psi = 1, and 0.96 cast through float32 (exact enough in float32 runs only)
        cls = keras.optimizers.Nadam
        if opt.momentum_decay != 1 or dtype == "float64":
            cls, kw["momentum_decay"] = PsiNadam, f(opt.momentum_decay)
    elif opt.name == "adamax":
        cls = keras.optimizers.Adamax if opt.epsilon_mode == "outside" else TorchStyleAdamax
        kw = dict(beta_1=f(opt.beta1), beta_2=f(opt.beta2), epsilon=f(opt.epsilon))
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
    if clip is not None:
        clip_kw = clip_kwargs(clip, f)
        if "clip_epsilon" in clip_kw:
            cls = clip_epsilon(cls)
        elif dtype == "float64" and keras.backend.backend() == "torch" and "global_clipnorm" not in clip_kw:
            cls = clip_constants_in_gradient_dtype(cls)
        kw.update(clip_kw)
    lr = f(opt.lr)
    if schedule is not None and schedule.per == "step":
        lr = make_schedule(schedule, opt.lr, f)
    with floatx(dtype):
        return cls(learning_rate=lr, **kw)


def _float64_array(value: float) -> np.ndarray:
    return np.asarray(value, np.float64)


def make_schedule(schedule: Schedule, lr0: float, f) -> keras.optimizers.schedules.LearningRateSchedule:
    """spec.recipe.Schedule as a keras.optimizers.schedules object of k:
    step: ExponentialDecay(decay_steps=step_size, staircase=True); exponential:
    ExponentialDecay(decay_steps=1); cosine: CosineDecay(decay_steps=t_max, alpha=eta_min/lr0);
    linear_warmup: CosineDecay(initial lr0*start_factor, warmup_target=lr0, warmup_steps),
    whose decay after warmup is the cosine (t_max, eta_min) or, for "constant", alpha = 1
    (decayed = (1 - 1)*cos + 1 = 1: lr0 exactly)."""
    s, sched = schedule, keras.optimizers.schedules
    if f is np.float64:  # a 0-d float64 array: Keras-torch's convert_to_tensor makes an np.float64 floatx
        f = _float64_array
    if s.name == "step":
        return sched.ExponentialDecay(f(lr0), decay_steps=s.step_size, decay_rate=f(s.gamma), staircase=True)
    if s.name == "exponential":
        return sched.ExponentialDecay(f(lr0), decay_steps=1, decay_rate=f(s.gamma))
    if s.name == "cosine":
        return sched.CosineDecay(f(lr0), decay_steps=s.t_max, alpha=f(s.eta_min / lr0))
    cosine = s.then == "cosine"
    return sched.CosineDecay(
        f(lr0 * s.start_factor),
        decay_steps=s.t_max if cosine else 1,
        alpha=f(s.eta_min / lr0) if cosine else f(1.0),
        warmup_target=f(lr0),
        warmup_steps=s.warmup_steps,
    )


def epoch_callback(schedule: Schedule, lr0: float, dtype: str) -> keras.callbacks.LearningRateScheduler:
    """A per-epoch schedule: Keras's LearningRateScheduler callback sets the optimizer's lr at
    each epoch's start to the schedule object evaluated at the epoch index."""
    f = np.float64 if dtype == "float64" else float
    with floatx(dtype):
        fn = make_schedule(schedule, lr0, f)
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: np.float64(keras.ops.convert_to_numpy(fn(epoch))))


def clip_kwargs(clip: Clip, f) -> dict[str, object]:
    """The optimizer arguments for the recipe's clipping: global_clipnorm (min(1, c/||all g||)),
    clipnorm (per tensor: c/max(||g||, c)), clipvalue; with epsilon > 0 a ClipEpsilon subclass."""
    if clip.value is not None:
        return {"clipvalue": f(clip.value)}
    if clip.epsilon:
        return {"clip_epsilon": (f(clip.norm), f(clip.epsilon), clip.scope)}
    return {"global_clipnorm" if clip.scope == "global" else "clipnorm": f(clip.norm)}


class ClipEpsilon:
    """Mixin: clipping by norm with an epsilon, g *= min(1, c/(||g|| + eps)) over all tensors
    (global) or each (per_tensor); Keras's global_clipnorm/clipnorm have eps = 0."""

    def __init__(self, *args, clip_epsilon: tuple, **kw) -> None:
        super().__init__(*args, **kw)
        self.clip_norm, self.clip_eps, self.clip_scope = clip_epsilon

    def _clip_gradients(self, grads):
        def scale(norm, like):
            c = ops.convert_to_tensor(self.clip_norm, like.dtype)
            return ops.minimum(ops.convert_to_tensor(1.0, like.dtype), c / (norm + self.clip_eps))

        if self.clip_scope == "global":
            norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in grads])))
            return [g * scale(norm, g) for g in grads]
        return [g * scale(ops.sqrt(ops.sum(ops.square(g))), g) for g in grads]


class ClipConstantsInGradientDtype:
    """Mixin for Keras on torch in float64: stock clipnorm (g*c/max(||g||, c), per tensor) and
    clipvalue (clip(g, -c, c)) hand the Python-float c to ops.multiply/ops.clip, whose torch
    convert_to_tensor makes it a float32 tensor (1e-9..1e-8 rel off); the same formulas with c
    in the gradient's dtype."""

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in grads:
                c = ops.convert_to_tensor(self.clipnorm, g.dtype)
                out.append(ops.multiply(g, c) / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), c))
            return out
        if self.clipvalue and self.clipvalue > 0:
            return [
                ops.clip(g, *(ops.convert_to_tensor(v, g.dtype) for v in (-self.clipvalue, self.clipvalue)))
                for g in grads
            ]
        return super()._clip_gradients(grads)


_CLIP: dict[type, type] = {}
_CLIP_CONSTANTS: dict[type, type] = {}


def clip_constants_in_gradient_dtype(base: type) -> type:
    """The ClipConstantsInGradientDtype subclass of a Keras optimizer class (one class per base)."""
    if base not in _CLIP_CONSTANTS:
        doc = f"{base.__name__} with clipnorm/clipvalue in the gradient's dtype, see ClipConstantsInGradientDtype."
        name = f"ClipConstantsInGradientDtype{base.__name__}"
        _CLIP_CONSTANTS[base] = type(name, (ClipConstantsInGradientDtype, base), {"__doc__": doc})
    return _CLIP_CONSTANTS[base]


def clip_epsilon(base: type) -> type:
    """The ClipEpsilon subclass of a Keras optimizer class (one class per base)."""
    if base not in _CLIP:
        doc = f"{base.__name__} clipping by norm with an epsilon, see ClipEpsilon."
        _CLIP[base] = type(f"ClipEpsilon{base.__name__}", (ClipEpsilon, base), {"__doc__": doc})
    return _CLIP[base]


def describe(optimizer: keras.optimizers.Optimizer) -> str:
    """What ran, for the report: the stock class, or the subclass and the class it extends."""
    cls = type(optimizer)
    if cls.__module__ != __name__:
        return f"keras.optimizers.{cls.__name__}"
    stock = next(b for b in cls.__mro__ if b.__module__.startswith("keras"))
    return f"keras subclass {cls.__name__} of keras.optimizers.{stock.__name__}"
