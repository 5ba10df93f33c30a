"""Random valid models for differential testing, and a shrinker that cuts a disagreeing one
down to a minimal reproducer.

The generator is table-driven: ``LAYER_DRAWS`` holds one row per spec layer type, saying
which inputs it takes (``vector`` (d,), ``sequence`` (T, d), ``image`` (H, W, C), ``tokens``
(T,) ids) and how to draw its fields with a plain NumPy RNG. A new layer type slots in with
one more row. Sizes stay small: a case builds and trains in well under a second per backend.

A case is exactly what a ``--spec`` file holds (``input_shape``, ``layers``, ``recipe``) plus
the seed of its stand-in data and weights, so a saved reproducer replays with
``netparity --spec spec.json --seed SEED --dtype float64``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from netparity.spec.errors import SpecError
from netparity.spec.layers import ACTIVATIONS, LAYER_TYPES
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import EPSILON_MODES, OPTIMIZERS, Optimizer, Recipe
from netparity.spec.serialize import model_from_dict, recipe_from_dict, recipe_to_dict
from netparity.spec.tasks import TaskInstance

Rng = np.random.Generator
Shape = tuple[int, ...]
Fields = dict[str, Any]

KERNEL_INITS = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal:0.3", "orthogonal")
BIAS_INITS = ("zeros", "normal:0.1", "uniform:0.2")
FLOAT_KINDS = ("vector", "sequence", "image")


def input_kind(shape: Shape) -> str:
    """What a float activation of this shape (no batch axis) is."""
    return {1: "vector", 2: "sequence", 3: "image"}[len(shape)]


def _choice(rng: Rng, values: tuple | list) -> Any:
    return values[int(rng.integers(len(values)))]


def _activation(rng: Rng) -> str | None:
    return _choice(rng, (None, None, *ACTIVATIONS))


def _dense(rng: Rng, shape: Shape) -> Fields:
    return {
        "units": int(rng.integers(1, 7)),
        "activation": _activation(rng),
        "use_bias": bool(rng.random() < 0.8),
        "kernel_init": _choice(rng, KERNEL_INITS),
        "bias_init": _choice(rng, BIAS_INITS),
    }


def _conv(rng: Rng, shape: Shape) -> Fields:
    """Sometimes dilated (stride 1) or grouped (groups divides the channels; filters a multiple)."""
    h, w, c = shape
    padding = _choice(rng, ("valid", "same"))
    k_max = 3 if padding == "same" else min(h, w, 3)
    groups = _choice(rng, [g for g in (1, 1, 2, 3, c) if c % g == 0])
    stride = int(rng.integers(1, 3))
    return {
        "filters": groups * int(rng.integers(1, 3)) if groups > 1 else int(rng.integers(1, 5)),
        "kernel": int(rng.integers(1, k_max + 1)),
        "stride": stride,
        "dilation": 2 if stride == 1 and rng.random() < 0.2 else 1,
        "groups": groups,
        "padding": padding,
        "activation": _activation(rng),
        "use_bias": bool(rng.random() < 0.8),
        "kernel_init": _choice(rng, KERNEL_INITS),
    }


def _pool(rng: Rng, shape: Shape) -> Fields:
    pool = int(rng.integers(1, min(shape[0], shape[1], 2) + 1))
    return {"pool": pool, "stride": _choice(rng, (None, 1, 2)), "padding": _choice(rng, ("valid", "same"))}


def _conv1d(rng: Rng, shape: Shape) -> Fields:
    stride = int(rng.integers(1, 3))
    return {
        "filters": int(rng.integers(1, 5)),
        "kernel": int(rng.integers(1, min(shape[0], 3) + 1)),
        "stride": stride,
        "dilation": 2 if stride == 1 and rng.random() < 0.3 else 1,
        "padding": _choice(rng, ("valid", "same", "causal")),
        "activation": _activation(rng),
        "use_bias": bool(rng.random() < 0.8),
        "kernel_init": _choice(rng, KERNEL_INITS),
    }


def _pool1d(rng: Rng, shape: Shape) -> Fields:
    pool = int(rng.integers(1, min(shape[0], 2) + 1))
    return {"pool": pool, "stride": _choice(rng, (None, 1, 2)), "padding": _choice(rng, ("valid", "same"))}


def _gru(rng: Rng, shape: Shape) -> Fields:
    return {
        "units": int(rng.integers(1, 5)),
        "return_sequences": bool(rng.random() < 0.5),
        "reset_after": bool(rng.random() < 0.5),
    }


def _lstm(rng: Rng, shape: Shape) -> Fields:
    return {
        "units": int(rng.integers(1, 5)),
        "return_sequences": bool(rng.random() < 0.5),
        "recurrent_bias": bool(rng.random() < 0.3),
    }


def _attention(rng: Rng, shape: Shape) -> Fields:
    d = shape[-1]
    heads = _choice(rng, [h for h in (1, 2, 3) if d % h == 0])
    fields = {
        "heads": heads,
        "causal": bool(rng.random() < 0.5),
        "kernel_init": _choice(rng, KERNEL_INITS),
        "use_bias": bool(rng.random() < 0.8),
    }
    if rng.random() < 0.3:  # head sizes of their own (torch then runs SelfAttentionHeadDims)
        fields["key_dim"] = int(rng.integers(1, 4))
        fields["value_dim"] = _choice(rng, (None, 1, 2))
    return fields


def _residual(rng: Rng, shape: Shape) -> Fields:
    """One or two shape-keeping layers (drawn from the rows marked ``keeps_shape``)."""
    inner = []
    for _ in range(int(rng.integers(1, 3))):
        rows = [r for r in LAYER_DRAWS if r.keeps_shape and input_kind(shape) in r.accepts]
        row = _choice(rng, rows)
        fields = row.draw(rng, shape)
        if row.type == "Dense":
            fields["units"] = shape[-1]  # Dense keeps the shape only at the same width
        elif row.type == "Conv2D":
            fields.update(filters=shape[-1], stride=1, padding="same", groups=1)
        elif row.type == "SelfAttention":
            fields.pop("key_dim", None)  # keeps the width anyway (wo maps back to it)
        inner.append({"type": row.type, **fields})
    return {"layers": inner}


@dataclass(frozen=True)
class LayerDraw:
    """How the fuzzer draws one spec layer type."""

    type: str  # the spec's layer type (spec.layers.LAYER_TYPES)
    accepts: tuple[str, ...]  # input kinds it takes: vector, sequence, image, tokens
    draw: Callable[[Rng, Shape], Fields]  # the layer's fields for this input shape
    weight: float = 1.0
    keeps_shape: bool = False  # may sit inside a Residual (with the fix-ups in _residual)


LAYER_DRAWS: tuple[LayerDraw, ...] = (
    LayerDraw("Dense", ("vector", "sequence"), _dense, 3.0, keeps_shape=True),
    LayerDraw("Activation", FLOAT_KINDS, lambda rng, s: {"name": _choice(rng, ACTIVATIONS)}, keeps_shape=True),
    LayerDraw("Conv2D", ("image",), _conv, 2.0, keeps_shape=True),
    LayerDraw("MaxPool2D", ("image",), _pool),
    LayerDraw("AvgPool2D", ("image",), _pool),
    LayerDraw("Flatten", ("image", "sequence"), lambda rng, s: {}, 0.5),
    LayerDraw("Dropout", FLOAT_KINDS, lambda rng, s: {"rate": round(float(rng.uniform(0, 0.5)), 2)}, keeps_shape=True),
    LayerDraw(
        "BatchNorm",
        FLOAT_KINDS,
        lambda rng, s: {"momentum": _choice(rng, (0.0, 0.5, 0.9, 0.99)), "epsilon": _choice(rng, (1e-5, 1e-3))},
        keeps_shape=True,
    ),
    LayerDraw("LayerNorm", FLOAT_KINDS, lambda rng, s: {"epsilon": _choice(rng, (1e-5, 1e-3))}, keeps_shape=True),
    LayerDraw(
        "Embedding", ("tokens",), lambda rng, s: {"vocab": int(rng.integers(2, 9)), "dim": int(rng.integers(1, 7))}
    ),
    LayerDraw("PositionalEmbedding", ("sequence",), lambda rng, s: {"max_len": s[0] + int(rng.integers(0, 3))}),
    LayerDraw("LSTM", ("sequence",), _lstm, 1.5),
    LayerDraw("SelfAttention", ("sequence",), _attention, 1.5, keeps_shape=True),
    LayerDraw("LastStep", ("sequence",), lambda rng, s: {}, 0.5),
    LayerDraw("Conv1D", ("sequence",), _conv1d, 1.5),
    LayerDraw("MaxPool1D", ("sequence",), _pool1d, 0.7),
    LayerDraw("AvgPool1D", ("sequence",), _pool1d, 0.7),
    LayerDraw("GlobalAvgPool", ("sequence", "image"), lambda rng, s: {}, 0.5),
    LayerDraw("GlobalMaxPool", ("sequence", "image"), lambda rng, s: {}, 0.5),
    LayerDraw("GRU", ("sequence",), _gru, 1.5),
    LayerDraw("Residual", FLOAT_KINDS, _residual),
)

#: layer types a whole model is drawn around rather than chained (LAYER_TYPES minus LAYER_DRAWS)
WHOLE_MODELS = ("Quadratic",)


def _input(rng: Rng) -> tuple[str, Shape]:
    kind = _choice(rng, ("vector", "vector", "image", "tokens", "sequence"))
    if kind == "vector":
        return kind, (int(rng.integers(1, 7)),)
    if kind == "image":
        return kind, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 4)))
    if kind == "tokens":
        return kind, (int(rng.integers(2, 6)),)
    return kind, (int(rng.integers(2, 6)), int(rng.integers(1, 5)))


def _optimizer(rng: Rng) -> dict[str, Any]:
    name = _choice(rng, OPTIMIZERS)
    adaptive = name != "sgd"
    lr = float(10 ** rng.uniform(-3.3, -1.7) if adaptive else 10 ** rng.uniform(-2.5, -1))
    opt: dict[str, Any] = {"name": name, "lr": float(f"{lr:.3g}")}
    if name in ("sgd", "rmsprop") and rng.random() < 0.5:
        opt["momentum"] = _choice(rng, (0.5, 0.9))
        opt["nesterov"] = name == "sgd" and bool(rng.random() < 0.5)
    if name == "rmsprop":
        opt["centered"] = bool(rng.random() < 0.5)
    if name in ("adam", "adamw", "nadam", "adamax"):
        opt["beta1"], opt["beta2"] = _choice(rng, ((0.9, 0.999), (0.8, 0.99)))
    opt["epsilon_mode"] = _choice(rng, EPSILON_MODES[name])
    if rng.random() < 0.3 or name == "adamw":
        opt["weight_decay"] = _choice(rng, (1e-3, 1e-2))
        opt["decoupled_weight_decay"] = name != "adamw" and bool(rng.random() < 0.5)
    return opt


def _recipe(rng: Rng, loss: str) -> dict[str, Any]:
    return {
        "loss": loss,
        "optimizer": _optimizer(rng),
        "epochs": int(rng.integers(1, 3)),
        "batch_size": _choice(rng, (16, 32, 64)),
        "l2": _choice(rng, (0.0, 0.0, 0.0, 1e-3)),
    }


@dataclass(frozen=True)
class Case:
    """One random model: a ``--spec`` file's content and the seed of its data and weights."""

    spec: dict[str, Any]
    seed: int

    @property
    def model(self) -> ModelSpec:
        return model_from_dict({"input_shape": self.spec["input_shape"], "layers": self.spec["layers"]})

    @property
    def recipe(self) -> Recipe:
        base = Recipe(optimizer=Optimizer("sgd", lr=0.01), shuffle_seed=self.seed)
        return recipe_from_dict(self.spec.get("recipe", {}), base)

    def task(self) -> TaskInstance:
        """The task ``netparity --spec spec.json --seed SEED`` builds from this case."""
        from netparity.spec.files import METRICS, synthetic_data

        model, recipe = self.model, self.recipe
        classification = recipe.loss == "cross_entropy"
        kind = "classification" if classification else "regression"
        data = synthetic_data(model, classification, self.seed)
        return TaskInstance(f"fuzz-{self.seed}", model, recipe, data, kind, METRICS[kind])

    def file(self) -> dict[str, Any]:
        """The spec file of this case, with its recipe complete (every field explicit)."""
        return {**self.spec, "recipe": recipe_to_dict(self.recipe)}

    def layer_types(self) -> list[str]:
        return [x["type"] for x in self.spec["layers"]]

    def describe(self) -> str:
        """e.g. ``(4,) Dense(3,relu) > Dense(2) | adam lr=0.001, 2 epochs x 7 steps``."""
        recipe = self.recipe
        steps = recipe.epochs * math.ceil(len(self.task().data.x_train) / recipe.batch_size)
        parts = []
        for layer in self.spec["layers"]:
            size = next((layer[k] for k in ("units", "filters", "dim", "heads", "pool") if k in layer), None)
            act = layer.get("activation") or layer.get("name")
            args = ",".join(str(a) for a in (size, act) if a is not None)
            inner = f"[{len(layer['layers'])}]" if layer["type"] == "Residual" else ""
            parts.append(f"{layer['type']}{inner}({args})" if args else f"{layer['type']}{inner}")
        opt = recipe.optimizer
        return (
            f"{tuple(self.spec['input_shape'])} {' > '.join(parts)} | {recipe.loss}, {opt.name} lr={opt.lr:g}, "
            f"{recipe.epochs} epoch(s), {steps} step(s)"
        )


