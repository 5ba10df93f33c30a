"""A user's Keras 3 model (``keras.Sequential``, or a Functional model that is a chain of
layers, ``x + f(x)`` residuals through ``Add`` included) as a canonical spec plus canonical
parameters and state.

Keras already is channels-last with (in, out) and HWIO kernels, so most weights are the
canonical arrays themselves; MultiHeadAttention goes through the Keras layout table
(``layout.attention_layout``), the one place that knows its per-head shapes. A layer that
cannot be mapped exactly raises ImportRefused naming the layer and why.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from netparity.backends.keras.layout import attention_layout
from netparity.backends.porting import Imported, ImportRefused, fold_bias_into_batch_norm
from netparity.spec import layers as L
from netparity.spec.errors import SpecError
from netparity.spec.model import ModelSpec

#: Keras activation function name -> canonical (None: identity). Names the spec does not list
#: (yet) are refused with a clear line; leaky_relu carries Keras's default slope (0.2).
ACTIVATION_NAMES = {"linear": None, "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "elu": "elu"}
ACTIVATION_NAMES |= {"softmax": "softmax", "log_softmax": "log_softmax", "gelu": "gelu", "silu": "silu"}
ACTIVATION_NAMES |= {"swish": "silu", "selu": "selu", "relu6": "relu6", "softsign": "softsign"}
ACTIVATION_NAMES |= {"softplus": "softplus", "hard_sigmoid": "hard_sigmoid", "hard_silu": "hard_silu"}
ACTIVATION_NAMES |= {"hard_swish": "hard_silu", "leaky_relu": "leaky_relu"}


def _np(v) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)


def _activation_layer(name: str | None, where: str, **fields: float) -> L.Layer | None:
    """The canonical Activation (None for identity); refused if the spec lacks it or a field."""
    if name is None:
        return None
    if name not in L.ACTIVATIONS:
        raise ImportRefused(f"{where}: the spec has no {name!r} activation (known: {', '.join(L.ACTIVATIONS)})")
    known = {f.name for f in dataclasses.fields(L.Activation)}
    missing = [k for k in fields if k not in known]
    if missing:
        raise ImportRefused(f"{where}: the spec's {name} has no {missing[0]} (needs {missing[0]}={fields[missing[0]]})")
    return L.Activation(name, **fields)


def _activation(fn, where: str) -> L.Layer | None:
    name = getattr(fn, "__name__", str(fn))
    if name not in ACTIVATION_NAMES:
        raise ImportRefused(f"{where}: activation {name!r} has no canonical counterpart")
    extra = {"negative_slope": 0.2} if name == "leaky_relu" else {}  # keras.activations.leaky_relu's default
    return _activation_layer(ACTIVATION_NAMES[name], where, **extra)


def _with_activation(layer: L.Layer, params: dict, act: L.Layer | None) -> list[tuple[L.Layer, dict]]:
    return [(layer, params)] + ([(act, {})] if act is not None else [])


def _int_or_pair(value) -> int | tuple[int, int]:
    """A Keras size (int or tuple) as the spec writes it: one int when every axis agrees."""
    value = tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)
    return value[0] if len(set(value)) == 1 else (value[0], value[1])


def _checked(layer: L.Layer, shape: tuple[int, ...], where: str) -> L.Layer:
    """The spec layer, with the spec's own refusal (e.g. stride with dilation) as an ImportRefused."""
    try:
        layer.check()
        layer.output_shape(shape)
    except SpecError as err:
        raise ImportRefused(f"{where}: {err}") from None
    return layer


def _weights(layer) -> dict[str, np.ndarray]:
    return {"kernel": _np(layer.kernel)} | ({"bias": _np(layer.bias)} if layer.use_bias else {})


