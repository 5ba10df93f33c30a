"""Run one task on several backends from identical parameters and data, and compare.

The harness depends only on the backend protocol (backends.base): it hands canonical NumPy
in and gets canonical NumPy back.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from netparity.backends import BACKENDS, BackendBroken, BackendUnavailable, get_backend, required_backends
from netparity.backends.base import Backend, Batch, Model, learning_rate, start_epoch
from netparity.harness.diff import (
    ADAPTIVE_OPTIMIZERS,
    TOLERANCES,
    Diff,
    adaptive_amplification,
    dict_diff,
    kind_scale,
    scalar_diff,
    trained_tolerance,
    with_state,
    zero_floor,
)
from netparity.harness.metrics import test_metrics
from netparity.harness.timing import Timing, once, peak_rss_mb, repeat
from netparity.spec.data import batch_plan
from netparity.spec.dropout import dropout_masks, dropout_sites
from netparity.spec.flops import forward_flops, train_flops
from netparity.spec.init import init_params
from netparity.spec.recipe import Recipe
from netparity.spec.tasks import TaskInstance

PROBE_SIZE = 64  # rows of the test set whose outputs and activations are compared


@dataclass(frozen=True)
class RunConfig:
    """How a run is carried out: one value handed from the command line or API down to each backend."""

    dtype: str = "float32"
    device: str = "cpu"
    #: seeds the initial weights (the task's data and batch order have their own seeds)
    seed: int = 0
    reference: str = "numpy"
    #: the repeated timing runs (the comparison itself never depends on them)
    timing: bool = True
    #: compute threads for every backend (None: the framework's default)
    threads: int | None = None
    #: each backend in a fresh subprocess: fair timing, and a crash loses only that backend
    isolate: bool = False
    #: allow TF32 on GPUs in the timing runs only (comparisons always use full float32)
    tf32_timing: bool = False
    #: seconds an isolated backend may take before it is ended and marked failed (None: a
    #: default from the run's size, harness.isolate.default_timeout)
    backend_timeout: float | None = None
    #: seconds of repeats per timed phase (forward, train_step; an epoch gets twice this),
    #: after at least 10 repeats (3 epochs) and at most 200 (20): small models stop at the cap
    timing_budget_s: float = 0.5


@dataclass
class BackendResult:
    """What one backend produced; arrays are canonical NumPy."""

    backend: str
    status: str = "ok"  # ok | mismatch | diverged | failed | skipped | unverified
    reason: str = ""
    implementation: dict[str, str] = field(default_factory=dict)
    outputs: np.ndarray | None = None  # probe batch, initial parameters
    activations: list[np.ndarray] = field(default_factory=list)
    loss: float = float("nan")  # training-mode loss of the first training batch
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    losses: list[tuple[int, int, float]] = field(default_factory=list)  # (epoch, step, loss)
    lrs: list[float] = field(default_factory=list)  # the learning rate of each step in losses
    params: dict[str, np.ndarray] = field(default_factory=dict)  # after training
    test_outputs: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.status not in ("failed", "skipped")

    @property
    def final_loss(self) -> float:
        return self.losses[-1][2] if self.losses else float("nan")


@dataclass
class Comparison:
    """One backend against the reference."""

    output: Diff
    grad: Diff
    loss: Diff
    param: Diff
    trajectory: Diff
    layers: list[tuple[int, str, Diff]]  # (index, canonical layer name, activation diff)
    grads: dict[str, Diff]
    first_divergent_layer: str = ""
    #: per trained parameter, the allowance an adaptive optimizer's noise amplification earns
    #: it (harness.diff, point 3); 1 everywhere under SGD
    amplification: dict[str, float] = field(default_factory=dict)
    params: dict[str, Diff] = field(default_factory=dict)
    #: the learning rate of every step (each framework's own schedule) against the reference's
    lr: Diff = field(default_factory=lambda: Diff(0.0, 0.0))


@dataclass
class RunResult:
    task: TaskInstance
    dtype: str
    device: str
    seed: int
    reference: str
    results: dict[str, BackendResult]
    comparisons: dict[str, Comparison]
    #: the tolerances applied ("single", "trained"), and in float32 the reference's own
    #: float32-vs-float64 drift after training that widened "trained" (see harness.diff)
    tolerances: dict[str, float] = field(default_factory=dict)
    rounding_drift: float = float("nan")
    #: Ctrl-C stopped the run: the backends that had not finished are failed "interrupted"
    interrupted: bool = False
    #: backends the user named (a named backend that is skipped fails the run)
    named: tuple[str, ...] = ()
    #: backends whose differences are explained by their framework defaults (--defaults native)
    explained: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run passes (the policy lives in harness.verdict)."""
        return self.verdict().passed

    def verdict(self, *, diverging_together_agrees: bool = False):
        from netparity.harness.verdict import judge

        return judge(self, diverging_together_agrees=diverging_together_agrees)

    @property
    def tolerance(self) -> dict[str, float]:
        """The tolerances this run was judged by."""
        return self.tolerances or dict(TOLERANCES[self.dtype])