def draw_case(rng: Rng, seed: int) -> Case:
    """A random valid model and recipe (redrawn until the spec validates)."""
    for _ in range(100):
        spec = _draw_spec(rng)
        try:
            case = Case(spec, seed)
            case.model, case.recipe  # noqa: B018  (validates)
            return case
        except SpecError:
            continue
    raise RuntimeError("the fuzzer drew 100 invalid specs in a row: a LAYER_DRAWS row is wrong")


def _draw_spec(rng: Rng) -> dict[str, Any]:
    loss = _choice(rng, ("mse", "cross_entropy"))
    if rng.random() < 0.03:  # a whole-model layer: the roots task's Quadratic
        poly = {"a": 1.0, "b": float(rng.integers(-5, 0)), "c": float(rng.integers(0, 5))}
        layers = [{"type": "Quadratic", **poly, "x0": float(rng.uniform(-1, 1))}]
        return {"input_shape": [int(rng.integers(1, 4))], "layers": layers, "recipe": _recipe(rng, "mse")}
    kind, shape = _input(rng)
    layers: list[dict[str, Any]] = []
    if kind == "tokens":
        row = next(r for r in LAYER_DRAWS if r.type == "Embedding")
        fields = row.draw(rng, shape)
        layers.append({"type": "Embedding", **fields})
        current: Shape = (*shape, fields["dim"])
    else:
        current = shape
    for _ in range(int(rng.integers(1, 4))):
        rows = [r for r in LAYER_DRAWS if input_kind(current) in r.accepts]
        weights = np.array([r.weight for r in rows])
        row = rows[int(rng.choice(len(rows), p=weights / weights.sum()))]
        layer = {"type": row.type, **row.draw(rng, current)}
        try:
            current = model_from_dict({"input_shape": list(current), "layers": [layer]}).output_shape
        except SpecError:
            continue  # e.g. a kernel larger than a shrunken image: draw the next one
        layers.append(layer)
    if len(current) > 1:  # to a vector for the head
        layers.append({"type": _choice(rng, ("Flatten", "LastStep")) if len(current) == 2 else "Flatten"})
    outputs = int(rng.integers(2, 5)) if loss == "cross_entropy" else int(rng.integers(1, 4))
    layers.append({"type": "Dense", "units": outputs, "kernel_init": _choice(rng, KERNEL_INITS)})
    return {"input_shape": list(shape), "layers": layers, "recipe": _recipe(rng, loss)}