def convert_layer(layer: keras.layers.Layer, shape: tuple[int, ...], call_kwargs: dict) -> list[tuple[L.Layer, dict]]:
    """One Keras layer (input ``shape``, no batch axis) as spec layers with canonical params."""
    kind = type(layer).__name__
    where = f"layer {layer.name} ({kind})"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ImportRefused(f"{where}: data_format={layer.data_format!r}; only channels_last maps")
    if kind == "Dense":
        if len(shape) not in (1, 2):
            raise ImportRefused(f"{where}: on a {len(shape)}-D input; the canonical Dense takes vectors or sequences")
        params = {"kernel": _np(layer.kernel)} | ({"bias": _np(layer.bias)} if layer.use_bias else {})
        act = _activation(layer.activation, where)
        return _with_activation(L.Dense(layer.units, use_bias=layer.use_bias), params, act)
    if kind == "Conv2D":  # kernel (kh, kw, in / groups, out): the canonical layout, grouped or not
        conv = L.Conv2D(
            layer.filters,
            _int_or_pair(layer.kernel_size),
            _int_or_pair(layer.strides),
            layer.padding,
            use_bias=layer.use_bias,
            dilation=_int_or_pair(layer.dilation_rate),
            groups=layer.groups,
        )
        return _with_activation(_checked(conv, shape, where), _weights(layer), _activation(layer.activation, where))
    if kind == "DepthwiseConv2D":
        conv, params = _depthwise(layer, layer.kernel, layer.use_bias, shape, where)
        params |= {"bias": _np(layer.bias)} if layer.use_bias else {}
        return _with_activation(conv, params, _activation(layer.activation, where))
    if kind == "SeparableConv2D":  # a depthwise convolution without bias, then a 1x1 Conv2D with it
        depthwise, params = _depthwise(layer, layer.depthwise_kernel, False, shape, where)
        pointwise = _checked(L.Conv2D(layer.filters, 1, use_bias=layer.use_bias), depthwise.output_shape(shape), where)
        point_params = {"kernel": _np(layer.pointwise_kernel)} | ({"bias": _np(layer.bias)} if layer.use_bias else {})
        act = _activation(layer.activation, where)
        return [(depthwise, params), *_with_activation(pointwise, point_params, act)]
    if kind == "Conv1D":  # kernel (k, in, out): canonical; 'causal' pads (k - 1) * dilation before, as the spec
        if layer.groups != 1:
            raise ImportRefused(f"{where}: groups={layer.groups}; the canonical Conv1D has no groups (Conv2D has)")
        (k,), (stride,), (dilation,) = layer.kernel_size, layer.strides, layer.dilation_rate
        conv = L.Conv1D(layer.filters, k, stride, layer.padding, dilation, use_bias=layer.use_bias)
        return _with_activation(_checked(conv, shape, where), _weights(layer), _activation(layer.activation, where))
    if kind in ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D"):
        # 'same' is TF's rule in every Keras engine: -inf (max) or left out of the mean (average)
        pool, stride = _int_or_pair(layer.pool_size), _int_or_pair(layer.strides or layer.pool_size)
        cls = {"MaxPooling2D": L.MaxPool2D, "AveragePooling2D": L.AvgPool2D}.get(kind)
        cls = cls or {"MaxPooling1D": L.MaxPool1D, "AveragePooling1D": L.AvgPool1D}[kind]
        return [(_checked(cls(pool, stride if stride != pool else None, layer.padding), shape, where), {})]
    if kind in ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D"):
        if layer.keepdims:
            raise ImportRefused(f"{where}: keepdims=True; the canonical global pool drops the pooled axes")
        if len(shape) != int(kind[-2]) + 1:
            raise ImportRefused(f"{where}: on input shape {shape}")
        return [(L.GlobalAvgPool() if "Average" in kind else L.GlobalMaxPool(), {})]
    if kind == "Flatten":
        return [(L.Flatten(), {})]
    if kind == "Dropout":
        if layer.noise_shape is not None:
            raise ImportRefused(f"{where}: noise_shape drops whole slices; the canonical Dropout drops units")
        return [(L.Dropout(float(layer.rate)), {})] if layer.rate > 0 else []
    if kind == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        if axis not in (-1, len(shape)) or not (layer.center and layer.scale) or layer.renorm:
            raise ImportRefused(f"{where}: only axis=-1 with center, scale and no renorm maps")
        params = {
            "gamma": _np(layer.gamma),
            "beta": _np(layer.beta),
            "moving_mean": _np(layer.moving_mean),
            "moving_var": _np(layer.moving_variance),
        }
        return [(L.BatchNorm(float(layer.momentum), float(layer.epsilon)), params)]
    if kind == "LayerNormalization":
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if [a % (len(shape) + 1) for a in axes] != [len(shape)] or not (layer.center and layer.scale):
            raise ImportRefused(f"{where}: only axis=-1 with center and scale maps")
        if getattr(layer, "rms_scaling", False):
            raise ImportRefused(f"{where}: rms_scaling=True has no canonical counterpart")
        return [(L.LayerNorm(float(layer.epsilon)), {"gamma": _np(layer.gamma), "beta": _np(layer.beta)})]
    if kind == "Embedding":
        if layer.mask_zero:
            raise ImportRefused(f"{where}: mask_zero=True masks later layers; the spec has no masks")
        return [(L.Embedding(layer.input_dim, layer.output_dim), {"embeddings": _np(layer.embeddings)})]
    if kind == "LSTM":
        return [_lstm(layer, where)]
    if kind == "GRU":
        return [_gru(layer, where)]
    if kind == "MultiHeadAttention":
        return [_attention(layer, shape, call_kwargs, where)]
    if kind == "Activation":
        act = _activation(layer.activation, where)
        return [(act, {})] if act is not None else []
    if kind == "LeakyReLU":
        return [(_activation_layer("leaky_relu", where, negative_slope=float(layer.negative_slope)), {})]
    if kind == "ReLU":
        if layer.threshold:
            raise ImportRefused(f"{where}: threshold={layer.threshold}; the canonical relu has none")
        if layer.max_value is None and not layer.negative_slope:
            return [(L.Activation("relu"), {})]
        if layer.max_value is None:  # x if x > 0 else negative_slope * x
            return [(_activation_layer("leaky_relu", where, negative_slope=float(layer.negative_slope)), {})]
        if float(layer.max_value) == 6.0 and not layer.negative_slope:
            return [(L.Activation("relu6"), {})]
        raise ImportRefused(
            f"{where}: max_value={layer.max_value}, negative_slope={layer.negative_slope}; only relu, relu6 "
            "(max_value 6) and leaky_relu (negative_slope) map"
        )
    if kind == "Softmax":
        if layer.axis not in (-1, len(shape)):
            raise ImportRefused(f"{where}: axis={layer.axis}; only the last axis maps")
        return [(L.Activation("softmax"), {})]
    if kind == "ELU":
        if float(layer.alpha) != 1.0:
            raise ImportRefused(f"{where}: alpha={layer.alpha}; the canonical elu has alpha 1")
        return [(L.Activation("elu"), {})]
    raise ImportRefused(f"{where}: no canonical layer for it")


