"""Importing PyTorch models: the converted spec reproduces the original on real inputs, the
NCHW Flatten permutation and BatchNorm running statistics come along, every backend agrees
on the imported model, and unmappable constructs are refused with one line."""

from __future__ import annotations

import numpy as np
import pytest

from netparity.testing import require

torch = pytest.importorskip("torch")
from netparity.backends.porting import ImportRefused  # noqa: E402
from netparity.harness.run import run  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from netparity import from_torch, load_params, save_params  # noqa: E402
from netparity.port import task_for  # noqa: E402

pytestmark = pytest.mark.torch


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, momentum=0.2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc1 = nn.Linear(6 * 2 * 4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        x = F.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln, self.fc = nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc(torch.tanh(self.ln(x)))


class TextModel(nn.Module):
    """Embedding, LSTM, causal self-attention residual, last step, Linear."""

    def __init__(self, causal: bool = True) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.causal = causal
        self.register_buffer("mask", torch.triu(torch.ones(5, 5, dtype=torch.bool), 1))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        if self.causal:
            h = h + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
        else:
            h = h + self.attn(h, h, h, need_weights=False)[0]
        return self.head(h[:, -1])


class LastHidden(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm, self.fc = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return F.softmax(self.fc(h[-1]), dim=-1)


def _trained(module: nn.Module, x: torch.Tensor) -> nn.Module:
    """Perturb every parameter and run a few training-mode batches, so biases and BatchNorm
    running statistics are far from their defaults."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        module.train()
        for _ in range(3):
            module(x)
    return module.eval()


def _numpy_forward(imported, x: np.ndarray) -> np.ndarray:
    from netparity.backends import get_backend
    from netparity.spec.recipe import Recipe

    model = get_backend("numpy").build(imported.spec, imported.params, Recipe(), dtype="float64", device="cpu")
    return model.forward(model.stage(x))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_lenet_nchw_matches_the_original_and_needs_the_flatten_permutation() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2, 8, 12))  # H != W: a transposed spatial axis would show
    model = _trained(LeNet().double(), torch.from_numpy(x)).double()
    imported = from_torch(model, (2, 8, 12))
    assert imported.input_layout == "NCHW" and imported.spec.input_shape == (8, 12, 2)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = _numpy_forward(imported, x.transpose(0, 2, 3, 1))
    assert _rel(got, expected) <= 1e-12
    # Without the permutation (torch's Linear columns taken as they are) the model is wrong:
    fc1 = next(name for name in imported.params if name.endswith("dense.kernel"))
    naive = dict(imported.params, **{fc1: model.fc1.weight.detach().numpy().T})
    wrong = _numpy_forward(type(imported)(imported.spec, naive, "NCHW", ""), x.transpose(0, 2, 3, 1))
    assert _rel(wrong, expected) > 1e-2


def test_batchnorm_running_statistics_and_momentum_come_along() -> None:
    torch.manual_seed(1)
    model = _trained(LeNet().double(), torch.randn(8, 2, 8, 12, dtype=torch.float64))
    imported = from_torch(model, (2, 8, 12))
    bn = next(layer for layer in imported.spec.layers if layer.kind == "batch_norm")
    assert bn.momentum == pytest.approx(0.8) and bn.epsilon == model.bn.eps  # torch 0.2 weighs the new value
    mean = next(v for k, v in imported.params.items() if k.endswith("moving_mean"))
    var = next(v for k, v in imported.params.items() if k.endswith("moving_var"))
    # conv1's bias sits right before the BatchNorm: it is folded into the moving mean
    # (backends/porting.py: its exact gradient is zero), so mean = running_mean - bias
    assert imported.spec.layers[0].use_bias is False
    running_mean = model.bn.running_mean.numpy()
    np.testing.assert_allclose(mean, running_mean - model.conv1.bias.detach().numpy(), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(var, model.bn.running_var.numpy())
    assert np.abs(running_mean).max() > 0.05  # trained, not the defaults


@pytest.mark.parametrize(
    ("make", "shape", "inputs"),
    [
        (lambda: TextModel(causal=True), (5,), "tokens"),
        (lambda: TextModel(causal=False), (5,), "tokens"),
        (LastHidden, (4, 3), "sequence"),
        (
            lambda: nn.Sequential(
                nn.Linear(4, 6), nn.ELU(), Block(6), nn.Dropout(0.1), nn.BatchNorm1d(6), nn.Linear(6, 2)
            ),
            (4,),
            "features",
        ),
        (
            lambda: nn.Sequential(
                nn.Conv2d(3, 4, 3, stride=2, padding=1),
                nn.AvgPool2d(2),
                nn.Flatten(),
                nn.BatchNorm1d(16),
                nn.Linear(16, 2),
                nn.Softmax(dim=1),
            ),
            (3, 9, 9),
            "NCHW",
        ),
    ],
    ids=["text-causal", "text", "lstm-h", "mlp-residual", "conv-bn1d-after-flatten"],
)
def test_imported_models_reproduce_the_original(make, shape, inputs) -> None:
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    n = 8
    x = rng.integers(0, 20, (n, *shape)) if inputs == "tokens" else rng.normal(size=(n, *shape))
    xt = torch.from_numpy(x)
    model = _trained(make().double(), xt)
    imported = from_torch(model, shape)
    assert imported.input_layout == inputs
    with torch.no_grad():
        expected = model(xt).numpy()
    canonical = x.transpose(0, 2, 3, 1) if inputs == "NCHW" else x
    assert _rel(_numpy_forward(imported, canonical), expected) <= 1e-12


@pytest.mark.parametrize(
    ("model", "model_id"), [(LeNet, "lenet"), (lambda: TextModel(causal=True), "text")], ids=["lenet", "text"]
)
def test_every_backend_agrees_on_an_imported_model(model, model_id) -> None:
    """Forward, gradients and 8 training steps in float64 on all four backends, from the
    imported weights (the harness's proof, applied to a model that came from torch)."""
    for b in ("torch", "tf", "keras"):
        require(b)
    torch.manual_seed(3)
    shape = (2, 8, 12) if model_id == "lenet" else (5,)
    x = torch.randint(0, 20, (8, 5)) if model_id == "text" else torch.randn(8, *shape)
    module = _trained(model().double(), x.double() if model_id == "lenet" else x)
    imported = from_torch(module, shape)
    task = task_for(imported.spec, loss="cross_entropy", seed=0, name="imported")
    import dataclasses

    task = dataclasses.replace(task, recipe=dataclasses.replace(task.recipe, epochs=1))
    result = run(task, ("numpy", "torch", "tf", "keras"), dtype="float64", timing=False, params=imported.params)
    statuses = {n: (r.status, r.reason) for n, r in result.results.items()}
    assert all(s == "ok" for s, _ in statuses.values()), statuses
    np.testing.assert_allclose(
        result.results["numpy"].outputs, _numpy_forward(imported, task.data.x_test[:64]), rtol=0, atol=0
    )
    assert len(result.results["numpy"].losses) == 7  # 204 training rows / 32


@pytest.mark.parametrize(
    ("module", "shape", "says"),
    [
        (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), (3, 9, 9), "module 0 (Conv2d): groups, dilation"),
        (nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1)), (3, 8, 8), "neither 'valid' nor TF 'same'"),
        (nn.Sequential(nn.Linear(4, 4), nn.PReLU()), (4,), "module 1 (PReLU): no canonical layer"),
        (nn.Sequential(nn.LSTM(3, 4)), (5, 3), "batch_first=False"),
        (nn.Sequential(nn.LSTM(3, 4, num_layers=2, batch_first=True)), (5, 3), "only one layer"),
        (nn.Sequential(nn.Identity(), nn.Dropout(0.0)), (4,), "no layers"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), (1, 5, 5), "end the model with a Linear"),
        (nn.Sequential(nn.BatchNorm1d(4, affine=False)), (4,), "affine=False"),
        (nn.Sequential(nn.Embedding(10, 4, padding_idx=0)), (5,), "padding_idx"),
        (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5), "ceil_mode"),
        (nn.Sequential(nn.Dropout2d(0.2)), (1, 5, 5), "drops whole channels"),
    ],
)
def test_unmappable_constructs_are_refused_in_one_line(module, shape, says) -> None:
    with pytest.raises(ImportRefused) as err:
        from_torch(module, shape)
    assert says in str(err.value) and "\n" not in str(err.value)


