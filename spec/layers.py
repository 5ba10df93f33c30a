"""Layer specs: frozen dataclasses that know their output shape and canonical parameters.

Shapes never include the batch axis. Activations are channels-last (NHWC for images,
(T, D) for sequences). Parameter layouts are the canonical ones of DESIGN.md; every
backend maps them into its own layout and back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from netparity.spec.errors import SpecError
from netparity.spec.walk import stack

Shape = tuple[int, ...]

ACTIVATIONS = (
    "identity",
    "relu",
    "sigmoid",
    "tanh",
    "elu",
    "softmax",
    "gelu",  # x * Phi(x), the exact (erf) form
    "gelu_tanh",  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    "silu",  # x * sigmoid(x)
    "leaky_relu",  # x if x > 0 else negative_slope * x (the layer's negative_slope field)
    "relu6",  # min(max(x, 0), 6)
    "selu",  # scale * (x if x > 0 else alpha * (e^x - 1)), alpha/scale of Klambauer et al.
    "softplus",  # log(1 + e^x)
    "softsign",  # x / (1 + |x|)
    "hard_sigmoid",  # relu6(x + 3) / 6 (today's definition; Keras 2 used 0.2 x + 0.5)
    "hard_silu",  # x * hard_sigmoid(x)
    "log_softmax",  # x - logsumexp(x) over the last axis
)


@dataclass(frozen=True)
class ParamSpec:
    """Shape and initializer of one canonical parameter (fans decide the init scale)."""

    shape: Shape
    init: str
    fan_in: int = 1
    fan_out: int = 1


@dataclass(frozen=True)
class Layer:
    """Base of every layer spec: validation, shape inference, canonical parameters."""

    kind: ClassVar[str] = "layer"

    def check(self) -> None:
        """Validate the layer's own fields (raises SpecError)."""

    def output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        return {}

    def state_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        """Non-trainable state (e.g. BatchNorm moving statistics)."""
        return {}

    @property
    def sublayers(self) -> tuple[Layer, ...]:
        """Inner layers that have canonical names of their own (a Residual's stack)."""
        return ()

    def with_sublayers(self, layers: tuple[Layer, ...]) -> Layer:
        return self


def _positive_int(layer: Layer, name: str) -> None:
    value = getattr(layer, name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"{type(layer).__name__}.{name} must be a positive integer, got {value!r}")


def _activation(layer: Layer, value: str | None) -> None:
    if value is not None and value not in ACTIVATIONS:
        raise SpecError(f"{type(layer).__name__}: unknown activation {value!r} (known: {', '.join(ACTIVATIONS)})")
    _finite(layer, "negative_slope")