def draw_cases(n: int, seed: int) -> list[Case]:
    """``n`` cases, the same ones for the same ``seed``; case i's data seed is derived from both."""
    rng = np.random.default_rng([seed, 17])
    return [draw_case(rng, int(np.random.default_rng([seed, i]).integers(2**31))) for i in range(n)]


def covered_types(cases: list[Case]) -> set[str]:
    """Every layer type that occurs in ``cases`` (inside Residual too)."""

    def walk(layers: list[dict[str, Any]]) -> set[str]:
        return {x["type"] for x in layers} | {t for x in layers if x["type"] == "Residual" for t in walk(x["layers"])}

    return {t for c in cases for t in walk(c.spec["layers"])}


assert {r.type for r in LAYER_DRAWS} | set(WHOLE_MODELS) <= set(LAYER_TYPES), "LAYER_DRAWS names a non-layer"

# ------------------------------------------------------------ shrinking

#: layer fields the shrinker makes smaller, with the smallest value each may take
SIZE_FIELDS = {
    "units": 1,
    "filters": 1,
    "dim": 1,
    "vocab": 2,
    "kernel": 1,
    "pool": 1,
    "stride": 1,
    "heads": 1,
    "key_dim": 1,
    "value_dim": 1,
    "dilation": 1,
    "groups": 1,
}