def _recurrent_checks(layer, where: str) -> None:
    cell, kind = layer.cell, type(layer).__name__
    if layer.return_state or layer.go_backwards or layer.stateful:
        raise ImportRefused(f"{where}: return_state, go_backwards and stateful have no canonical counterpart")
    if not cell.use_bias:
        raise ImportRefused(f"{where}: use_bias=False; the canonical {kind} has a bias")
    if cell.dropout or cell.recurrent_dropout:
        raise ImportRefused(f"{where}: dropout/recurrent_dropout inside the {kind} has no canonical counterpart")
    act, rec = getattr(cell.activation, "__name__", ""), getattr(cell.recurrent_activation, "__name__", "")
    if (act, rec) != ("tanh", "sigmoid"):
        raise ImportRefused(f"{where}: activations ({act}, {rec}); the canonical {kind} uses (tanh, sigmoid)")


def _depthwise(layer, kernel, use_bias: bool, shape, where: str) -> tuple[L.Conv2D, dict]:
    """A depthwise kernel (kh, kw, in, multiplier) as the canonical grouped Conv2D: output
    channel c * multiplier + m sees input channel c, so the kernel reshapes to
    (kh, kw, 1, in * multiplier) with groups = in."""
    kh, kw, c, mult = kernel.shape
    conv = L.Conv2D(
        c * mult,
        _int_or_pair(layer.kernel_size),
        _int_or_pair(layer.strides),
        layer.padding,
        use_bias=use_bias,
        dilation=_int_or_pair(layer.dilation_rate),
        groups=c,
    )
    return _checked(conv, shape, where), {"kernel": _np(kernel).reshape(kh, kw, 1, c * mult)}