def _finite(layer: Layer, name: str) -> None:
    value = getattr(layer, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{type(layer).__name__}.{name} must be a finite number, got {value!r}")


def _rank(layer: Layer, in_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(in_shape) not in ranks:
        raise SpecError(f"{type(layer).__name__} expects {what}, got input shape {in_shape}")


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (value[0], value[1]) if len(value) == 2 else (-1, -1)
    return (value, value)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding for one spatial axis: (before, after); the extra pixel goes after."""
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def axis_padding(padding: str, size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis: 'valid' none, 'same' TF's rule, 'causal' all
    before (span - 1 steps, so output t sees inputs <= t)."""
    if padding == "same":
        return same_padding(size, kernel, stride, dilation)
    if padding == "causal":
        return (kernel - 1) * dilation, 0
    return 0, 0


def axis_output(padding: str, size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output length of one axis of a convolution or pooling window (0 if none fits)."""
    before, after = axis_padding(padding, size, kernel, stride, dilation)
    span = (kernel - 1) * dilation + 1
    return max((size + before + after - span) // stride + 1, 0)


@dataclass(frozen=True)
class Dense(Layer):
    """y = act(x @ kernel + bias) over the last axis."""

    kind: ClassVar[str] = "dense"
    units: int
    activation: str | None = None
    use_bias: bool = True
    kernel_init: str = "xavier_uniform"
    bias_init: str = "zeros"
    negative_slope: float = 0.01  # leaky_relu only (torch's default; Keras's is 0.2)

    def check(self) -> None:
        _positive_int(self, "units")
        _activation(self, self.activation)

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (1, 2), "a vector (features,) or a sequence (T, features)")
        return (*in_shape[:-1], self.units)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        n_in = in_shape[-1]
        specs = {"kernel": ParamSpec((n_in, self.units), self.kernel_init, n_in, self.units)}
        if self.use_bias:
            specs["bias"] = ParamSpec((self.units,), self.bias_init, n_in, self.units)
        return specs


@dataclass(frozen=True)
class Activation(Layer):
    """y = f(x) elementwise (softmax over the last axis)."""

    kind: ClassVar[str] = "activation"
    name: str
    negative_slope: float = 0.01  # leaky_relu only (torch's default; Keras's is 0.2)

    @property
    def activation(self) -> str:
        """The activation's name under the field name Dense and Conv layers use."""
        return self.name

    def check(self) -> None:
        if self.name not in ACTIVATIONS:
            raise SpecError(f"Activation: unknown activation {self.name!r} (known: {', '.join(ACTIVATIONS)})")
        _finite(self, "negative_slope")


def _positive_pair(layer: Layer, name: str) -> tuple[int, int]:
    """A field given as a positive int or a pair of them, as a pair (SpecError otherwise)."""
    value = getattr(layer, name)
    pair = _pair(value) if isinstance(value, (int, tuple, list)) and not isinstance(value, bool) else (-1, -1)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise SpecError(f"{type(layer).__name__}.{name} must be a positive int or a pair of them, got {value!r}")
    return pair


def _as_tuple(layer: Layer, *names: str) -> None:
    """JSON/YAML give pairs as lists: keep them as tuples (frozen, hashable)."""
    for name in names:
        if isinstance(getattr(layer, name), list):
            object.__setattr__(layer, name, tuple(getattr(layer, name)))


@dataclass(frozen=True)
class Conv2D(Layer):
    """y = act(cross_correlate(x, kernel) + bias), NHWC, kernel (kh, kw, in / groups, out).

    ``kernel``, ``stride`` and ``dilation`` are an int or an (h, w) pair; ``groups`` splits
    the input channels and the filters into that many independent convolutions (filter f
    sees input group f // (filters / groups)); groups = channels is a depthwise convolution.
    """

    kind: ClassVar[str] = "conv2d"
    filters: int
    kernel: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: str = "valid"
    activation: str | None = None
    use_bias: bool = True
    kernel_init: str = "xavier_uniform"
    bias_init: str = "zeros"
    negative_slope: float = 0.01  # leaky_relu only
    dilation: int | tuple[int, int] = 1
    groups: int = 1

    def __post_init__(self) -> None:
        _as_tuple(self, "kernel", "stride", "dilation")

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return _pair(self.kernel)

    @property
    def stride_hw(self) -> tuple[int, int]:
        return _pair(self.stride)

    @property
    def dilation_hw(self) -> tuple[int, int]:
        return _pair(self.dilation)

    def check(self) -> None:
        _positive_int(self, "filters")
        _positive_int(self, "groups")
        for name in ("kernel", "stride", "dilation"):
            _positive_pair(self, name)
        if self.padding not in ("valid", "same"):
            raise SpecError(f"Conv2D.padding must be 'valid' or 'same', got {self.padding!r}")
        if max(self.stride_hw) > 1 and max(self.dilation_hw) > 1:
            raise SpecError("Conv2D: stride > 1 together with dilation > 1 is refused (TF and Keras cannot run it)")
        if self.filters % self.groups:
            raise SpecError(f"Conv2D: filters={self.filters} is not divisible by groups={self.groups}")
        _activation(self, self.activation)

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (3,), "an image (height, width, channels)")
        if in_shape[-1] % self.groups:
            raise SpecError(f"Conv2D: {in_shape[-1]} input channels are not divisible by groups={self.groups}")
        out = [
            axis_output(self.padding, size, k, s, d)
            for size, k, s, d in zip(in_shape[:2], self.kernel_hw, self.stride_hw, self.dilation_hw, strict=True)
        ]
        if min(out) < 1:
            (kh, kw), (dh, dw) = self.kernel_hw, self.dilation_hw
            span = f"{(kh - 1) * dh + 1}x{(kw - 1) * dw + 1}"  # the kernel's extent with its dilation
            raise SpecError(
                f"Conv2D kernel span {span} is larger than its {in_shape[0]}x{in_shape[1]} input (padding='valid')"
            )
        return (*out, self.filters)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        (kh, kw), c = self.kernel_hw, in_shape[-1] // self.groups
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        specs = {"kernel": ParamSpec((kh, kw, c, self.filters), self.kernel_init, fan_in, fan_out)}
        if self.use_bias:
            specs["bias"] = ParamSpec((self.filters,), self.bias_init, fan_in, fan_out)
        return specs


@dataclass(frozen=True)
class _Pool2D(Layer):
    pool: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: str = "valid"

    def __post_init__(self) -> None:
        _as_tuple(self, "pool", "stride")

    @property
    def pool_hw(self) -> tuple[int, int]:
        return _pair(self.pool)

    @property
    def step_hw(self) -> tuple[int, int]:
        return _pair(self.stride or self.pool)

    def check(self) -> None:
        _positive_pair(self, "pool")
        if self.stride is not None:
            _positive_pair(self, "stride")
        if self.padding not in ("valid", "same"):
            raise SpecError(f"{type(self).__name__}.padding must be 'valid' or 'same', got {self.padding!r}")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (3,), "an image (height, width, channels)")
        h, w, c = in_shape
        out = [
            axis_output(self.padding, size, p, s) for size, p, s in zip((h, w), self.pool_hw, self.step_hw, strict=True)
        ]
        if min(out) < 1:
            raise SpecError(f"{type(self).__name__} window {self.pool} is larger than its {h}x{w} input")
        return (*out, c)


@dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """y = max over each window (padding 'same': the padded pixels never win)."""

    kind: ClassVar[str] = "max_pool2d"


@dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """y = mean over each window; with padding 'same' over its real pixels only (TF's rule)."""

    kind: ClassVar[str] = "avg_pool2d"


@dataclass(frozen=True)
class Flatten(Layer):
    """y = x.reshape(batch, -1) in channels-last (H, W, C) order."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)


@dataclass(frozen=True)
class Dropout(Layer):
    """y = x * mask / (1 - rate) in training, y = x in inference."""

    kind: ClassVar[str] = "dropout"
    rate: float = 0.5

    def check(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 <= self.rate < 1:
            raise SpecError(f"Dropout.rate must be in [0, 1), got {self.rate!r}")


@dataclass(frozen=True)
class BatchNorm(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over all but the channel (last) axis.

    Training normalizes with the batch mean and the BIASED batch variance (divide by n, the
    count of values per channel) and updates moving = momentum * moving + (1 - momentum) *
    batch_stat, the biased variance again (Keras convention: momentum weighs the old value;
    torch's nn.BatchNorm would use 1 - momentum and the unbiased n/(n-1) variance, so its
    adapter updates the buffers itself). Every training-mode call updates the moving
    statistics, loss_and_grads included, as in every framework. Inference uses them.
    """

    kind: ClassVar[str] = "batch_norm"
    momentum: float = 0.9
    epsilon: float = 1e-5

    def check(self) -> None:
        if not 0 <= self.momentum < 1:
            raise SpecError(f"BatchNorm.momentum must be in [0, 1), got {self.momentum!r}")
        if not self.epsilon > 0:
            raise SpecError(f"BatchNorm.epsilon must be positive, got {self.epsilon!r}")

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        c = (in_shape[-1],)
        return {"gamma": ParamSpec(c, "ones"), "beta": ParamSpec(c, "zeros")}

    def state_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        c = (in_shape[-1],)
        return {"moving_mean": ParamSpec(c, "zeros"), "moving_var": ParamSpec(c, "ones")}


@dataclass(frozen=True)
class LayerNorm(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis."""

    kind: ClassVar[str] = "layer_norm"
    epsilon: float = 1e-5

    def check(self) -> None:
        if not self.epsilon > 0:
            raise SpecError(f"LayerNorm.epsilon must be positive, got {self.epsilon!r}")

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        d = (in_shape[-1],)
        return {"gamma": ParamSpec(d, "ones"), "beta": ParamSpec(d, "zeros")}


@dataclass(frozen=True)
class Embedding(Layer):
    """y[t] = embeddings[x[t]] for integer token ids x of shape (T,)."""

    kind: ClassVar[str] = "embedding"
    vocab: int
    dim: int
    embeddings_init: str = "uniform:0.05"

    def check(self) -> None:
        _positive_int(self, "vocab")
        _positive_int(self, "dim")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (1,), "token ids of shape (T,)")
        return (*in_shape, self.dim)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        return {"embeddings": ParamSpec((self.vocab, self.dim), self.embeddings_init, self.vocab, self.dim)}


@dataclass(frozen=True)
class PositionalEmbedding(Layer):
    """y[t] = x[t] + embeddings[t] (learned positions)."""

    kind: ClassVar[str] = "positional_embedding"
    max_len: int
    embeddings_init: str = "uniform:0.05"

    def check(self) -> None:
        _positive_int(self, "max_len")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (T, features)")
        if in_shape[0] > self.max_len:
            raise SpecError(f"PositionalEmbedding.max_len={self.max_len} is shorter than the sequence ({in_shape[0]})")
        return in_shape

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        d = in_shape[-1]
        return {"embeddings": ParamSpec((self.max_len, d), self.embeddings_init, self.max_len, d)}


@dataclass(frozen=True)
class LSTM(Layer):
    """Gates i, f, g, o from z = x_t @ kernel + h @ recurrent_kernel + bias (+ recurrent_bias); c = f*c + i*g; h = o*tanh(c).

    ``recurrent_bias: true`` adds torch's second bias b_hh as a trained parameter of its own
    (it enters z exactly like ``bias``, so both get the same gradient). Keras and TF have
    one bias: their adapters carry the second as an extra weight.
    """

    kind: ClassVar[str] = "lstm"
    units: int
    return_sequences: bool = False
    kernel_init: str = "xavier_uniform"
    recurrent_init: str = "orthogonal"
    bias_init: str = "unit_forget"
    recurrent_bias: bool = False
    recurrent_bias_init: str = "zeros"

    def check(self) -> None:
        _positive_int(self, "units")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (T, features)")
        return (in_shape[0], self.units) if self.return_sequences else (self.units,)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        n_in, h = in_shape[-1], self.units
        specs = {
            "kernel": ParamSpec((n_in, 4 * h), self.kernel_init, n_in, 4 * h),
            "recurrent_kernel": ParamSpec((h, 4 * h), self.recurrent_init, h, 4 * h),
            "bias": ParamSpec((4 * h,), self.bias_init, n_in, 4 * h),
        }
        if self.recurrent_bias:
            specs["recurrent_bias"] = ParamSpec((4 * h,), self.recurrent_bias_init, h, 4 * h)
        return specs


@dataclass(frozen=True)
class SelfAttention(Layer):
    """Multi-head softmax(q k^T / sqrt(key_dim) + mask) v, then y = heads @ wo + bo.

    q = x wq + bq, k = x wk, v = x wv + bv, each split into ``heads`` heads of ``key_dim``
    (q, k; default d / heads) or ``value_dim`` (v; default key_dim, Keras's rule) columns;
    wo maps the heads * value_dim concatenation back to d. ``use_bias: false`` drops bq, bv, bo.

    No key bias: it could never change the output (it adds q.bk to every score of a query,
    and softmax ignores such a shift), so its exact gradient is zero and any value it takes
    in training is rounding noise (amplified ~lr/eps by Adam). Backends whose layer has one
    hold it at zero, frozen.
    """

    kind: ClassVar[str] = "self_attention"
    heads: int
    causal: bool = True
    kernel_init: str = "xavier_uniform"
    key_dim: int | None = None
    value_dim: int | None = None
    use_bias: bool = True

    def check(self) -> None:
        _positive_int(self, "heads")
        for name in ("key_dim", "value_dim"):
            if getattr(self, name) is not None:
                _positive_int(self, name)

    def head_dims(self, width: int) -> tuple[int, int]:
        """(key_dim, value_dim) for a model width ``width``."""
        key_dim = self.key_dim or width // self.heads
        return key_dim, self.value_dim or key_dim

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (T, features)")
        if self.key_dim is None and in_shape[-1] % self.heads:
            raise SpecError(
                f"SelfAttention: model width {in_shape[-1]} is not divisible by heads={self.heads} (set key_dim)"
            )
        return in_shape

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        d = in_shape[-1]
        key_dim, value_dim = self.head_dims(d)
        qk, v = self.heads * key_dim, self.heads * value_dim
        specs = {}
        for name, shape in (("q", (d, qk)), ("k", (d, qk)), ("v", (d, v)), ("o", (v, d))):
            specs[f"w{name}"] = ParamSpec(shape, self.kernel_init, *shape)
            if self.use_bias and name != "k":
                specs[f"b{name}"] = ParamSpec(shape[1:], "zeros", *shape)
        return specs


@dataclass(frozen=True)
class Conv1D(Layer):
    """y = act(sum over (i, c) of xpad[n, s*t + d*i, c] * kernel[i, c, o] + bias[o]) on (time, channels).

    kernel (k, in, out), Keras's layout. padding 'valid', 'same' (TF's rule: the extra step
    after) or 'causal' (span - 1 zeros before, so y[t] never sees x[t' > t]).
    """

    kind: ClassVar[str] = "conv1d"
    filters: int
    kernel: int = 3
    stride: int = 1
    padding: str = "valid"
    dilation: int = 1
    activation: str | None = None
    use_bias: bool = True
    kernel_init: str = "xavier_uniform"
    bias_init: str = "zeros"
    negative_slope: float = 0.01  # leaky_relu only

    def check(self) -> None:
        for name in ("filters", "kernel", "stride", "dilation"):
            _positive_int(self, name)
        if self.padding not in ("valid", "same", "causal"):
            raise SpecError(f"Conv1D.padding must be 'valid', 'same' or 'causal', got {self.padding!r}")
        if self.stride > 1 and self.dilation > 1:
            raise SpecError("Conv1D: stride > 1 together with dilation > 1 is refused (TF and Keras cannot run it)")
        _activation(self, self.activation)

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (time, channels)")
        steps = axis_output(self.padding, in_shape[0], self.kernel, self.stride, self.dilation)
        if steps < 1:
            span = (self.kernel - 1) * self.dilation + 1
            raise SpecError(f"Conv1D kernel span {span} is longer than its {in_shape[0]}-step input (padding='valid')")
        return (steps, self.filters)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        k, c = self.kernel, in_shape[-1]
        specs = {"kernel": ParamSpec((k, c, self.filters), self.kernel_init, k * c, k * self.filters)}
        if self.use_bias:
            specs["bias"] = ParamSpec((self.filters,), self.bias_init, k * c, k * self.filters)
        return specs


@dataclass(frozen=True)
class _Pool1D(Layer):
    pool: int = 2
    stride: int | None = None
    padding: str = "valid"

    @property
    def step(self) -> int:
        return self.stride or self.pool

    def check(self) -> None:
        _positive_int(self, "pool")
        if self.stride is not None:
            _positive_int(self, "stride")
        if self.padding not in ("valid", "same"):
            raise SpecError(f"{type(self).__name__}.padding must be 'valid' or 'same', got {self.padding!r}")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (time, channels)")
        steps = axis_output(self.padding, in_shape[0], self.pool, self.step)
        if steps < 1:
            raise SpecError(f"{type(self).__name__} window {self.pool} is longer than its {in_shape[0]}-step input")
        return (steps, in_shape[1])


@dataclass(frozen=True)
class MaxPool1D(_Pool1D):
    """y[t] = max of x over window t (padding 'same': the padded steps never win)."""

    kind: ClassVar[str] = "max_pool1d"


@dataclass(frozen=True)
class AvgPool1D(_Pool1D):
    """y[t] = mean of x over window t; with padding 'same' the mean is over the real steps only (TF's rule)."""

    kind: ClassVar[str] = "avg_pool1d"


@dataclass(frozen=True)
class _GlobalPool(Layer):
    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2, 3), "a sequence (time, channels) or an image (height, width, channels)")
        return in_shape[-1:]


@dataclass(frozen=True)
class GlobalAvgPool(_GlobalPool):
    """y[c] = mean of x[..., c] over every axis but the channels."""

    kind: ClassVar[str] = "global_avg_pool"


@dataclass(frozen=True)
class GlobalMaxPool(_GlobalPool):
    """y[c] = max of x[..., c] over every axis but the channels."""

    kind: ClassVar[str] = "global_max_pool"


@dataclass(frozen=True)
class GRU(Layer):
    """Gates in the canonical order z (update), r (reset), h (candidate), Keras's:
    x_z, x_r, x_h = x_t @ kernel + bias;  h_z, h_r, h_h = h @ recurrent_kernel (+ recurrent_bias)
    z = sigmoid(x_z + h_z), r = sigmoid(x_r + h_r)
    reset_after=True (torch, Keras 3 default):  n = tanh(x_h + r * h_h)
    reset_after=False (Keras 2 / TF1 default):  n = tanh(x_h + (r * h) @ recurrent_kernel[:, h-block])
    h_t = z * h + (1 - z) * n.  ``recurrent_bias`` exists with reset_after=True only.
    """

    kind: ClassVar[str] = "gru"
    units: int
    return_sequences: bool = False
    reset_after: bool = True
    kernel_init: str = "xavier_uniform"
    recurrent_init: str = "orthogonal"
    bias_init: str = "zeros"

    def check(self) -> None:
        _positive_int(self, "units")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (T, features)")
        return (in_shape[0], self.units) if self.return_sequences else (self.units,)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        n_in, h = in_shape[-1], self.units
        specs = {
            "kernel": ParamSpec((n_in, 3 * h), self.kernel_init, n_in, 3 * h),
            "recurrent_kernel": ParamSpec((h, 3 * h), self.recurrent_init, h, 3 * h),
            "bias": ParamSpec((3 * h,), self.bias_init, n_in, 3 * h),
        }
        if self.reset_after:
            specs["recurrent_bias"] = ParamSpec((3 * h,), self.bias_init, h, 3 * h)
        return specs


@dataclass(frozen=True)
class LastStep(Layer):
    """y = x[:, -1] (the last time step of a sequence)."""

    kind: ClassVar[str] = "last_step"

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (2,), "a sequence (T, features)")
        return in_shape[1:]


@dataclass(frozen=True)
class Residual(Layer):
    """y = x + f(x) where f is the inner stack of layers."""

    kind: ClassVar[str] = "residual"
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))

    def check(self) -> None:
        if not self.layers:
            raise SpecError("Residual needs at least one inner layer")
        for inner in self.layers:
            if not isinstance(inner, Layer):
                raise SpecError(f"Residual.layers holds a non-layer {inner!r}")
            inner.check()

    def output_shape(self, in_shape: Shape) -> Shape:
        shape = in_shape
        for inner in self.layers:
            shape = inner.output_shape(shape)
        if shape != in_shape:
            raise SpecError(f"Residual: inner layers change the shape {in_shape} -> {shape}; it must be kept")
        return in_shape

    @property
    def sublayers(self) -> tuple[Layer, ...]:
        return self.layers

    def with_sublayers(self, layers: tuple[Layer, ...]) -> Residual:
        return dataclasses.replace(self, layers=tuple(layers))

    def inner_shapes(self, in_shape: Shape) -> list[Shape]:
        """Input shape of each inner layer."""
        return [site.in_shape for site in stack(self.layers, in_shape)]

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        return self._nested(in_shape, "param_specs")

    def state_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        return self._nested(in_shape, "state_specs")

    def _nested(self, in_shape: Shape, method: str) -> dict[str, ParamSpec]:
        return {
            site.prefix + name: ps
            for site in stack(self.layers, in_shape)
            for name, ps in getattr(site.layer, method)(site.in_shape).items()
        }


