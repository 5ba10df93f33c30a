"""Export a spec with its weights as a Keras 3 ``model.keras`` of stock layers.

The model is Functional so that SelfAttention (``MultiHeadAttention(x, x)``) and Residual
(``Add``) need no custom class: loading it takes ``keras.saving.load_model`` alone for every
layer Keras has. The netparity backend's builders give the layers whose stock Keras layer
already is the canonical formula (Dense, Conv2D, pools, Flatten, BatchNormalization,
LayerNormalization, LSTM); the layers it wraps for training-time parity (shared Dropout masks,
dense Embedding gradients) are swapped for their stock counterparts, which compute the same
inference. Layers Keras lacks (PositionalEmbedding, ...) keep netparity's registered class:
such a file loads once ``netparity.backends.keras`` is imported. Inputs are canonical (NHWC).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
from netparity.backends.base import Binding
from netparity.backends.keras.engines import engine_for
from netparity.backends.keras.layers import Ctx, build_layer
from netparity.backends.keras.layout import attention_layout
from netparity.spec import layers as L
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe

ARTIFACT = "model.keras"


def _name(prefix: str) -> str:
    return prefix.rstrip(".").replace(".", "_")


def _apply(layer: L.Layer, x, prefix: str, shape: tuple[int, ...], dtype: str) -> tuple[object, list]:
    """Apply one spec layer to KerasTensor ``x``; returns (y, binders: callables -> bindings)."""
    if isinstance(layer, L.Dropout):
        return keras.layers.Dropout(layer.rate, dtype=dtype, name=_name(prefix))(x), []
    if isinstance(layer, L.Embedding):
        native = keras.layers.Embedding(layer.vocab, layer.dim, dtype=dtype, name=_name(prefix))
        y = native(x)
        return y, [lambda: [Binding(prefix + "embeddings", native.embeddings)]]
    if isinstance(layer, L.SelfAttention):
        d = shape[-1]
        key_dim, value_dim = layer.head_dims(d) if hasattr(layer, "head_dims") else (d // layer.heads,) * 2
        use_bias = getattr(layer, "use_bias", True)
        mha = keras.layers.MultiHeadAttention(
            layer.heads, key_dim=key_dim, value_dim=value_dim, use_bias=use_bias, dtype=dtype, name=_name(prefix)
        )
        y = mha(x, x, use_causal_mask=layer.causal)

        def binder() -> list[Binding]:
            dense = {"q": mha.query_dense, "k": mha.key_dense, "v": mha.value_dense, "o": mha.output_dense}
            binds = []
            for p, sub in dense.items():
                binds.append(Binding(prefix + f"w{p}", sub.kernel, attention_layout(f"w{p}", layer.heads)))
                if p != "k" and use_bias:
                    binds.append(Binding(prefix + f"b{p}", sub.bias, attention_layout(f"b{p}", layer.heads)))
            if use_bias:  # no canonical key bias
                mha.key_dense.bias.assign(np.zeros(mha.key_dense.bias.shape, dtype=dtype))
            return binds

        return y, [binder]
    if isinstance(layer, L.Residual):
        y, binders = x, []
        for j, (inner, inner_shape) in enumerate(zip(layer.layers, layer.inner_shapes(shape), strict=True)):
            y, b = _apply(inner, y, f"{prefix}{j}.{inner.kind}.", inner_shape, dtype)
            binders += b
        return keras.layers.Add(dtype=dtype, name=_name(prefix))([x, y]), binders
    if isinstance(layer, L.LastStep):
        return x[:, -1], []
    if isinstance(layer, L.Activation):
        stock = _stock_activation(layer.name, getattr(layer, "negative_slope", 0.0), dtype)
        if stock is not None:
            return stock(x), []
    act = getattr(layer, "activation", None)
    if type(layer).__name__ in ("Dense", "Conv1D", "Conv2D") and act not in (None, "identity"):
        stock = _stock_activation(act, getattr(layer, "negative_slope", 0.0), dtype)
        if stock is not None:  # the layer without its activation, then a stock activation layer
            y, binders = _apply(dataclasses.replace(layer, activation=None), x, prefix, shape, dtype)
            return stock(y), binders
    engine = engine_for(keras.config.backend())  # the engine this process runs Keras on
    native, binder = build_layer(layer, Ctx(prefix, shape, dtype, Recipe(), engine))
    return native(x), [binder]


#: canonical activations Keras has no name for (they keep the backend's own builder)
NO_STOCK_NAME = ("gelu_tanh",)


def _stock_activation(name: str, negative_slope: float, dtype: str) -> keras.layers.Layer | None:
    """A stock Keras layer computing the canonical activation ``name`` (None if Keras lacks one).
    Keras's own gelu/leaky_relu round a constant through float32 even in float64 (the
    training backend swaps in exact formulas; an exported file keeps the stock ones)."""
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=negative_slope, dtype=dtype)
    if name in NO_STOCK_NAME:
        return None
    return keras.layers.Activation("linear" if name == "identity" else name, dtype=dtype)


def _one_lstm_bias(spec: ModelSpec, params: dict[str, np.ndarray]) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """An LSTM with torch's second bias (``recurrent_bias``) as a stock Keras LSTM: the two
    biases always enter the gates summed, so for inference one bias holding their sum is exact."""
    layers, params = list(spec.layers), dict(params)
    for info in spec.infer():
        if isinstance(info.layer, L.LSTM) and getattr(info.layer, "recurrent_bias", False):
            layers[info.index] = dataclasses.replace(info.layer, recurrent_bias=False)
            params[f"{info.name}.bias"] = params[f"{info.name}.bias"] + params.pop(f"{info.name}.recurrent_bias")
    return ModelSpec(spec.input_shape, tuple(layers)), params


def keras_model(spec: ModelSpec, params: dict[str, np.ndarray], dtype: str = "float32") -> keras.Model:
    """The spec as a Functional Keras model holding ``params`` (canonical)."""
    spec, params = _one_lstm_bias(spec, params)
    inputs = keras.Input(spec.input_shape, dtype="int64" if spec.integer_inputs else dtype, name="x")
    x, binders = inputs, []
    for info in spec.infer():
        x, b = _apply(info.layer, x, info.name + ".", info.in_shape, dtype)
        binders += b
    model = keras.Model(inputs, x, name="netparity_export")
    bindings = [b for binder in binders for b in binder()]
    values: dict[int, np.ndarray] = {}  # a packed variable (a GRU's (2, 3H) bias) gets all its parts, then one assign
    for b in bindings:
        native = b.layout.to_native(params[b.name]).astype(dtype)
        if b.part is None:
            values[id(b.native)] = native
        else:
            values.setdefault(id(b.native), np.array(keras.ops.convert_to_numpy(b.native)))[b.part] = native
    for b in bindings:
        b.native.assign(values[id(b.native)])
    return model


def save(spec: ModelSpec, params: dict[str, np.ndarray], directory: Path, dtype: str = "float32") -> Path:
    path = Path(directory) / ARTIFACT
    keras_model(spec, params, dtype).save(str(path))
    return path


def predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Load the .keras file (safe_mode: no Lambda code) and predict on canonical ``x``."""
    import netparity.backends.keras.layers  # noqa: F401  (registers the few netparity layers a file may hold)

    model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    return np.asarray(model(np.asarray(x), training=False))