def run_backend(
    name: str,
    task: TaskInstance,
    params: dict[str, np.ndarray],
    config: RunConfig,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackendResult:
    """Build, probe, train and time one backend; any failure is caught into the result.

    ``config.threads`` limits the framework's compute threads (set before the first build);
    ``config.tf32_timing`` allows TF32 on GPUs for the timing runs only (labelled in the report)."""
    result = BackendResult(name)
    try:
        t_import, backend = once("import", lambda: get_backend(name))
    except BackendBroken as err:
        result.status, result.reason = "failed", str(err).split(": ", 1)[1]
        return result
    except BackendUnavailable as err:
        return _skip(result, str(err).split(": ", 1)[1])
    try:
        if config.threads:
            result.implementation["threads"] = backend.set_threads(config.threads)
        # a diverging run overflows on its way to inf/NaN: the status says so ("diverged"),
        # NumPy's overflow warnings need not say it again on the terminal
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _run(backend, result, task, params, config, progress)
        result.timings.insert(0, t_import.with_work(peak_rss_mb=result.timings[0].peak_rss_mb))
    except BackendUnavailable as err:  # e.g. the framework has no such device here
        return _skip(BackendResult(name, implementation=result.implementation), str(err))
    except Exception as err:  # one backend failing must not lose the others' results
        result.status = "failed"
        result.reason = f"{type(err).__name__}: {err}".strip()
        result.implementation.setdefault("traceback", traceback.format_exc(limit=-3))
    return result


def _skip(result: BackendResult, reason: str) -> BackendResult:
    """Skipped with the reason, or failed when NETPARITY_REQUIRE_BACKENDS demands the backend."""
    result.status, result.reason = "skipped", reason
    if result.backend in required_backends():
        result.status, result.reason = "failed", f"required backend unavailable: {reason}"
    return result


def _run(
    backend: Backend,
    result: BackendResult,
    task: TaskInstance,
    params: dict[str, np.ndarray],
    config: RunConfig,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    data, recipe, spec = task.data, task.recipe, task.model
    dtype, device = config.dtype, config.device
    t_build, model = once("build", lambda: backend.build(spec, params, recipe, dtype=dtype, device=device))
    model: Model
    result.implementation.update(model.implementation)
    probe = model.stage(data.x_test[:PROBE_SIZE])
    t_first, out = once("first_call", lambda: model.forward(probe))
    result.outputs = np.asarray(out)
    result.activations = model.activations(probe)

    # one epoch staged at a time (memory stays flat in the number of epochs); the first is
    # kept: gradients are taken on its first batch, and the timing runs replay it
    first_epoch = stage_epoch(model, task, 0)
    result.loss, result.grads = model.loss_and_grads(first_epoch[0])

    train_epochs(
        model, result, recipe, lambda epoch: first_epoch if epoch == 0 else stage_epoch(model, task, epoch), progress
    )
    result.params = model.params()
    if result.status == "ok":
        result.test_outputs = model.forward(model.stage(data.x_test))
        result.metrics = test_metrics(task.kind, result.test_outputs, data, from_logits=recipe.loss.from_logits)
        if not np.all(np.isfinite(result.test_outputs)):
            result.status, result.reason = "diverged", "non-finite test outputs"

    timings = [t_build, t_first.with_work(forward_flops(spec, probe.size))]
    if config.timing:
        if config.tf32_timing:
            result.implementation["timing_precision"] = backend.allow_tf32(True)
        timings += time_model(backend, task, params, config, first_epoch, probe)
    rss = peak_rss_mb()
    result.timings = [t.with_work(peak_rss_mb=rss) for t in timings]


def stage_epoch(model: Model, task: TaskInstance, epoch: int) -> list[Batch]:
    """The epoch's batches with their Dropout masks, drawn from the shared seeds (spec/dropout.py);
    staged before the epoch runs, so conversion to native tensors stays out of the steps."""
    data, recipe, spec = task.data, task.recipe, task.model
    sites = dropout_sites(spec)
    plan = batch_plan(len(data.x_train), recipe.batch_size, recipe.shuffle_seed, epoch, shuffle=recipe.shuffle)
    return [
        model.stage(
            data.x_train[idx],
            data.y_train[idx],
            dropout_masks(spec, len(idx), (recipe.shuffle_seed, epoch, step), sites) if sites else {},
        )
        for step, idx in enumerate(plan)
    ]


def time_backend(
    name: str, task: TaskInstance, params: dict[str, np.ndarray], config: RunConfig, ran: BackendResult
) -> BackendResult:
    """The timing runs alone, for a backend whose comparison ``ran`` (``run_backend`` with
    ``timing=False``) went before in this process: ``ran`` with the timing phases appended
    (the same phases, on the same kind of fresh model, as ``run_backend`` with timing), or
    failed with the reason when the timing runs raise, as they would fail it there."""
    result = dataclasses.replace(ran, implementation=dict(ran.implementation), timings=list(ran.timings))
    try:
        backend = get_backend(name)
        if config.threads:
            backend.set_threads(config.threads)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if config.tf32_timing:
                result.implementation["timing_precision"] = backend.allow_tf32(True)
            # a model of its own stages the batches; time_model times a fresh one, as in run_backend
            model = backend.build(task.model, params, task.recipe, dtype=config.dtype, device=config.device)
            probe = model.stage(task.data.x_test[:PROBE_SIZE])
            timings = time_model(backend, task, params, config, stage_epoch(model, task, 0), probe)
    except Exception as err:  # as in run_backend: the timing runs failing fail the backend
        result.status = "failed"
        result.reason = f"timing runs: {type(err).__name__}: {err}".strip()
        result.implementation.setdefault("traceback", traceback.format_exc(limit=-3))
        return result
    rss = max(peak_rss_mb(), max((t.peak_rss_mb for t in ran.timings), default=0.0))
    result.timings = [t.with_work(peak_rss_mb=rss) for t in [*ran.timings, *timings]]
    return result


def train_epochs(
    model: Model,
    result: BackendResult,
    recipe: Recipe,
    batches_of: Callable[[int], list[Batch]],
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Train ``recipe.epochs`` epochs of ``batches_of(epoch)``; each step's loss and the learning
    rate it used land in ``result.losses`` and ``result.lrs``.

    The per-step work outside the model is a store into preallocated lists and one
    finiteness test; the (epoch, step, loss) rows are built once at the end (benchmark (d)
    holds this loop to <= 2% of the time spent in ``train_step``)."""
    epochs, first = recipe.epochs, batches_of(0)
    per_epoch = len(first)
    losses = [math.nan] * (epochs * per_epoch)
    lrs = [math.nan] * len(losses)
    # a model without a schedule hook keeps the recipe's rate: read once, not every step
    scheduled = getattr(model, "learning_rate", None) is not None
    fixed_lr = None if scheduled else learning_rate(model, recipe)
    done, train_step, isfinite = 0, model.train_step, math.isfinite
    try:  # the steps done before a crash are kept: the report shows how far it got
        for epoch in range(epochs):
            batches = first if epoch == 0 else batches_of(epoch)
            start_epoch(model, epoch)
            for batch in batches:
                if scheduled:
                    lrs[done] = learning_rate(model, recipe)  # the rate this step uses, read before it moves on
                loss = train_step(batch)
                losses[done] = loss
                done += 1
                if not isfinite(loss):
                    step = (done - 1) % per_epoch
                    result.status, result.reason = "diverged", f"loss became {loss} at epoch {epoch}, step {step}"
                    break
                if progress:
                    progress(result.backend, done, len(losses))
            if result.status == "diverged":
                break
    finally:
        epoch_of = np.repeat(np.arange(epochs), per_epoch)[:done].tolist()
        step_of = np.tile(np.arange(per_epoch), epochs)[:done].tolist()
        result.losses = list(zip(epoch_of, step_of, map(float, losses[:done]), strict=True))
        result.lrs = lrs[:done] if scheduled else [fixed_lr] * done


def time_model(
    backend: Backend,
    task: TaskInstance,
    params: dict[str, np.ndarray],
    config: RunConfig,
    epoch: list[Batch],
    probe: Batch,
) -> list[Timing]:
    """Forward, train step and a whole epoch, timed on a fresh model so that the measured
    trajectory stays exact. The first train step (tracing/compilation) is reported apart,
    and every repeated phase is warmed up first."""
    spec, device, budget = task.model, config.device, config.timing_budget_s
    model = backend.build(spec, params, task.recipe, dtype=config.dtype, device=device)
    batch = epoch[0]
    t_first_step, _ = once("first_train_step", lambda: model.train_step(batch))
    samples = sum(b.size for b in epoch)

    def one_epoch() -> None:
        for b in epoch:
            model.train_step(b)

    timings = [
        t_first_step.with_work(train_flops(spec, batch.size)),
        repeat("forward", lambda: model.forward(probe), budget_s=budget).with_work(forward_flops(spec, probe.size)),
        repeat("train_step", lambda: model.train_step(batch), budget_s=budget).with_work(train_flops(spec, batch.size)),
        repeat("epoch", one_epoch, warmup=1, min_repeats=3, max_repeats=20, budget_s=2 * budget).with_work(
            train_flops(spec, samples)
        ),
    ]
    work = {"train_step": train_flops(spec, batch.size), "forward": forward_flops(spec, probe.size)}
    hook = getattr(backend, "extra_timings", None)  # optional: a backend's own fast forms
    for extra in hook(model, batch, device) if hook else []:
        t_prepare, fast = once(extra.prepare_phase, extra.prepare)
        timings += [t_prepare, repeat(extra.phase, fast, budget_s=budget).with_work(work.get(extra.work_like))]
    return timings


def compare(
    result: BackendResult, ref: BackendResult, tol: dict[str, float], layer_names: list[str], *, adaptive: bool = False
) -> Comparison:
    """``result`` against the reference, each array judged as harness.diff explains: against
    its own scale, or its kind's where it is at rounding level; ``adaptive`` (Adam, RMSprop,
    Adagrad) earns trained parameters the amplification of their gradients' rounding noise."""
    fraction = tol.get("zero_floor", 0.0)
    n_act, n_ref = len(result.activations), len(ref.activations)
    grad, grads = dict_diff(result.grads, ref.grads, fraction)
    param, params = dict_diff(result.params, ref.params, fraction)
    n = min(len(result.losses), len(ref.losses))
    traj = Diff.of(np.array([x[2] for x in result.losses[:n]]), np.array([x[2] for x in ref.losses[:n]]), name="loss")
    if traj.where:
        step = int(traj.where[len("loss[") : -1]) if "[" in traj.where else 0  # one step: no index
        traj = dataclasses.replace(
            traj, where=f"step {step + 1} (epoch {ref.losses[step][0]}, batch {ref.losses[step][1]})"
        )
    if len(result.losses) != len(ref.losses):
        where = f"{len(result.losses)} steps against the reference's {len(ref.losses)}"
        traj = Diff(traj.max_abs, float("inf"), where)
    nan = Diff(float("nan"), float("nan"))  # a layer one side did not report counts as divergent
    layers = []
    for i, name in enumerate(layer_names):
        if i >= min(n_act, n_ref):
            layers.append((i, name, nan))
            continue
        # a layer's activations against the scale of its input (the previous layer's output)
        floor = fraction * kind_scale(ref.activations[max(i - 1, 0) : i + 1])
        layers.append((i, name, Diff.of(result.activations[i], ref.activations[i], floor, f"{name} output")))
    first = next((name for _, name, d in layers if not d.within(tol["single"])), "")
    output = Diff(np.nan, np.nan)
    if result.outputs is not None:
        floor = fraction * kind_scale([ref.outputs, *ref.activations[-2:]])
        output = Diff.of(result.outputs, ref.outputs, floor, "output")
    amplification = adaptive_amplification(ref.grads, fraction, tol["single"]) if adaptive else {}
    amplification = with_state(amplification, ref.params)
    m = min(len(result.lrs), len(ref.lrs))
    lr = Diff.of(np.array(result.lrs[:m]), np.array(ref.lrs[:m]), name="learning rate") if m else Diff(0.0, 0.0)
    return Comparison(
        lr=lr,
        output=output,
        grad=grad,
        loss=scalar_diff(result.loss, ref.loss, "the first batch's loss"),
        param=param,
        trajectory=traj,
        layers=layers,
        grads=grads,
        first_divergent_layer=first or first_divergent_gradients(layers, grads, tol["single"]),
        amplification=amplification,
        params=params,
    )


def first_divergent_gradients(layers: list[tuple[int, str, Diff]], grads: dict[str, Diff], tol: float) -> str:
    """The first layer whose parameter gradients disagree, where every activation agrees (a
    layer can compute its outputs right and its gradients wrong; at zero biases the forward
    pass cannot see a wrong bias at all)."""
    for _, name, _ in layers:
        if any(not d.within(tol) for param, d in grads.items() if param.startswith(f"{name}.")):
            return f"{name} (gradients)"
    return ""


def disagreements(c: Comparison, tol: dict[str, float], backend: str = "backend", reference: str = "reference") -> str:
    """Empty if every quantity agrees within tolerance, else what disagrees and where."""
    amplified = max((a for a in c.amplification.values() if math.isfinite(a)), default=1.0)
    checks = [
        ("outputs", c.output, tol["single"]),
        ("gradients", c.grad, tol["single"]),
        ("loss", c.loss, tol["single"]),
        ("learning rates", c.lr, tol["single"]),
        ("loss trajectory", c.trajectory, tol["trained"] * amplified),
    ]
    bad = [(what, d, t) for what, d, t in checks if not d.within(t)]
    params_bad = [d for name, d in c.params.items() if not d.within(tol["trained"] * c.amplification.get(name, 1.0))]
    if params_bad:
        bad.append(("trained parameters", Diff.worst(params_bad), tol["trained"]))
    texts = []
    for what, d, t in bad:
        text = f"{what} differ by {d.max_rel:.2e} relative (tolerance {t:.0e})"
        place = d.place(backend, reference)
        texts.append(f"{text}, {place}" if place else text)
    if c.first_divergent_layer.endswith(" (gradients)"):
        name = c.first_divergent_layer.removesuffix(" (gradients)")
        texts.insert(0, f"activations agree but the gradients of layer {name} diverge")
    elif c.first_divergent_layer:
        worst = next(d for _, n, d in c.layers if n == c.first_divergent_layer)
        text = f"activations diverge from layer {c.first_divergent_layer} on ({worst.max_rel:.2e} relative)"
        place = worst.place(backend, reference)
        texts.insert(0, f"{text}, {place}" if place else text)
    return "; ".join(texts)


def verdict(c: Comparison, tol: dict[str, float]) -> str:
    """Kept for callers of the old name: :func:`disagreements`."""
    return disagreements(c, tol)


def run(
    task: TaskInstance,
    backends: list[str] | tuple[str, ...] = BACKENDS,
    config: RunConfig | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    runner: Callable[..., BackendResult] | None = None,
    task_for: Callable[[str], TaskInstance] | None = None,
    named: tuple[str, ...] | list[str] | None = None,
    params: dict[str, np.ndarray] | None = None,
    **settings: object,
) -> RunResult:
    """Every backend from the same canonical parameters (seeded) and data; compared to the reference.

    ``config`` (or its fields given as keywords: ``run(task, dtype="float64")``) says how; see
    :class:`RunConfig`. ``task_for(backend)`` gives a backend its own variant of the task
    (native-defaults mode: same parameters and data, the framework's own hyper-parameter defaults).
    ``named``: the backends the user asked for by name (one of them skipped fails the run);
    by default every backend passed in ``backends``, none when it is left at all of them.
    ``params``: canonical initial parameters to start from (an imported model's, ``--weights``)
    instead of the seeded initializer. A ``runner`` with a ``run_all(names, task_of, params,
    config, progress, results)`` method (harness.pool.WorkerPool) schedules the backends itself,
    filling ``results`` as each finishes."""
    config = dataclasses.replace(config or RunConfig(), **settings)
    if runner is None:
        from netparity.harness.isolate import run_isolated

        runner = run_isolated if config.isolate else run_backend
    dtype, seed, reference = config.dtype, config.seed, config.reference
    steps_per_epoch = -(-len(task.data.x_train) // task.recipe.batch_size)
    task.recipe.check_length(steps_per_epoch)  # a cosine schedule must cover the whole run
    params = init_params(task.model, seed) if params is None else params
    layer_names = [info.name for info in task.model.infer()]
    names = backends_to_run(backends, reference)
    results: dict[str, BackendResult] = {}
    drift, interrupted = float("nan"), False
    task_of = (lambda n: task_for(n)) if task_for else (lambda n: task)
    run_all = getattr(runner, "run_all", None)  # an engine that schedules the backends itself
    try:
        if run_all is not None:
            run_all(names, task_of, params, config, progress, results)
        else:
            for n in names:
                results[n] = runner(n, task_of(n), params, config, progress)
        ref = results[reference]
        if dtype == "float32" and ref.status == "ok":
            # in this process: no timing, so isolation buys nothing here and a fresh one costs a second
            ref64_config = dataclasses.replace(config, dtype="float64", timing=False)
            ref64 = run_backend(reference, task_of(reference), params, ref64_config)
            if ref64.status == "ok":
                drift = rounding_drift(ref, ref64)
    except KeyboardInterrupt:  # Ctrl-C: keep what finished, the rest is failed "interrupted"
        interrupted = True
        for n in names:
            results.setdefault(n, BackendResult(n, status="failed", reason="interrupted (Ctrl-C) before it finished"))
    results = {n: results[n] for n in names}  # in the order asked, however they finished
    ref = results[reference]
    tol = {
        "single": TOLERANCES[dtype]["single"],
        "trained": trained_tolerance(dtype, drift),
        "zero_floor": zero_floor(dtype),
    }
    adaptive = task.recipe.optimizer.name in ADAPTIVE_OPTIMIZERS
    comparisons: dict[str, Comparison] = {}
    for name, res in results.items():
        if not res.ran or name == reference:
            continue
        if not ref.ran:
            res.status, res.reason = "unverified", f"the reference backend {reference} did not run"
            continue
        comparisons[name] = c = compare(res, ref, tol, layer_names, adaptive=adaptive)
        if res.status == "ok":
            problem = disagreements(c, tol, name, reference)
            if problem:
                res.status, res.reason = "mismatch", problem
    if named is None:
        named = () if tuple(backends) == tuple(BACKENDS) else tuple(backends)
    return RunResult(
        task, dtype, config.device, seed, reference, results, comparisons, tol, drift, interrupted, named=tuple(named)
    )


def backends_to_run(backends: list[str] | tuple[str, ...], reference: str) -> list[str]:
    """Every backend a run runs, in order: the reference first, even when not among ``backends``."""
    return list(dict.fromkeys([reference, *backends]))


def rounding_drift(ref32: BackendResult, ref64: BackendResult) -> float:
    """How far float32 rounding alone moves the reference's training: the worst relative
    difference of its trained parameters and loss trajectory against its own float64 run."""
    params, _ = dict_diff(ref32.params, ref64.params)
    losses = Diff.of(np.array([x[2] for x in ref32.losses]), np.array([x[2] for x in ref64.losses]))
    return max(params.max_rel, losses.max_rel)


def with_overrides(task: TaskInstance, **recipe_changes: object) -> TaskInstance:
    """The task with some recipe fields replaced (None values are ignored)."""
    changes = {k: v for k, v in recipe_changes.items() if v is not None}
    if not changes:
        return task
    recipe = dataclasses.replace(task.recipe, **changes)
    recipe.check()
    return dataclasses.replace(task, recipe=recipe)
