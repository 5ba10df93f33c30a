"""Importing Keras 3 models: Sequential and chain-Functional models (Add residuals, self-attention)
with trained weights reproduce the original, every backend agrees on them, and unmappable
layers are refused with one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from netparity.testing import require

keras = pytest.importorskip("keras")
from netparity.backends.porting import ImportRefused  # noqa: E402
from netparity.harness.run import run  # noqa: E402

from netparity import from_keras  # noqa: E402
from netparity.port import task_for  # noqa: E402

pytestmark = pytest.mark.keras
F64 = "float64"


@pytest.fixture(autouse=True)
def _keras() -> None:
    require("keras")
    keras.utils.set_random_seed(0)


def _numpy_forward(imported, x: np.ndarray) -> np.ndarray:
    from netparity.backends import get_backend
    from netparity.spec.recipe import Recipe

    model = get_backend("numpy").build(imported.spec, imported.params, Recipe(), dtype=F64, device="cpu")
    return model.forward(model.stage(x))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _perturb(model) -> None:
    """Move every weight (biases, BatchNorm statistics included) off its initial value."""
    rng = np.random.default_rng(1)
    for w in model.weights:
        value = np.asarray(w)
        w.assign(value + 0.2 * rng.normal(size=value.shape) + (0.5 if "variance" in w.path else 0.0))


def conv_model(dtype: str = F64):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((9, 10, 2), dtype=dtype),
            L.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
            L.BatchNormalization(dtype=dtype),
            L.MaxPooling2D(dtype=dtype),
            L.Conv2D(3, 2, strides=2, dtype=dtype),
            L.BatchNormalization(momentum=0.9, epsilon=1e-4, dtype=dtype),
            L.ReLU(dtype=dtype),
            L.Flatten(dtype=dtype),
            L.Dropout(0.25, dtype=dtype),
            L.Dense(3, activation="softmax", dtype=dtype),
        ]
    )


def attention_model(dtype: str = F64, causal: bool = True):
    L = keras.layers
    x = keras.Input((6, 8), dtype=dtype)
    h = L.LayerNormalization(epsilon=1e-5, dtype=dtype)(x)
    a = L.MultiHeadAttention(2, 4, dtype=dtype)(h, h, use_causal_mask=causal)
    y = L.Add(dtype=dtype)([h, a])
    y = L.LSTM(5, dtype=dtype)(y)
    y = L.Dense(2, dtype=dtype)(y)
    return keras.Model(x, y)


def lstm_classifier(dtype: str = F64):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((7,), dtype="int64"),
            L.Embedding(30, 8, dtype=dtype),
            L.LSTM(6, return_sequences=True, dtype=dtype),
            L.LSTM(5, dtype=dtype),
            L.Dense(4, activation="tanh", dtype=dtype),
            L.Dense(3, dtype=dtype),
        ]
    )


def _inputs(model, n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(2)
    shape = model.input_shape[1:]
    return rng.integers(0, 30, (n, *shape)) if "int" in str(model.inputs[0].dtype) else rng.normal(size=(n, *shape))


@pytest.mark.parametrize(
    "make",
    [conv_model, attention_model, lambda: attention_model(causal=False), lstm_classifier],
    ids=["conv-bn", "attention-causal", "attention", "lstm"],
)
def test_imported_models_reproduce_the_original_in_float64(make) -> None:
    model = make()
    _perturb(model)
    x = _inputs(model)
    imported = from_keras(model)
    assert _rel(_numpy_forward(imported, x), np.asarray(model(x, training=False))) <= 1e-12


def test_a_trained_float32_model_from_a_keras_file(tmp_path) -> None:
    """fit() moves the weights and BatchNorm's moving statistics; the .keras file keeps them."""
    model = conv_model("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(3)
    model.fit(rng.normal(size=(64, 9, 10, 2)), rng.integers(0, 3, 64), epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    imported = from_keras(tmp_path / "m.keras")
    bn = imported.params["2.batch_norm.moving_mean"]  # conv 0, activation 1: the first BatchNorm is layer 2
    assert np.abs(bn).max() > 1e-3
    x = _inputs(model)
    # float32 original vs float64 conversion: a few float32 roundings through two convolutions
    assert _rel(_numpy_forward(imported, x), np.asarray(model(x, training=False))) <= 1e-5


def test_every_backend_agrees_on_an_imported_keras_model() -> None:
    for b in ("torch", "tf"):
        require(b)
    model = lstm_classifier()
    _perturb(model)
    imported = from_keras(model)
    task = task_for(imported.spec, loss="cross_entropy", seed=0)
    task = dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, epochs=1))
    result = run(task, ("numpy", "torch", "tf", "keras"), dtype=F64, timing=False, params=imported.params)
    statuses = {n: (r.status, r.reason) for n, r in result.results.items()}
    assert all(s == "ok" for s, _ in statuses.values()), statuses


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.d = keras.layers.Dense(2)

    def call(self, x):
        return self.d(x)