@dataclass(frozen=True)
class Quadratic(Layer):
    """y = a*x^2 + b*x + c for every input row, x one trainable scalar (the roots task).

    Trained with MSE against target 0 the loss is (a*x^2 + b*x + c)^2, minimized at the
    polynomial's real roots; x starts at ``x0`` (init ``constant:x0``).
    """

    kind: ClassVar[str] = "quadratic"
    a: float = 1.0
    b: float = -5.0
    c: float = 4.0
    x0: float = 0.0

    def check(self) -> None:
        for name in ("a", "b", "c", "x0"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpecError(f"Quadratic.{name} must be a finite number, got {value!r}")
        if self.a == 0 and self.b == 0:
            raise SpecError("Quadratic: a and b are both 0, so x has nothing to find")

    def output_shape(self, in_shape: Shape) -> Shape:
        _rank(self, in_shape, (1,), "a vector (features,); its values are ignored")
        return (1,)

    def param_specs(self, in_shape: Shape) -> dict[str, ParamSpec]:
        return {"x": ParamSpec((1,), f"constant:{float(self.x0)!r}")}


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Dense,
        Activation,
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        Flatten,
        Dropout,
        BatchNorm,
        LayerNorm,
        Embedding,
        PositionalEmbedding,
        LSTM,
        GRU,
        Conv1D,
        MaxPool1D,
        AvgPool1D,
        GlobalAvgPool,
        GlobalMaxPool,
        SelfAttention,
        LastStep,
        Residual,
        Quadratic,
    )
}
