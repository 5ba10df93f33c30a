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
        (
            lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.GlobalAveragePooling2D(keepdims=True)]),
            "keepdims=True",
        ),
        (_branches, "adds two branches"),
        (Subclassed, "subclassed keras.Model"),
    ],
    ids=["exponential", "simple-rnn", "lstm-dropout", "mask-zero", "global-pool-keepdims", "branches", "subclassed"],
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


# --- issue 14's layers: GRU, Conv1D, 1-D and global pooling, conv and pool options ---------


def gru_model(dtype: str = F64):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((6, 3), dtype=dtype),
            L.GRU(5, return_sequences=True, dtype=dtype),  # reset_after=True: a (2, 3H) bias
            L.GRU(4, return_sequences=True, reset_after=False, dtype=dtype),
            L.GRU(3, dtype=dtype),
            L.Dense(2, dtype=dtype),
        ]
    )


def signal_model(dtype: str = F64, head: str = "avg"):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((17, 2), dtype=dtype),
            L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="selu", dtype=dtype),
            L.Conv1D(5, 4, strides=2, padding="same", dtype=dtype),
            L.BatchNormalization(dtype=dtype),
            L.Activation("softplus", dtype=dtype),
            L.MaxPooling1D(3, 2, padding="same", dtype=dtype),
            L.AveragePooling1D(2, padding="same", dtype=dtype),  # TF's rule: the padded step is left out
            L.Conv1D(3, 2, activation="silu", dtype=dtype),
            L.GlobalAveragePooling1D(dtype=dtype) if head == "avg" else L.GlobalMaxPooling1D(dtype=dtype),
            L.Dense(2, dtype=dtype),
        ]
    )


def image_model(dtype: str = F64, head: str = "max"):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((9, 11, 4), dtype=dtype),
            L.Conv2D(6, 3, dilation_rate=2, padding="same", groups=2, activation="softsign", dtype=dtype),
            L.Conv2D(6, 3, groups=6, strides=(1, 2), padding="same", dtype=dtype),
            L.DepthwiseConv2D((2, 3), depth_multiplier=2, activation="relu6", dtype=dtype),
            L.MaxPooling2D((2, 3), strides=(1, 2), padding="same", dtype=dtype),
            L.AveragePooling2D(3, strides=2, padding="same", dtype=dtype),
            L.SeparableConv2D(5, 2, depth_multiplier=2, padding="same", activation="tanh", dtype=dtype),
            L.ReLU(max_value=6.0, dtype=dtype),
            L.GlobalMaxPooling2D(dtype=dtype) if head == "max" else L.GlobalAveragePooling2D(dtype=dtype),
            L.Dense(3, activation="hard_sigmoid", dtype=dtype),
        ]
    )


def text_cnn(dtype: str = F64):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((11,), dtype="int64"),
            L.Embedding(30, 6, dtype=dtype),
            L.Conv1D(5, 3, strides=2, activation="relu", dtype=dtype),
            L.GlobalMaxPooling1D(dtype=dtype),
            L.Dense(3, activation="log_softmax", dtype=dtype),
        ]
    )


ISSUE14 = {
    "gru": (gru_model, ["gru"]),
    "conv1d-avg": (signal_model, ["conv1d", "max_pool1d", "avg_pool1d", "global_avg_pool"]),
    "conv1d-max": (lambda: signal_model(head="max"), ["global_max_pool"]),
    "image-max": (image_model, ["conv2d", "max_pool2d", "avg_pool2d", "global_max_pool"]),
    "separable": (
        lambda: keras.Sequential(
            [
                keras.Input((7, 8, 3), dtype=F64),
                keras.layers.SeparableConv2D(4, 3, depth_multiplier=2, strides=2, dtype=F64),
                keras.layers.Flatten(dtype=F64),
                keras.layers.Dense(2, dtype=F64),
            ]
        ),
        ["conv2d", "flatten"],
    ),
    "image-avg": (lambda: image_model(head="avg"), ["global_avg_pool"]),
    "text-cnn": (text_cnn, ["embedding", "conv1d", "global_max_pool"]),
}


@pytest.mark.parametrize("case", list(ISSUE14))
def test_issue14_layers_reproduce_the_original_in_float64(case: str) -> None:
    make, kinds = ISSUE14[case]
    model = make()
    _perturb(model)
    imported = from_keras(model)
    assert set(kinds) <= {layer.kind for layer in imported.spec.layers}, imported.spec.layers
    x = _inputs(model)
    x = x * 2 if x.dtype.kind == "f" else x  # values beyond N(0, 1) reach every activation's tails
    assert _rel(_numpy_forward(imported, x), np.asarray(model(x, training=False))) <= 1e-12