class TwoBranches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + self.b(x)


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) if x.sum() > 0 else x


class CrossAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.attn = nn.Linear(4, 4), nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        return self.attn(self.q(x), x, x)[0]


@pytest.mark.parametrize(
    ("module", "says"),
    [
        (TwoBranches(), "graph node add: an add of two branches is not x + f(x)"),
        (DataDependent(), "does not trace with torch.fx"),
        (CrossAttention(), "takes 2 tensors"),
    ],
)
def test_graphs_that_are_not_chains_are_refused(module, says) -> None:
    with pytest.raises(ImportRefused, match=says.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        from_torch(module, (3, 4) if isinstance(module, CrossAttention) else (4,))


def test_the_import_check_catches_a_wrong_conversion(monkeypatch) -> None:
    """from_torch runs the original and the converted model on one seeded batch: a mapping
    bug (here: a Linear kernel left untransposed) is refused, never returned."""
    from netparity.backends.torch import importer

    real = importer._canonical
    monkeypatch.setattr(importer, "_canonical", lambda kind, p, w: real(kind, p, w) * (1.5 if kind == "dense" else 1))
    with pytest.raises(ImportRefused, match="differ from the original"):
        from_torch(nn.Sequential(nn.Linear(3, 3)), (3,))


def test_state_dict_and_params_npz_round_trip(tmp_path) -> None:
    torch.manual_seed(4)
    trained = _trained(LeNet(), torch.randn(4, 2, 8, 12))
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    fresh = LeNet()  # other random weights until the state_dict is loaded
    imported = from_torch(fresh, (2, 8, 12), weights=tmp_path / "weights.pt")
    reference = from_torch(trained, (2, 8, 12))
    assert imported.params.keys() == reference.params.keys()
    for name, value in reference.params.items():
        np.testing.assert_array_equal(imported.params[name], value)
    save_params(tmp_path / "params.npz", imported.params)
    loaded = load_params(tmp_path / "params.npz", imported.spec)
    assert all(np.array_equal(loaded[k], v) for k, v in imported.params.items())


def test_bad_weights_files_are_one_line_errors(tmp_path) -> None:
    from netparity.spec.errors import SpecError

    imported = from_torch(nn.Sequential(nn.Linear(3, 2)), (3,))
    (tmp_path / "junk.npz").write_text("not a zip")
    np.savez(tmp_path / "other.npz", **{"0.dense.kernel": np.zeros((3, 5)), "0.dense.bias": np.zeros(2)})
    torch.save({"weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    for path, says in [
        (tmp_path / "missing.npz", "no such file"),
        (tmp_path / "junk.npz", "not a readable .npz"),
        (tmp_path / "other.npz", "has shape (3, 5), the model wants (3, 2)"),
    ]:
        with pytest.raises(SpecError, match=says.replace("(", r"\(").replace(")", r"\)")):
            load_params(path, imported.spec)
    with pytest.raises(SpecError, match="does not fit the model"):
        from_torch(nn.Sequential(nn.Linear(3, 2)), (3,), weights=tmp_path / "wrong.pt")


def _spec_has(*names: str) -> bool:
    from netparity.spec.layers import ACTIVATIONS

    return all(n in ACTIVATIONS for n in names)


@pytest.mark.skipif(not _spec_has("gelu", "gelu_tanh", "silu", "leaky_relu", "log_softmax"), reason="spec lacks them")
def test_more_activations_and_log_softmax() -> None:
    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(5, 6), nn.Linear(6, 3)
            self.acts = nn.Sequential(nn.GELU(), nn.LeakyReLU(0.2), nn.SiLU(), nn.GELU(approximate="tanh"))

        def forward(self, x):
            h = F.leaky_relu(F.gelu(self.acts(self.a(x))), negative_slope=0.05)
            return F.log_softmax(self.b(h), dim=-1)

    torch.manual_seed(5)
    model = _trained(Head().double(), torch.randn(4, 5, dtype=torch.float64))
    imported = from_torch(model, (5,))
    slopes = [layer.negative_slope for layer in imported.spec.layers if getattr(layer, "name", "") == "leaky_relu"]
    assert slopes == [0.2, 0.05]
    assert imported.spec.layers[-1].name == "log_softmax"
    x = np.random.default_rng(5).normal(size=(8, 5)) * 3
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert _rel(_numpy_forward(imported, x), expected) <= 1e-12


def test_lstm_second_bias() -> None:
    """torch's b_hh: the spec's own recurrent_bias where it has one (both train, as in torch),
    else summed into the one bias (exact forward)."""
    import dataclasses

    from netparity.spec.layers import LSTM

    torch.manual_seed(6)
    model = _trained(LastHidden().double(), torch.randn(4, 4, 3, dtype=torch.float64))
    imported = from_torch(model, (4, 3))
    b_ih, b_hh = model.lstm.bias_ih_l0.detach().numpy(), model.lstm.bias_hh_l0.detach().numpy()
    if "recurrent_bias" in {f.name for f in dataclasses.fields(LSTM)}:
        np.testing.assert_array_equal(imported.params["0.lstm.bias"], b_ih)
        np.testing.assert_array_equal(imported.params["0.lstm.recurrent_bias"], b_hh)
    else:
        np.testing.assert_array_equal(imported.params["0.lstm.bias"], b_ih + b_hh)


def test_attention_without_biases() -> None:
    import dataclasses

    from netparity.spec.layers import SelfAttention

    class Attend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, bias=False, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(7)
    model = Attend().double().eval()
    if "use_bias" not in {f.name for f in dataclasses.fields(SelfAttention)}:
        with pytest.raises(ImportRefused, match="bias=False"):
            from_torch(model, (5, 8))
        return
    imported = from_torch(model, (5, 8))
    assert imported.spec.layers[0].use_bias is False and not any(
        k.endswith(("bq", "bv", "bo")) for k in imported.params
    )
    x = np.random.default_rng(7).normal(size=(4, 5, 8))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert _rel(_numpy_forward(imported, x), expected) <= 1e-12