def _gru(layer, where: str) -> tuple[L.Layer, dict]:
    """Keras's GRU gates (z, r, h) are the canonical order, in both conventions. reset_after
    holds its two biases as one (2, 3H) variable: row 0 the input bias, row 1 the recurrent one."""
    _recurrent_checks(layer, where)
    cell = layer.cell
    params = {"kernel": _np(cell.kernel), "recurrent_kernel": _np(cell.recurrent_kernel)}
    bias = _np(cell.bias)
    if cell.reset_after:
        params |= {"bias": bias[0], "recurrent_bias": bias[1]}
    else:
        params["bias"] = bias
    return L.GRU(cell.units, return_sequences=layer.return_sequences, reset_after=cell.reset_after), params


def _lstm(layer, where: str) -> tuple[L.Layer, dict]:
    _recurrent_checks(layer, where)
    cell = layer.cell
    params = {
        "kernel": _np(cell.kernel),
        "recurrent_kernel": _np(cell.recurrent_kernel),
        "bias": _np(cell.bias),
    }
    return L.LSTM(cell.units, return_sequences=layer.return_sequences), params


def _attention(layer, shape, call_kwargs: dict, where: str) -> tuple[L.Layer, dict]:
    heads, d = layer.num_heads, shape[-1]
    if len(shape) != 2:
        raise ImportRefused(f"{where}: expects a sequence (T, features), got {shape}")
    key_dim, value_dim = layer.key_dim, layer.value_dim or layer.key_dim
    sizes = {}
    if key_dim * heads != d or value_dim != key_dim:
        sizes = {"key_dim": key_dim, "value_dim": value_dim}
    if not layer.use_bias:
        sizes["use_bias"] = False
    if layer.dropout or layer._output_shape is not None:
        raise ImportRefused(f"{where}: dropout or output_shape have no canonical counterpart")
    extra = {k for k, v in call_kwargs.items() if v not in (None, False) and k != "use_causal_mask"}
    if extra:
        raise ImportRefused(f"{where}: called with {sorted(extra)}; only use_causal_mask maps")
    dense = {"q": layer.query_dense, "k": layer.key_dense, "v": layer.value_dense, "o": layer.output_dense}
    params = {}
    for p, sub in dense.items():
        params[f"w{p}"] = attention_layout(f"w{p}", heads).from_native(_np(sub.kernel))
        if p != "k" and layer.use_bias:  # a key bias shifts every score of a query equally: softmax ignores it
            params[f"b{p}"] = attention_layout(f"b{p}", heads).from_native(_np(sub.bias))
    return L.SelfAttention(heads, causal=bool(call_kwargs.get("use_causal_mask", False)), **sizes), params


# --- the model's structure ---------------------------------------------------------------


def _history(tensor):
    layer, node_index, _ = tensor._keras_history
    return layer, layer._inbound_nodes[node_index]


def _ancestor(a, b) -> bool:
    """Whether KerasTensor ``a`` is ``b`` or feeds it."""
    todo, seen = [b], set()
    while todo:
        t = todo.pop()
        if t is a:
            return True
        if id(t) in seen:
            continue
        seen.add(id(t))
        _, node = _history(t)
        todo += list(node.input_tensors)
    return False


def _chain(src, dst) -> list:
    """(layer, call kwargs) from KerasTensor src (excluded) to dst; Add(x, f(x)) is ('residual', skip, body)."""
    out, t = [], dst
    while t is not src:
        layer, node = _history(t)
        inputs = list(dict.fromkeys(node.input_tensors))
        where = f"layer {layer.name} ({type(layer).__name__})"
        if type(layer).__name__ == "InputLayer":
            raise ImportRefused(f"{where}: the model is not a chain from one input")
        if type(layer).__name__ == "Add" and len(inputs) == 2:
            a, b = inputs
            skip, body = (a, b) if _ancestor(a, b) else (b, a) if _ancestor(b, a) else (None, None)
            if skip is None:
                raise ImportRefused(f"{where}: adds two branches; only x + f(x) maps")
            out.append(("residual", skip, body, where))
            t = skip
            continue
        if len(inputs) != 1:
            raise ImportRefused(f"{where}: takes {len(inputs)} tensors; only chains of one-input layers map")
        kwargs = dict(node.arguments.kwargs) if node.arguments else {}
        out.append((layer, kwargs))
        t = inputs[0]
    return out[::-1]


