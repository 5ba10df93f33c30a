"""The catalogue of bad inputs: each gives exactly one clear line on stderr
(``netparity: error: ...``; ``compare.py: error: ...`` through the wrapper), exit status 2, and no traceback.

Unknown task/backend/dtype/reference/device, ``--epochs 0`` and bad numbers on the command
line are in tests/test_cli.py; this file covers spec files, CSV data, the run folder and
backends that are not installed. ``python tests/test_bad_inputs.py`` prints the catalogue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netparity import cli as compare

ROOT = Path(__file__).resolve().parents[1]

MLP = [{"type": "Dense", "units": 8, "activation": "relu"}, {"type": "Dense", "units": 1}]
CSV = "a,b,y\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(20))


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
        "Conv2D kernel 5x5 is larger than its 4x4 input",
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
]
# "too few outputs" needs a spec without input_shape (the CSV gives it) and one output unit
CASES[-2][1]["m.json"] = json.dumps({"layers": MLP})


def run_case(files: dict[str, str], args: list[str], folder: Path, *, backends: bool = True) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
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


if __name__ == "__main__":  # the catalogue, as the closing note shows it
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for i, (case, files, args, _) in enumerate(CASES):
            argv = run_case(files, args, Path(tmp) / f"case{i}")
            proc = subprocess.run([sys.executable, str(ROOT / "compare.py"), *argv], capture_output=True, text=True)
            shown = " ".join(a.replace("{d}", "DIR") for a in args)
            line = proc.stderr.strip().replace(str(Path(tmp) / f"case{i}"), "DIR")
            print(f"| {case} | `compare.py {shown}` | {proc.returncode} | `{line}` |")