def _branches():
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Add()([keras.layers.Dense(4)(x), keras.layers.Dense(4)(x)]))


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="exponential")]),
            "activation 'exponential'",
        ),
        (lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.SimpleRNN(3)]), "(SimpleRNN): no canonical"),
        (lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.LSTM(3, dropout=0.1)]), "dropout"),
        (lambda: keras.Sequential([keras.Input((6,)), keras.layers.Embedding(9, 4, mask_zero=True)]), "mask_zero"),
        (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.MaxPooling2D(padding="same")]), "'valid'"),
        (_branches, "adds two branches"),
        (Subclassed, "subclassed keras.Model"),
    ],
    ids=["exponential", "simple-rnn", "lstm-dropout", "mask-zero", "pool-same", "branches", "subclassed"],
)
def test_unmappable_layers_are_refused_in_one_line(make, says) -> None:
    with pytest.raises(ImportRefused) as err:
        from_keras(make())
    assert says in str(err.value) and "\n" not in str(err.value)


def test_an_unfixed_input_shape_needs_input_shape() -> None:
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(2)])
    with pytest.raises(ImportRefused, match="give --input-shape"):
        from_keras(model)
    assert from_keras(model, (5, 3)).spec.input_shape == (5, 3)


@pytest.mark.skipif(
    not {"gelu", "leaky_relu", "log_softmax"} <= set(__import__("netparity.spec.layers").spec.layers.ACTIVATIONS),
    reason="the spec lacks these activations",
)
def test_more_activations() -> None:
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((5,), dtype=F64),
            L.Dense(6, activation="gelu", dtype=F64),
            L.LeakyReLU(0.1, dtype=F64),
            L.Dense(4, activation="leaky_relu", dtype=F64),
            L.Dense(3, activation="log_softmax", dtype=F64),
        ]
    )
    _perturb(model)
    imported = from_keras(model)
    slopes = [layer.negative_slope for layer in imported.spec.layers if getattr(layer, "name", "") == "leaky_relu"]
    assert slopes == [pytest.approx(0.1), 0.2]
    x = _inputs(model) * 3
    # Keras's float64 gelu and leaky_relu round a constant through float32 (netparity.port.KERAS_FLOAT64_CHECK)
    assert _rel(_numpy_forward(imported, x), np.asarray(model(x, training=False))) <= 1e-7


@pytest.mark.skipif(
    "key_dim"
    not in {f.name for f in dataclasses.fields(__import__("netparity.spec.layers").spec.layers.SelfAttention)},
    reason="the spec's SelfAttention has no key_dim",
)
def test_attention_head_sizes_and_no_bias() -> None:
    x = keras.Input((6, 8), dtype=F64)
    a = keras.layers.MultiHeadAttention(2, 3, value_dim=5, use_bias=False, dtype=F64)(x, x, use_causal_mask=True)
    model = keras.Model(x, keras.layers.Dense(2, dtype=F64)(a))
    _perturb(model)
    imported = from_keras(model)
    layer = imported.spec.layers[0]
    assert (layer.key_dim, layer.value_dim, layer.use_bias, layer.causal) == (3, 5, False, True)
    inputs = _inputs(model)
    # Keras may round 1/sqrt(key_dim) through float32 (netparity.port.KERAS_FLOAT64_CHECK)
    assert _rel(_numpy_forward(imported, inputs), np.asarray(model(inputs, training=False))) <= 1e-7