def _read(src, dst, shape) -> tuple[list[tuple[L.Layer, dict]], tuple[int, ...]]:
    steps = []
    for item in _chain(src, dst):
        if item[0] == "residual":
            _, skip, body, where = item
            inner, inner_shape = _read(skip, body, shape)
            if inner_shape != shape or not inner:
                raise ImportRefused(f"{where}: x + f(x) where f changes the shape or is empty")
            params = {}
            for j, (layer, p) in enumerate(inner):
                params |= {f"{j}.{layer.kind}.{k}": v for k, v in p.items()}
            steps.append((L.Residual(tuple(layer for layer, _ in inner)), params))
            continue
        layer, kwargs = item
        for spec_layer, params in convert_layer(layer, shape, kwargs):
            steps.append((spec_layer, params))
            shape = spec_layer.output_shape(shape)
    return steps, shape


def import_model(model: keras.Model, input_shape: tuple[int, ...] | None = None) -> Imported:
    """``model`` as a canonical spec and parameters (float64)."""
    if not isinstance(model, keras.Model):
        raise ImportRefused(f"expected a keras.Model, got {type(model).__name__}")
    name = type(model).__name__
    if isinstance(model, keras.Sequential):
        layers = [x for x in model.layers if type(x).__name__ != "InputLayer"]
        shape = _input_shape(model, input_shape)
        steps = []
        for layer in layers:
            for spec_layer, params in convert_layer(layer, shape, {}):
                steps.append((spec_layer, params))
                shape = spec_layer.output_shape(shape)
    elif type(model).__name__ == "Functional":
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ImportRefused(
                f"{model.name}: {len(model.inputs)} inputs and {len(model.outputs)} outputs; only 1 and 1 map"
            )
        shape = _input_shape(model, input_shape)
        steps, _ = _read(model.inputs[0], model.outputs[0], shape)
    else:
        raise ImportRefused(f"{name}: a subclassed keras.Model has no graph to read; use Sequential or Functional")
    steps = fold_bias_into_batch_norm(steps)
    if not steps:
        raise ImportRefused(f"{model.name}: no layers to import")
    spec = ModelSpec(_input_shape(model, input_shape), tuple(s for s, _ in steps))
    params = {}
    for info, (_, p) in zip(spec.infer(), steps, strict=True):
        params |= {f"{info.name}.{k}": np.asarray(v, dtype=np.float64) for k, v in p.items()}
    layout = (
        "tokens" if spec.integer_inputs else {1: "features", 2: "sequence", 3: "NHWC"}.get(len(spec.input_shape), "")
    )
    return Imported(spec, params, layout, model.name)


def _input_shape(model: keras.Model, given: tuple[int, ...] | None) -> tuple[int, ...]:
    try:
        shape = tuple(model.input_shape[1:])
    except (AttributeError, ValueError):
        shape = None
    if shape and all(d is not None for d in shape):
        if given is not None and tuple(given) != shape:
            raise ImportRefused(f"{model.name}: --input-shape {tuple(given)} differs from the model's {shape}")
        return shape
    if given is None:
        raise ImportRefused(f"{model.name}: its input shape is not fixed ({shape}); give --input-shape")
    return tuple(int(d) for d in given)


def load(path: str) -> keras.Model:
    """A .keras file, loaded with safe_mode (no Lambda code runs)."""
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except FileNotFoundError:
        raise SpecError(f"--model {path}: no such file") from None
    except Exception as err:
        raise SpecError(f"--model {path}: not a loadable Keras 3 model: {' '.join(str(err).split())[:300]}") from None


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The original model's inference outputs on ``x`` (float64 NumPy)."""
    return np.asarray(model(x, training=False), dtype=np.float64)
