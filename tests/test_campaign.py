"""Campaigns: sweep parsing, the random-model generator, persistent workers (same numbers as
in-process, a crash or time-out restarts one worker), the fuzz judge and the shrinker on a
planted disagreement, and sweeps and fuzzing through the command line and the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st
from netparity.backends import get_backend
from netparity.backends.numpy import activations
from netparity.harness.campaign import InProcess, run_case
from netparity.harness.fuzz import LAYER_DRAWS, WHOLE_MODELS, Case, covered_types, draw_cases, judge, shrink
from netparity.harness.pool import WorkerPool, _Exclusive
from netparity.harness.run import BackendResult, RunConfig, run, run_backend, with_overrides
from netparity.harness.sweep import parse_sweep, point_name, sweep_points
from netparity.spec.errors import SpecError
from netparity.spec.init import init_params
from netparity.spec.layers import LAYER_TYPES
from netparity.spec.recipe import OPTIMIZERS
from netparity.spec.tasks import get_task

import netparity

ROOT = Path(__file__).resolve().parents[1]
PLANT_ENV = "NETPARITY_TEST_PLANT"  # test-only switch: the planted backend computes ELU wrongly


# ------------------------------------------------------------ sweep keys


def test_sweep_keys_parse_into_a_cross_product() -> None:
    axes = parse_sweep(["lr=0.1,0.01", "seed=0,1,2", "dtype=float64", "optimizer=adam,sgd"])
    assert axes == {"lr": [0.1, 0.01], "seed": [0, 1, 2], "dtype": ["float64"], "optimizer": ["adam", "sgd"]}
    points = sweep_points(axes)
    assert len(points) == 2 * 3 * 1 * 2
    assert points[0] == {"lr": 0.1, "seed": 0, "dtype": "float64", "optimizer": "adam"}
    assert point_name(points[-1]) == "lr=0.01,seed=2,dtype=float64,optimizer=sgd"
    assert parse_sweep(["batch-size=8,16"]) == {"batch_size": [8, 16]}


@pytest.mark.parametrize(
    "items",
    [
        ["momentum=0.9"],
        ["lr"],
        ["lr=0.1,-1"],
        ["lr=0.1", "lr=0.2"],
        ["seed=1,1"],
        ["dtype=float16"],
        ["epochs=0"],
        ["threads=a"],
        ["lr="],
    ],
)
def test_bad_sweep_keys_are_one_line_spec_errors(items: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        parse_sweep(items)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ the generator


def test_random_models_are_valid_reproducible_and_cover_every_layer_and_optimizer() -> None:
    cases = draw_cases(200, 3)
    assert [c.spec for c in cases[:20]] == [c.spec for c in draw_cases(20, 3)]  # --fuzz-seed reproduces
    assert [c.spec for c in draw_cases(20, 4)] != [c.spec for c in cases[:20]]
    for case in cases:
        model, recipe = case.model, case.recipe  # validates, or raises
        assert sum(int(np.prod(p.shape)) for p in model.param_specs().values()) < 2000  # small
        if recipe.loss == "cross_entropy":
            assert len(model.output_shape) == 1
    assert covered_types(cases) == set(LAYER_TYPES)  # every layer type in the spec
    assert {r.type for r in LAYER_DRAWS} | set(WHOLE_MODELS) == set(LAYER_TYPES)  # a new layer needs a row
    assert {c.recipe.optimizer.name for c in cases} == set(OPTIMIZERS)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_every_drawn_model_builds_and_runs_on_numpy(seed: int) -> None:
    """The generator under hypothesis (a seed strategy mapped through ``draw_cases``): property
    tests can draw from the same table."""
    case = draw_cases(1, seed)[0]
    task = case.task()
    params = init_params(task.model, case.seed)
    model = get_backend("numpy").build(task.model, params, task.recipe, dtype="float64", device="cpu")
    out = model.forward(model.stage(task.data.x_test[:4]))
    assert out.shape == (4, *task.model.output_shape) and np.isfinite(out).all()


def test_a_case_replays_through_a_spec_file(tmp_path: Path) -> None:
    """What failures/NNN/spec.json holds builds the same task as ``--spec spec.json --seed S``."""
    from netparity.spec.files import custom_task

    case = draw_cases(1, 5)[0]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(case.file()))
    task, replay = case.task(), custom_task(path, None, None, loss=None, seed=case.seed)
    assert replay.model == task.model and replay.recipe == task.recipe
    assert np.array_equal(replay.data.x_train, task.data.x_train)
    assert np.array_equal(replay.data.y_train, task.data.y_train)


# ------------------------------------------------------------ persistent workers


@pytest.fixture(scope="module")
def small_task():
    return with_overrides(get_task("regression").build(0), epochs=1)


def test_pool_workers_give_the_in_process_numbers_run_after_run(small_task) -> None:
    config = RunConfig(dtype="float64", timing=False)
    direct = run(small_task, ["numpy"], config, runner=run_backend).results["numpy"]
    seen = []
    with WorkerPool() as pool:
        for _ in range(2):  # the second run in the same worker starts from scratch again
            res = run(small_task, ["numpy"], config, runner=pool).results["numpy"]
            assert res.status == "ok"
            assert res.losses == direct.losses
            for name, value in direct.params.items():
                assert np.array_equal(res.params[name], value), name
            seen.append(res.losses)
        assert pool.stats()["numpy/threads=None/cpu"] == {"jobs": 2, "restarts": 0}
    assert seen[0] == seen[1]


def test_a_dead_or_stuck_worker_fails_that_job_and_restarts_alone(small_task) -> None:
    config = RunConfig(dtype="float64", timing=False)
    params = init_params(small_task.model, 0)
    with WorkerPool() as pool:
        assert pool("numpy", small_task, params, config).status == "ok"
        pool.worker("numpy", config).process.kill()  # a crash between jobs
        time.sleep(0.2)
        died = pool("numpy", small_task, params, config)
        assert died.status == "failed" and "died" in died.reason
        assert pool("numpy", small_task, params, config).status == "ok"  # restarted
        pool.timeout_s = 0.2  # a long training run is now too slow
        stuck = pool("numpy", with_overrides(small_task, epochs=1000), params, config)
        assert stuck.status == "failed" and "timed out" in stuck.reason
        pool.timeout_s = None
        assert pool("numpy", small_task, params, config).status == "ok"
        assert pool.stats()["numpy/threads=None/cpu"]["restarts"] == 2


def test_timing_runs_hold_the_machine_alone() -> None:
    lock, order = _Exclusive(), []
    lock.acquire(exclusive=False)

    def timing_run() -> None:
        lock.acquire(exclusive=True)
        order.append("timing")
        lock.release(exclusive=True)

    t = threading.Thread(target=timing_run)
    t.start()
    time.sleep(0.1)
    order.append("comparison done")  # the timing run waited for the running comparison
    lock.release(exclusive=False)
    t.join(5)
    assert order == ["comparison done", "timing"]


# ------------------------------------------------------------ judging and shrinking


@contextmanager
def wrong_elu():
    """The planted bug: ELU with alpha 1.5 instead of 1 (forward and backward consistent)."""
    honest = activations.ACTIVATIONS["elu"]
    activations.ACTIVATIONS["elu"] = (
        lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0))),
        lambda x, y, dy: dy * np.where(x > 0, 1, y + 1.5),
    )
    try:
        yield
    finally:
        activations.ACTIVATIONS["elu"] = honest


def planted(name: str):
    """A runner that files the NumPy backend under ``name``; with PLANT_ENV=elu set, that copy
    computes ELU wrongly (a second 'backend' with a deliberate formula error). It patches a module
    global, so campaigns with it keep one comparison in flight (parallel=1)."""

    def runner(backend: str, *args, **kwargs) -> BackendResult:
        if backend == name and os.environ.get(PLANT_ENV) == "elu":
            with wrong_elu():
                res = run_backend("numpy", *args, **kwargs)
        else:
            res = run_backend("numpy", *args, **kwargs)
        res.backend = backend
        return res

    return runner


def uses_elu(case: Case) -> bool:
    """Whether any layer (Residuals' inner ones too) applies exactly ELU (not relu, selu, gelu)."""

    def elu(layers: list[dict]) -> bool:
        return any(
            layer.get("activation") == "elu"
            or (layer["type"] == "Activation" and layer.get("name") == "elu")
            or elu(layer.get("layers", []))
            for layer in layers
        )

    return elu(case.spec["layers"])


def test_the_shrinker_cuts_a_planted_disagreement_to_one_or_two_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, seed = 6, 0
    cases = draw_cases(n, seed)
    assert any(uses_elu(c) for c in cases)  # the campaign draws the planted bug
    without = netparity.fuzz(
        n,
        seed=seed,
        backends="numpy,torch",
        runner=planted("torch"),
        out=tmp_path / "honest",
        parallel=1,
        log=lambda s: None,
    )
    assert without.ok and without.counts()["agreed"] == n  # the switch off: identical twins agree

    monkeypatch.setenv(PLANT_ENV, "elu")
    result = netparity.fuzz(
        n,
        seed=seed,
        backends="numpy,torch",
        runner=planted("torch"),
        out=tmp_path / "fuzz",
        parallel=1,
        log=lambda s: None,
    )
    flagged = {f.case_index for f in result.failures}
    assert flagged and flagged <= {i for i, c in enumerate(cases) if uses_elu(c)}
    assert result.counts()["with_findings"] == len(flagged)
    for f in result.failures:
        layers = f.reproducer.spec["layers"]
        assert 1 <= len(layers) <= 2, f.reproducer.describe()
        assert uses_elu(f.reproducer)
        assert len(layers) <= len(f.original.spec["layers"])
        assert f.reproducer.recipe.epochs == 1
        folder = tmp_path / "fuzz" / "failures" / f"{f.number:03d}"
        description = (folder / "description.txt").read_text().splitlines()[0]
        assert description.startswith("torch: mismatch") and "layer(s)" in description
        assert (folder / "report" / "summary.csv").exists()
        # the saved spec.json reproduces it, and only with the planted bug
        replay = Case(json.loads((folder / "spec.json").read_text()), f.reproducer.seed)
        assert judge(run_case(replay, ["numpy", "torch"], planted("torch")), "torch").verdict == "finding"
        monkeypatch.delenv(PLANT_ENV)
        assert judge(run_case(replay, ["numpy", "torch"], planted("torch")), "torch").verdict == "agree"
        monkeypatch.setenv(PLANT_ENV, "elu")
    table = pd.read_csv(tmp_path / "fuzz" / "campaign.csv")
    assert len(table) == 2 * n and set(table.verdict) <= {"reference", "agree", "finding"}
    assert "Failures (minimal reproducers)" in (tmp_path / "fuzz" / "report.md").read_text()


def test_shrink_stops_at_a_local_minimum() -> None:
    """A predicate that needs two Dense layers and an input of 3 keeps exactly those."""
    case = Case(
        {
            "input_shape": [5],
            "layers": [
                {"type": "Dense", "units": 4, "activation": "tanh"},
                {"type": "LayerNorm"},
                {"type": "Dense", "units": 3},
                {"type": "Dense", "units": 2},
            ],
            "recipe": {"loss": "mse", "optimizer": {"name": "sgd", "lr": 0.01}, "epochs": 2, "batch_size": 16},
        },
        seed=1,
    )

    def fails(c: Case) -> bool:
        dense = [x for x in c.spec["layers"] if x["type"] == "Dense"]
        return len(dense) >= 2 and c.spec["input_shape"][0] >= 3

    shrunk = shrink(case, fails)
    assert [x["type"] for x in shrunk.case.spec["layers"]] == ["Dense", "Dense"]
    assert shrunk.case.spec["input_shape"] == [3]
    assert [x["units"] for x in shrunk.case.spec["layers"]] == [1, 1]
    assert shrunk.case.recipe.epochs == 1 and shrunk.case.recipe.batch_size == 256


def test_shrink_simplifies_activations_and_the_recipe() -> None:
    """A predicate that needs only an elu somewhere keeps one elu layer, and takes plain SGD
    (the same lr) with no momentum, decay, l2, schedule or clipping."""
    case = Case(
        {
            "input_shape": [4],
            "layers": [
                {"type": "Dense", "units": 3, "activation": "relu"},
                {"type": "Residual", "layers": [{"type": "Dense", "units": 3, "activation": "elu"}]},
                {"type": "Dense", "units": 2, "activation": "tanh"},
            ],
            "recipe": {
                "loss": "mse",
                "optimizer": {"name": "adam", "lr": 0.003, "beta1": 0.8, "weight_decay": 0.01},
                "l2": 0.001,
                "clip": {"norm": 1.0},
                "lr_schedule": {"name": "exponential", "gamma": 0.9},
                "epochs": 2,
                "batch_size": 16,
            },
        },
        seed=3,
    )

    def fails(c: Case) -> bool:
        return uses_elu(c)

    shrunk = shrink(case, fails)
    recipe = shrunk.case.spec["recipe"]
    assert shrunk.case.spec["layers"] == [{"type": "Dense", "units": 1, "activation": "elu"}], shrunk.steps
    assert recipe["optimizer"] == {"name": "sgd", "lr": 0.003}
    assert not {"l2", "clip", "lr_schedule"} & set(recipe)
    assert {"plain SGD", "no l2", "no clip", "no lr_schedule"} <= set(shrunk.steps)
    assert shrunk.case.recipe.epochs == 1


def test_a_zero_gradient_parameter_is_rounding_noise_not_a_finding() -> None:
    """LayerNorm's beta right before a BatchNorm has an exact gradient of zero (the batch mean
    removes it): both sides hold rounding noise there, amplified by Adam; the rest agrees."""
    require("torch")
    case = Case(
        {
            "input_shape": [5],
            "layers": [
                {"type": "Dense", "units": 2, "activation": "elu"},
                {"type": "LayerNorm"},
                {"type": "BatchNorm"},
                {"type": "Dense", "units": 1},
            ],
            "recipe": {"loss": "mse", "optimizer": {"name": "adam", "lr": 0.005}, "epochs": 1, "batch_size": 32},
        },
        seed=0,
    )
    result = run_case(case, ["numpy", "torch"], InProcess())
    j = judge(result, "torch")
    assert j.verdict in ("noise", "agree"), j
    if j.verdict == "noise":
        assert j.detail == "1.layer_norm.beta"


# ------------------------------------------------------------ command line and API


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_sweep_through_the_cli_writes_one_campaign(tmp_path: Path) -> None:
    """roots: lr 0.2 diverges on every backend alike (agreement), 0.01 converges; two seeds."""
    require("torch")
    out = tmp_path / "sweep"
    proc = cli(
        "--task", "roots", "--sweep", "lr=0.01,0.2", "--sweep", "seed=0,1", "--epochs", "40", "--no-timing",
        "--no-isolate", "--backends", "numpy,torch", "--dtype", "float64", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = pd.read_csv(out / "campaign.csv")
    assert {"lr", "seed", "point", "backend", "status", "final_loss", "root"} <= set(table.columns)
    assert len(table) == 8  # 4 points x 2 backends
    assert set(table[table.lr == 0.2].point_verdict) == {"diverged together (agreement)"}
    for point in ("lr=0.01,seed=0", "lr=0.01,seed=1", "lr=0.2,seed=0", "lr=0.2,seed=1"):
        assert (out / point / "summary.csv").exists()
    report = (out / "report.md").read_text()
    assert "Spread of the final loss across seeds" in report and (out / "spread.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args",
    [["--fuzz", "0"], ["--fuzz", "2", "--task", "roots"], ["--sweep", "momentum=0.9"], ["--cluster", "x"],
     ["--lr", "0.1", "--sweep", "lr=0.2,0.3"], ["--parallel", "0", "--sweep", "lr=0.1"]],
)  # fmt: skip
def test_bad_campaign_flags_exit_2(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from netparity.cli import main

    assert main([*args, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netparity: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "never").exists()


def test_fuzz_through_the_cli(tmp_path: Path) -> None:
    require("torch")
    out = tmp_path / "fuzz"
    proc = cli("--fuzz", "2", "--fuzz-seed", "7", "--backends", "numpy,torch", "--no-isolate", "--out", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    table = pd.read_csv(out / "campaign.csv")
    assert len(table) == 4 and set(table.case) == {0, 1}
    failures = sorted((out / "failures").glob("*/spec.json")) if (out / "failures").exists() else []
    assert (proc.returncode == 1) == bool(failures)
    assert "specs 2" in proc.stdout and "Fuzz campaign: 2 random models" in (out / "report.md").read_text()


def test_sweep_through_the_api(tmp_path: Path) -> None:
    result = netparity.sweep(
        "roots",
        {"lr": [0.01], "epochs": [5, 10]},
        backends="numpy,torch",
        isolate=False,
        timing=False,
        out=tmp_path / "s",
    )
    assert result.ok and list(result.table.epochs) == [5, 5, 10, 10] and list(result.table.steps) == [5, 5, 10, 10]


# ------------------------------------------------------------ the cluster engine


def test_a_campaign_on_a_real_local_ray_instance(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    require("torch")
    from netparity.harness.campaign import run_fuzz
    from netparity.harness.cluster import RayEngine

    engine = RayEngine("local-ray", init={"num_cpus": 2, "object_store_memory": 80 * 2**20})
    try:
        result = run_fuzz(3, 0, ["numpy", "torch"], engine, tmp_path, shrink_tries=0, log=lambda s: None)
        nodes = engine.nodes()
    finally:
        engine.close()
    table = pd.read_csv(tmp_path / "campaign.csv")
    assert len(table) == 6 and set(table.backend) == {"numpy", "torch"}
    assert set(table.status) <= {"ok", "mismatch", "failed"} and (table.status == "ok").sum() >= 4
    assert set(nodes) == {"numpy/0", "torch/0"} and all(nodes.values())
    # the same numbers as the local pool would give: the actors run the same run_backend
    local = run_case(result.cases[1], ["numpy", "torch"], InProcess())
    row = table[(table.case == 1) & (table.backend == "torch")].iloc[0]
    assert row.final_loss == pytest.approx(local.results["torch"].final_loss, rel=1e-12)
