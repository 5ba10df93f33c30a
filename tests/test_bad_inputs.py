"""The catalogue of bad inputs: each gives exactly one clear line on stderr
(``netparity: error: ...``; ``compare.py: error: ...`` through the wrapper), exit status 2, and no traceback.

Unknown task/backend/dtype/reference/device, ``--epochs 0`` and bad numbers on the command
line are in tests/test_cli.py; this file covers spec files, CSV data, the run folder and
backends that are not installed. ``python tests/test_bad_inputs.py`` prints the catalogue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from netparity.spec import limits
from netparity.spec.errors import SpecError
from netparity.spec.layers import Dense
from netparity.spec.limits import MAX_CSV_BYTES, MAX_SPEC_BYTES, check_memory, memory_needed, read_regular_file
from netparity.spec.model import ModelSpec

from netparity import cli as compare

ROOT = Path(__file__).resolve().parents[1]

MLP = [{"type": "Dense", "units": 8, "activation": "relu"}, {"type": "Dense", "units": 1}]
CSV = "a,b,y\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(20))
NAN, INF = float("nan"), float("inf")  # json.dumps writes them as NaN and Infinity
# the "billion laughs": 9 levels of nine aliases each expand a few hundred bytes into 10**9 nodes
LAUGHS = "lol: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def spec(**changes: object) -> str:
    return json.dumps({"input_shape": [3], "layers": MLP, **changes})


def dense(**fields: object) -> str:
    return spec(layers=[{"type": "Dense", "units": 4, **fields}])


# (id, files to create in the case's folder, arguments ({d} is that folder), expected message)
CASES: list[tuple[str, dict[str, str], list[str], str]] = [
    (
        "malformed JSON",
        {"m.json": '{"layers": [{"type": "Dense",'},
        ["--spec", "{d}/m.json"],
        "malformed JSON at line 1",
    ),
    ("malformed YAML", {"m.yaml": "layers: [a, b\ninput_shape: 3\n"}, ["--spec", "{d}/m.yaml"], "malformed YAML"),
    (
        "YAML that asks to run code",
        {"m.yaml": "layers: !!python/object/apply:os.system ['echo pwned']\n"},
        ["--spec", "{d}/m.yaml"],
        "could not determine a constructor",
    ),
    ("spec is not an object", {"m.yaml": "- Dense\n- Dense\n"}, ["--spec", "{d}/m.yaml"], "expected an object"),
    (
        "unknown top-level key",
        {"m.json": spec(optimizer="sgd")},
        ["--spec", "{d}/m.json"],
        "unknown top-level key(s) optimizer",
    ),
    ("spec file missing", {}, ["--spec", "{d}/nope.json"], "nope.json: no such file"),
    (
        "unknown layer type",
        {"m.json": spec(layers=[{"type": "Conv3D", "filters": 2}])},
        ["--spec", "{d}/m.json"],
        "unknown layer type 'Conv3D'",
    ),
    ("unknown layer field", {"m.json": dense(unit=3)}, ["--spec", "{d}/m.json"], "unknown field(s) unit"),
    (
        "wrong field type",
        {"m.json": spec(layers=[{"type": "Dense", "units": "64"}])},
        ["--spec", "{d}/m.json"],
        "field 'units' has the wrong type",
    ),
    (
        "unknown activation",
        {"m.json": dense(activation="swish")},
        ["--spec", "{d}/m.json"],
        "unknown activation 'swish'",
    ),
    ("unknown initializer", {"m.json": dense(kernel_init="he")}, ["--spec", "{d}/m.json"], "unknown initializer 'he'"),
    (
        "zero units",
        {"m.json": spec(layers=[{"type": "Dense", "units": 0}])},
        ["--spec", "{d}/m.json"],
        "Dense.units must be a positive integer, got 0",
    ),
    (
        "negative input size",
        {"m.json": spec(input_shape=[-3])},
        ["--spec", "{d}/m.json"],
        "input_shape must be a non-empty tuple of positive integers",
    ),
    (
        "shapes do not chain",
        {"m.json": spec(layers=[{"type": "Conv2D", "filters": 4, "kernel": 3}, {"type": "Dense", "units": 1}])},
        ["--spec", "{d}/m.json"],
        "layer 0 (Conv2D): Conv2D expects",
    ),
    (
        "kernel larger than its input",
        {
            "m.json": spec(
                input_shape=[4, 4, 1], layers=[{"type": "Conv2D", "filters": 2, "kernel": 5}, {"type": "Flatten"}]
            )
        },
        ["--spec", "{d}/m.json"],
        "Conv2D kernel span 5x5 is larger than its 4x4 input",
    ),
    (
        "a model too large to compare",
        {"m.json": spec(layers=[{"type": "Dense", "units": 10**6}, {"type": "Dense", "units": 10**3}])},
        ["--spec", "{d}/m.json"],
        "the model has 1,004,001,000 parameters",
    ),
    (
        "unknown optimizer",
        {"m.json": spec(recipe={"optimizer": {"name": "lion", "lr": 0.1}})},
        ["--spec", "{d}/m.json"],
        "unknown optimizer 'lion'",
    ),
    (
        "optimizer lr of the wrong type",
        {"m.json": spec(recipe={"optimizer": {"name": "sgd", "lr": "fast"}})},
        ["--spec", "{d}/m.json"],
        "field 'lr' has the wrong type",
    ),
    (
        "zero epochs in the spec",
        {"m.json": spec(recipe={"epochs": 0})},
        ["--spec", "{d}/m.json"],
        "epochs must be a positive integer, got 0",
    ),
    ("unknown loss", {"m.json": spec()}, ["--spec", "{d}/m.json", "--loss", "hinge"], "unknown loss 'hinge'"),
    (
        "CSV missing the target column",
        {"d.csv": CSV},
        ["--data", "{d}/d.csv", "--target", "price"],
        "no column 'price' for --target",
    ),
    (
        "CSV with a non-numeric value",
        {"d.csv": CSV.replace("\n4,1,8\n", "\n4,abc,8\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'b' holds a non-numeric value 'abc' (data row 5)",
    ),
    (
        "NaN in the data",
        {"d.csv": CSV.replace("\n6,0,12\n", "\n6,NaN,12\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'b' holds NaN, inf or an empty cell (data row 7)",
    ),
    (
        "class labels without cross_entropy",
        {"d.csv": CSV.replace("a,b,y\n0,0,0\n", "a,b,y\n0,0,cat\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'y' holds a non-numeric value 'cat' (data row 1); class labels need --loss cross_entropy",
    ),
    ("empty CSV", {"d.csv": ""}, ["--data", "{d}/d.csv", "--target", "y"], "the file is empty"),
    ("--data without --target", {"d.csv": CSV}, ["--data", "{d}/d.csv"], "--data needs --target COLUMN"),
    ("--target without --data", {}, ["--target", "y"], "--target needs --data"),
    (
        "--task with --spec",
        {"m.json": spec()},
        ["--task", "regression", "--spec", "{d}/m.json"],
        "--task and --spec/--data exclude each other",
    ),
    (
        "input_shape that contradicts the CSV",
        {"m.json": spec(input_shape=[5]), "d.csv": CSV},
        ["--spec", "{d}/m.json", "--data", "{d}/d.csv", "--target", "y"],
        "input_shape [5] does not match the 2 feature columns",
    ),
    (
        "too few outputs for the classes",
        {"d.csv": CSV},
        ["--data", "{d}/d.csv", "--target", "b", "--loss", "cross_entropy", "--spec", "{d}/m.json"],
        "does not match the 3 classes of column 'b'",
    ),
    ("unwritable --out", {"file": "x"}, ["--out", "{d}/file/run"], "cannot write the report to"),
    # ---- issue 12: hostile inputs, bounded in time and memory
    ("JSON nested 1,000 deep", {"m.json": "[" * 1000 + "]" * 1000}, ["--spec", "{d}/m.json"], "nested more than 32"),
    ("JSON nested 100,000 deep", {"m.json": "[" * 10**5 + "]" * 10**5}, ["--spec", "{d}/m.json"], "nested more than"),
    (
        "JSON nested deep inside layers",
        {"m.json": '{"input_shape": [3], "layers": ' + "[" * 40 + "]" * 40 + "}"},
        ["--spec", "{d}/m.json"],
        "nested more than 32 levels deep",
    ),
    (
        "YAML nested 1,000 deep",
        {"m.yaml": "layers: " + "[" * 1000 + "]" * 1000},
        ["--spec", "{d}/m.yaml"],
        "nested more than 32 levels deep",
    ),
    (
        "YAML nested 100 deep",
        {"m.yaml": "layers: " + "[" * 100 + "]" * 100},
        ["--spec", "{d}/m.yaml"],
        "nested more than 32 levels deep",
    ),
    ("recursive YAML anchor", {"m.yaml": "input_shape: [3]\nlayers: &a [*a]\n"}, ["--spec", "{d}/m.yaml"], "aliases"),
    (
        "billion laughs in layers",
        {"m.yaml": LAUGHS + "layers: [*i]\n"},
        ["--spec", "{d}/m.yaml"],
        "aliases (*a) are not",
    ),
    (
        "billion laughs in a field value",
        {"m.yaml": "input_shape: [3]\n" + LAUGHS.replace("lol: &a", "x: &a") + "layers: [{type: Dense, units: *i}]\n"},
        ["--spec", "{d}/m.yaml"],
        "are not allowed in a spec",
    ),
    ("--spec /dev/zero", {}, ["--spec", "/dev/zero"], "/dev/zero: not a regular file"),
    ("--data /dev/zero", {}, ["--data", "/dev/zero", "--target", "y"], "/dev/zero: not a regular file"),
    (
        "a 3.7 MB YAML of 150,000 layers",
        {"m.yaml": "input_shape: [3]\nlayers:\n" + "- {type: Dense, units: 4}\n" * 150_000},
        ["--spec", "{d}/m.yaml"],
        "m.yaml: more than 50,000 YAML nodes; a spec has far fewer",
    ),
    (
        "a 3.7 MB JSON of 120,000 layers",
        {"m.json": spec(layers=[{"type": "Dense", "units": 4}] * 120_000)},
        ["--spec", "{d}/m.json"],
        "the model has 120,000 layers; at most 1,000 are allowed",
    ),
    ("spec folder", {"m.json/x": "{}"}, ["--spec", "{d}/m.json"], "is a folder, not a file"),
    (
        "too many layers",
        {
            "m.json": spec(
                layers=[{"type": "Activation", "activation": "relu"}] * 1001 + [{"type": "Dense", "units": 1}]
            )
        },
        ["--spec", "{d}/m.json"],
        "the model has 1,002 layers; at most 1,000",
    ),
    (
        "huge input with few parameters",
        {"m.json": spec(input_shape=[4096, 4096, 3], layers=[{"type": "Conv2D", "filters": 1, "kernel": 1}])},
        ["--spec", "{d}/m.json"],
        "the run needs about",
    ),
    (
        "ten million inputs",
        {"m.json": spec(input_shape=[10**7], layers=[{"type": "Dense", "units": 1}])},
        ["--spec", "{d}/m.json"],
        "of memory (data",
    ),
    (
        "float input size",
        {"m.json": spec(input_shape=[1e7])},
        ["--spec", "{d}/m.json"],
        "a list of integers, got [10000000.0]",
    ),
    ("input size 1e20", {"m.json": spec(input_shape=[10**20, 3])}, ["--spec", "{d}/m.json"], "is out of range"),
    (
        "5,000-digit integer in JSON",
        {"m.json": spec(input_shape=[int("9" * 4000)]).replace("9" * 4000, "9" * 5000)},
        ["--spec", "{d}/m.json"],
        "malformed JSON: an integer of more than 4,300 digits",
    ),
    (
        "5,000-digit integer in YAML",
        {"m.yaml": "input_shape: [" + "9" * 5000 + "]\n"},
        ["--spec", "{d}/m.yaml"],
        "malformed YAML: an integer of more than 4,300 digits",
    ),
    ("100-digit units", {"m.json": dense(units=10**100)}, ["--spec", "{d}/m.json"], "field 'units' is out of range"),
    ("--epochs 1000000000", {}, ["--task", "regression", "--epochs", "1000000000"], "the run needs about"),
    ("--seed -1", {}, ["--seed", "-1"], "--seed must be an integer from 0 to 4294967295 (2**32-1), got -1"),
    ("--seed 2**32", {}, ["--seed", "4294967296"], "--seed must be an integer from 0 to 4294967295"),
    ("--seed 2**70", {}, ["--seed", str(2**70)], "got 1180591620717411303424"),
    ("--seed of 5,000 digits", {}, ["--seed", "7" * 5000], "invalid int value: '77777777777777"),
    (
        "shuffle_seed -1",
        {"m.json": spec(recipe={"shuffle_seed": -1})},
        ["--spec", "{d}/m.json"],
        "recipe shuffle_seed must be",
    ),
    ("--threads 10000", {}, ["--threads", "10000"], "--threads must be from 1 to"),
    ("--threads 0", {}, ["--threads", "0"], "--threads must be from 1 to"),
    (
        "NaN weight_decay",
        {"m.json": spec(recipe={"optimizer": {"name": "sgd", "weight_decay": NAN}})},
        ["--spec", "{d}/m.json"],
        "optimizer.weight_decay must be a finite number, got nan",
    ),
    (
        "NaN epsilon",
        {"m.json": spec(recipe={"optimizer": {"name": "adam", "epsilon": NAN}})},
        ["--spec", "{d}/m.json"],
        "optimizer.epsilon must be a finite number",
    ),
    (
        "NaN l2",
        {"m.json": spec(recipe={"l2": NAN})},
        ["--spec", "{d}/m.json"],
        "recipe.l2 must be a finite number, got nan",
    ),
    (
        "lr Infinity in a spec",
        {"m.json": spec(recipe={"optimizer": {"name": "sgd", "lr": INF}})},
        ["--spec", "{d}/m.json"],
        "optimizer.lr must be a finite number, got inf",
    ),
    ("--lr inf", {}, ["--lr", "inf"], "--lr must be a finite number, got inf"),
    (
        "--epsilon inf",
        {},
        ["--optimizer", "adam", "--epsilon", "inf"],
        "optimizer.epsilon must be a finite number, got inf",
    ),
    ("--weight-decay nan", {}, ["--weight-decay", "nan"], "optimizer.weight_decay must be a finite number, got nan"),
    ("--l2 inf", {}, ["--l2", "inf"], "recipe.l2 must be a finite number, got inf"),
    (
        "normal:inf init",
        {"m.json": dense(kernel_init="normal:inf")},
        ["--spec", "{d}/m.json"],
        "initializer 'normal:inf': the value must be finite",
    ),
    (
        "uniform:inf init",
        {"m.json": dense(kernel_init="uniform:inf")},
        ["--spec", "{d}/m.json"],
        "the value must be finite",
    ),
    (
        "uniform:1e308 init",
        {"m.json": dense(kernel_init="uniform:1e308")},
        ["--spec", "{d}/m.json"],
        "the scale must be in (0, 1e+06]",
    ),
    (
        "BatchNorm epsilon .inf",
        {"m.yaml": "input_shape: [3]\nlayers: [{type: BatchNorm, epsilon: .inf}, {type: Dense, units: 1}]\n"},
        ["--spec", "{d}/m.yaml"],
        "BatchNorm.epsilon must be a finite number, got inf",
    ),
    (
        "CSV repeating the target",
        {"d.csv": CSV.replace("a,b,y", "a,y,y")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "the header repeats the column name(s) 'y'",
    ),
    (
        "CSV with a 1e308 cell",
        {"d.csv": CSV.replace("\n4,1,8\n", "\n4,1e308,8\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'b' holds 1e+308 (data row 5); values must be within +-1e+100",
    ),
    (
        "CSV with a 1e308 target",
        {"d.csv": CSV.replace("\n4,1,8\n", "\n4,1,1e308\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'y' holds 1e+308 (data row 5)",
    ),
    (
        "CSV with two 1e308 cells",
        {"d.csv": CSV.replace("\n4,1,8\n", "\n4,1e308,-1e308\n")},
        ["--data", "{d}/d.csv", "--target", "y"],
        "column 'b' holds 1e+308",
    ),
    (
        "a field name that forges a traceback",
        {"m.json": dense(**{"x\nTraceback (most recent call last):\x1b[31m": 1})},
        ["--spec", "{d}/m.json"],
        "unknown field(s) 'x\\nTraceback (most recent call last):\\x1b[31m'",
    ),
    (
        "a 10 MB layer type",
        {"m.json": spec(layers=[{"type": "D" * 3 * 10**6}])},
        ["--spec", "{d}/m.json"],
        "unknown layer type 'DDDD",
    ),
    (
        "a CSV header that forges a traceback",
        {"d.csv": CSV.replace("a,b,y", 'a,"b\nTraceback (most recent call last):",y')},
        ["--data", "{d}/d.csv", "--target", "price"],
        "(columns: 'a', 'b\\nTraceback",
    ),
    (
        "a --target with an escape code",
        {"d.csv": CSV},
        ["--data", "{d}/d.csv", "--target", "\x1b[2Jy"],
        "no column '\\x1b[2Jy'",
    ),
    ("a 100,000-character --backends", {}, ["--backends", "x" * 10**5], "unknown backend 'xxxxxxxx"),
    ("--out empty", {}, ["--out", ""], "--out is empty"),
]
# "too few outputs" needs a spec without input_shape (the CSV gives it) and one output unit
next(c for c in CASES if c[0] == "too few outputs for the classes")[1]["m.json"] = json.dumps({"layers": MLP})


def run_case(files: dict[str, str], args: list[str], folder: Path, *, backends: bool = True) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    argv = [a.replace("{d}", str(folder)) for a in args]
    if backends and "--backends" not in argv:
        argv += ["--backends", "numpy"]
    if "--out" not in argv:
        argv += ["--out", str(folder / "out")]
    return [*argv, "--no-timing", "--epochs", "1"] if "--epochs" not in argv else argv


@pytest.mark.parametrize(("files", "args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    files: dict[str, str], args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = run_case(files, args, tmp_path)
    status = compare.main(argv)  # in-process: any exception escaping main fails this test
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("netparity: error: ") and message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing half-written for a run that never started


def test_reference_backend_not_installed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for check in ("unavailable_reason", "installed_reason"):  # deep (--no-isolate) and package checks
        monkeypatch.setattr(compare, check, lambda name: "No module named 'torch'" if name == "torch" else None)
    status = compare.main(["--backends", "numpy", "--reference", "torch", "--no-timing"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err == ["netparity: error: the reference backend torch is not available: No module named 'torch'"]


@pytest.mark.parametrize("case", ["malformed YAML", "NaN in the data", "unwritable --out"])
def test_the_real_command_line_prints_no_traceback(case: str, tmp_path: Path) -> None:
    """Also without --backends: a bad spec or CSV is reported before any framework is imported
    (and so before any framework's own start-up chatter on stderr)."""
    _, files, args, message = next(c for c in CASES if c[0] == case)
    argv = run_case(files, args, tmp_path, backends=case == "unwritable --out")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert proc.stdout == ""


HOSTILE = [
    "a 3.7 MB YAML of 150,000 layers",
    "a 3.7 MB JSON of 120,000 layers",
    "billion laughs in layers",
    "JSON nested 100,000 deep",
    "--spec /dev/zero",
    "--data /dev/zero",
    "5,000-digit integer in JSON",
    "--epochs 1000000000",
    "a field name that forges a traceback",
    "a 10 MB layer type",
]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_inputs_end_quickly_through_the_real_command_line(case: str, tmp_path: Path) -> None:
    """Bounded time (and so bounded memory): one short line well within the timeout."""
    _, files, args, message = next(c for c in CASES if c[0] == case)
    argv = run_case(files, args, tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and len(lines[0]) < 400, proc.stderr[-2000:]


def test_a_fifo_is_never_read(tmp_path: Path) -> None:
    """Opening a FIFO for reading would block until a writer comes: it is refused unopened."""
    fifo = tmp_path / "m.yaml"
    os.mkfifo(fifo)
    argv = ["--spec", str(fifo), "--backends", "numpy", "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"compare.py: error: --spec {fifo}: not a regular file (a device, FIFO or socket is never read)"
    ]


@pytest.mark.parametrize(
    ("flag", "name", "limit"), [("--spec", "m.json", MAX_SPEC_BYTES), ("--data", "d.csv", MAX_CSV_BYTES)]
)
def test_a_huge_file_is_refused_before_it_is_read(
    flag: str, name: str, limit: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / name
    with open(big, "wb") as fh:  # sparse: no disk space used
        fh.truncate(limit + 1)
    argv = [flag, str(big), *(["--target", "y"] if flag == "--data" else []), "--backends", "numpy"]
    assert compare.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"netparity: error: {flag} {big}: {limit + 1:,} bytes is larger than the limit of {limit:,}"
    )


def test_a_file_grown_past_the_cap_after_stat_is_still_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.json"
    path.write_text("x" * 100)
    with pytest.raises(SpecError, match="100 bytes is larger than the limit of 50"):
        read_regular_file(path, "--spec", 50)  # stat says 100 > 50: refused up front
    monkeypatch.setattr(limits.Path, "stat", lambda self: os.stat_result((0o100644, 0, 0, 1, 0, 0, 10, 0, 0, 0)))
    with pytest.raises(SpecError, match=r"--spec .*: larger than the limit of 50 bytes"):
        read_regular_file(path, "--spec", 50)  # stat lied (10 bytes): the read stops at 51


def test_a_semicolon_separated_csv_is_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text(CSV.replace(",", ";"))
    argv = ["--data", str(tmp_path / "d.csv"), "--target", "y", "--backends", "numpy,torch", "--no-isolate"]
    status = compare.main([*argv, "--dtype", "float64", "--no-timing", "--epochs", "1", "--out", str(tmp_path / "o")])
    assert status == 0, capsys.readouterr().err
    assert "numpy" in (tmp_path / "o" / "summary.csv").read_text()


def test_the_largest_seed_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2**32-1 is accepted by every seeded step: init, data split, batch order, Dropout masks."""
    layers = [
        {"type": "Dense", "units": 4, "activation": "relu"},
        {"type": "Dropout", "rate": 0.2},
        {"type": "Dense", "units": 1},
    ]
    (tmp_path / "m.json").write_text(json.dumps({"layers": layers}))
    (tmp_path / "d.csv").write_text(CSV)
    argv = [
        "--spec",
        str(tmp_path / "m.json"),
        "--data",
        str(tmp_path / "d.csv"),
        "--target",
        "y",
        "--seed",
        str(2**32 - 1),
    ]
    argv += ["--backends", "numpy,torch", "--no-isolate", "--dtype", "float64", "--no-timing", "--epochs", "1"]
    assert compare.main([*argv, "--out", str(tmp_path / "o")]) == 0, capsys.readouterr().err


def test_memory_estimate_grows_with_sizes_and_names_its_parts() -> None:
    small = ModelSpec((10,), (Dense(8), Dense(1)))
    wide = ModelSpec((10_000,), (Dense(8), Dense(1)))
    a = memory_needed(small, 1000, 200, 32, 10)
    b = memory_needed(wide, 1000, 200, 32, 10)
    c = memory_needed(small, 1000, 200, 32, 10**6)
    assert set(a) == {"data", "activations", "parameters", "losses"}
    assert b["data"] > 900 * a["data"] and b["parameters"] > 800 * a["parameters"]
    assert c["losses"] == 10**5 * a["losses"] and c["data"] == a["data"]  # epochs cost only their records
    assert a["data"] >= 8 * 1200 * 11  # at least the float64 inputs and targets themselves
    with pytest.raises(SpecError, match=r"the run needs about .* of memory \(.*losses.*\); this machine has .* free"):
        check_memory(small, 1000, 200, 32, 10**12)


if __name__ == "__main__":  # the catalogue, as the closing note shows it
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for i, (case, files, args, _) in enumerate(CASES):
            argv = run_case(files, args, Path(tmp) / f"case{i}")
            proc = subprocess.run([sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True)
            shown = " ".join(a.replace("{d}", "DIR") for a in args)
            line = proc.stderr.strip().replace(str(Path(tmp) / f"case{i}"), "DIR")
            print(f"| {case} | `compare.py {shown}` | {proc.returncode} | `{line}` |")