@dataclass
class Shrunk:
    """The minimal case found, and how many candidate runs it took."""

    case: Case
    tries: int
    steps: list[str] = field(default_factory=list)  # what each accepted reduction did


def shrink(case: Case, fails: Callable[[Case], bool], max_tries: int = 80) -> Shrunk:
    """Greedily apply the first reduction that still ``fails``, until none does: fewer layers
    first, then smaller sizes, then no activations, plain SGD, no l2/schedule/clipping, mse,
    then fewer training steps. ``fails(case)`` must be True."""
    tries, steps = 0, []
    progress = True
    while progress and tries < max_tries:
        progress = False
        for what, candidate in _reductions(case):
            if tries >= max_tries:
                break
            tries += 1
            if fails(candidate):
                case, progress = candidate, True
                steps.append(what)
                break
    return Shrunk(case, tries, steps)


def _valid(spec: dict[str, Any], seed: int) -> Case | None:
    case = Case(spec, seed)
    try:
        model, recipe = case.model, case.recipe
    except SpecError:
        return None
    if recipe.loss == "cross_entropy" and (len(model.output_shape) != 1 or model.output_shape[0] < 2):
        return None  # one logit per class, at least two classes
    return case


def _reductions(case: Case):
    """Candidate smaller cases, most effective first; each is valid."""
    spec, seed = case.spec, case.seed
    layers = spec["layers"]

    def variant(change: Callable[[dict[str, Any]], None]) -> Case | None:
        new = copy.deepcopy(spec)
        change(new)
        return _valid(new, seed)

    candidates: list[tuple[str, Case | None]] = []
    for i, layer in enumerate(layers):  # fewer layers
        candidates.append((f"drop layer {i} ({layer['type']})", variant(lambda s, i=i: s["layers"].pop(i))))
        if layer["type"] == "Residual":
            candidates.append(
                (
                    f"unwrap Residual {i}",
                    variant(lambda s, i=i: s["layers"].__setitem__(slice(i, i + 1), s["layers"][i]["layers"])),
                )
            )
            for j in range(len(layer["layers"])):
                candidates.append((f"drop layer {i}.{j}", variant(lambda s, i=i, j=j: s["layers"][i]["layers"].pop(j))))
    for d, size in enumerate(spec["input_shape"]):  # smaller input
        for smaller in sorted({1, size // 2, size - 1} - {size}):
            if smaller >= 1:
                candidates.append(
                    (
                        f"input dim {d} -> {smaller}",
                        variant(lambda s, d=d, v=smaller: s["input_shape"].__setitem__(d, v)),
                    )
                )
    for i, layer in enumerate(layers):  # smaller layers
        for key, low in SIZE_FIELDS.items():
            value = layer.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > low:
                for smaller in sorted({low, value // 2, value - 1} - {value}):
                    if smaller >= low:
                        candidates.append(
                            (
                                f"layer {i} {key} -> {smaller}",
                                variant(lambda s, i=i, k=key, v=smaller: s["layers"][i].__setitem__(k, v)),
                            )
                        )
    for where, layer in _with_inner(layers):  # simpler activations
        if layer.get("activation") not in (None, "identity") and layer["type"] != "Activation":
            candidates.append((f"layer {where} no activation", variant(_setter(where, "activation", None))))
    recipe = spec.get("recipe", {})
    optimizer = recipe.get("optimizer")
    if isinstance(optimizer, dict):
        plain = {"name": "sgd", "lr": optimizer.get("lr", 0.01)}  # the recipe's lr, no momentum or decay
        if optimizer != plain:
            candidates.append(("plain SGD", variant(lambda s: s["recipe"].__setitem__("optimizer", plain))))
    for extra in ("l2", "lr_schedule", "clip"):
        if recipe.get(extra):
            candidates.append((f"no {extra}", variant(lambda s, k=extra: s["recipe"].pop(k))))
    if recipe.get("loss") == "cross_entropy":  # mse takes any output shape: the head may go too
        candidates.append(("mse loss", variant(lambda s: s["recipe"].__setitem__("loss", "mse"))))
    if recipe.get("epochs", 1) > 1:  # fewer training steps
        candidates.append(("1 epoch", variant(lambda s: s["recipe"].__setitem__("epochs", 1))))
    if recipe.get("batch_size", 0) < ONE_STEP_BATCH:
        candidates.append(
            ("1 step per epoch", variant(lambda s: s["recipe"].__setitem__("batch_size", ONE_STEP_BATCH)))
        )
    return [(what, c) for what, c in candidates if c is not None]


def _with_inner(layers: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each layer dict with its place ("2", or "1.0" inside Residual 1), Residuals' inner ones included."""
    out = []
    for i, layer in enumerate(layers):
        out.append((str(i), layer))
        out += [
            (f"{i}.{j}", inner)
            for j, inner in enumerate(layer.get("layers", []) if layer["type"] == "Residual" else [])
        ]
    return out


def _setter(where: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``key`` of the layer at ``where`` (a _with_inner place)."""

    def change(spec: dict[str, Any]) -> None:
        layer: dict[str, Any] = {"layers": spec["layers"]}
        for index in where.split("."):
            layer = layer["layers"][int(index)]
        layer[key] = value

    return change


#: a batch size that holds the whole stand-in training set (spec.files.SYNTHETIC_ROWS rows)
ONE_STEP_BATCH = 256

# ------------------------------------------------------------ judging a run

#: a parameter whose reference gradient is below this fraction of the model's largest one has
#: an exact gradient of zero (a bias right before a BatchNorm, a LayerNorm's beta before a
#: BatchNorm, ...): both sides hold rounding noise there, and an optimizer such as Adam scales
#: that noise up to full-size steps, so its gradient and trained value compare nothing
ROUNDING_LEVEL = 1e-12


@dataclass(frozen=True)
class KnownDifference:
    """A documented convention difference: a run it explains is not a finding."""

    name: str
    doc: str  # where it is documented
    applies: Callable[[TaskInstance, str], bool]  # (task, backend)


#: documented differences the fuzzer may draw. Empty while every backend computes the spec's
#: formula; an entry needs its section in docs/semantics.md.
KNOWN_DIFFERENCES: tuple[KnownDifference, ...] = ()


def rounding_level_params(grads: dict[str, np.ndarray]) -> list[str]:
    """Parameters whose gradient is rounding noise next to the model's largest gradient."""
    scale = max((float(np.max(np.abs(g))) for g in grads.values() if g.size), default=0.0)
    return [p for p, g in grads.items() if g.size and float(np.max(np.abs(g))) <= ROUNDING_LEVEL * scale]


@dataclass(frozen=True)
class Judgement:
    """What one backend's run means for the fuzzer."""

    verdict: str  # agree | noise | known | finding
    detail: str = ""  # the finding's reason, the known difference's name, or the noisy parameters


def judge(result: Any, backend: str) -> Judgement:
    """``result`` (a harness RunResult) seen from ``backend``: disagreements confined to
    parameters with a zero exact gradient are ``noise``; documented ones are ``known``."""
    from netparity.harness.diff import dict_diff
    from netparity.harness.run import verdict

    res, ref = result.results[backend], result.results[result.reference]
    if res.status in ("ok", "skipped", "unverified") or (res.status == "diverged" and ref.status == "diverged"):
        return Judgement("agree")
    for known in KNOWN_DIFFERENCES:
        if known.applies(result.task, backend):
            return Judgement("known", known.name)
    if res.status != "mismatch":
        return Judgement("finding", f"{res.status}: {res.reason}")
    noisy = rounding_level_params(ref.grads)
    if noisy:
        c = result.comparisons[backend]
        # moving statistics (state) average activations that the noisy parameters shift, so
        # only the other trainable parameters are compared
        trainable = set(ref.grads) - set(noisy)
        keep = lambda d: {k: v for k, v in d.items() if k in trainable}  # noqa: E731
        grad, grads = dict_diff(keep(res.grads), keep(ref.grads))
        param, _ = dict_diff(keep(res.params), keep(ref.params))
        rest = dataclasses.replace(c, grad=grad, grads=grads, param=param)
        if not verdict(rest, result.tolerance):
            return Judgement("noise", ", ".join(noisy))
    return Judgement("finding", f"mismatch: {res.reason}")