def test_gru_biases_and_conv_options_come_through() -> None:
    model = gru_model()
    _perturb(model)
    imported = from_keras(model)
    first, second = imported.spec.layers[:2]
    assert (first.reset_after, second.reset_after) == (True, False)
    packed = np.asarray(model.layers[0].cell.bias)  # (2, 3H): row 0 input, row 1 recurrent
    np.testing.assert_array_equal(imported.params["0.gru.bias"], packed[0])
    np.testing.assert_array_equal(imported.params["0.gru.recurrent_bias"], packed[1])
    assert "1.gru.recurrent_bias" not in imported.params
    image = from_keras(image_model()).spec.layers
    assert (image[0].dilation, image[0].groups, image[0].padding) == (2, 2, "same")
    depthwise = next(layer for layer in image if layer.kind == "conv2d" and layer.kernel == (2, 3))
    assert (depthwise.filters, depthwise.groups) == (12, 6)
    pool = next(layer for layer in image if layer.kind == "max_pool2d")
    assert (pool.pool, pool.stride, pool.padding) == ((2, 3), (1, 2), "same")
    separable = from_keras(ISSUE14["separable"][0]()).spec.layers
    assert [(c.filters, c.kernel, c.stride, c.groups, c.use_bias) for c in separable[:2]] == [
        (6, 3, 2, 3, False),  # depthwise: no bias of its own
        (4, 1, 1, 1, True),  # pointwise 1x1 with the layer's bias
    ]
    signal = from_keras(signal_model()).spec.layers
    assert [c.padding for c in signal if c.kind == "conv1d"] == ["causal", "same", "valid"]
    # the strided Conv1D's bias sits right before BatchNormalization: folded into its moving mean
    assert [c.use_bias for c in signal if c.kind == "conv1d"] == [True, False, True]


def test_depthwise_kernel_layout_matters() -> None:
    """A depthwise kernel (kh, kw, in, multiplier) read as (kh, kw, multiplier, in) is wrong."""
    L = keras.layers
    model = keras.Sequential([keras.Input((6, 7, 3), dtype=F64), L.DepthwiseConv2D(3, depth_multiplier=2, dtype=F64)])
    _perturb(model)
    imported = from_keras(model)
    x = _inputs(model)
    expected = np.asarray(model(x, training=False))
    assert _rel(_numpy_forward(imported, x), expected) <= 1e-12
    kernel = np.asarray(model.layers[0].kernel)
    wrong = dict(imported.params, **{"0.conv2d.kernel": kernel.transpose(0, 1, 3, 2).reshape(3, 3, 1, 6)})
    assert _rel(_numpy_forward(type(imported)(imported.spec, wrong, "NHWC", ""), x), expected) > 1e-2


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.GRU(3, dropout=0.1)]), "dropout"),
        (lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.GRU(3, use_bias=False)]), "use_bias=False"),
        (lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.GRU(3, go_backwards=True)]), "go_backwards"),
        (
            lambda: keras.Sequential([keras.Input((6, 4)), keras.layers.GRU(3, recurrent_activation="hard_sigmoid")]),
            "activations (tanh, hard_sigmoid)",
        ),
        (lambda: keras.Sequential([keras.Input((9, 4)), keras.layers.Conv1D(4, 3, groups=2)]), "groups=2"),
        (lambda: keras.Sequential([keras.Input((5,)), keras.layers.ReLU(max_value=3.0)]), "max_value=3.0"),
        (lambda: keras.Sequential([keras.Input((5,)), keras.layers.ReLU(threshold=0.5)]), "threshold=0.5"),
        (
            lambda: keras.Sequential([keras.Input((9, 4)), keras.layers.GlobalAveragePooling1D(keepdims=True)]),
            "keepdims=True",
        ),
    ],
    ids=[
        "gru-dropout",
        "gru-no-bias",
        "gru-backwards",
        "gru-hard-sigmoid",
        "conv1d-groups",
        "relu-max3",
        "relu-threshold",
        "keepdims",
    ],
)
def test_issue14_layers_that_do_not_map_are_refused_in_one_line(make, says) -> None:
    with pytest.raises(ImportRefused) as err:
        from_keras(make())
    assert says in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["gru", "conv1d-avg", "image-max"])
def test_issue14_models_export_and_round_trip(tmp_path, case: str) -> None:
    """Imported, exported in float64 (model.keras, torch_model.pt2), each artifact reloaded in a
    fresh process within 1e-10 of the reference; the model.keras file, loaded here, reproduces
    the original Keras model."""
    require("torch")
    from netparity import export

    make, _ = ISSUE14[case]
    model = make()
    _perturb(model)
    imported = from_keras(model)
    x = _inputs(model, 16) * 2
    checks = export(imported.spec, imported.params, tmp_path, dtype=F64, probe=x, frameworks=["keras", "torch"])
    assert {c.framework: c.status for c in checks} == {"keras": "ok", "torch": "ok"}, checks
    assert all(c.rel_output <= 1e-10 for c in checks), checks
    import netparity.backends.keras.layers  # noqa: F401  (the few netparity layers a file may hold)

    reloaded = keras.saving.load_model(str(tmp_path / "model.keras"), compile=False, safe_mode=True)
    expected = np.asarray(model(x, training=False))
    assert _rel(np.asarray(reloaded(x, training=False)), expected) <= 1e-12
