"""The wheel: one top-level package ``netparity`` holding every subpackage of spec/, backends/
and harness/, a ``netparity`` console script and the pytest11 plugin entry point."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("spec", "backends", "harness")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the checkout (the build's own files stay out of the repo)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    junk = shutil.ignore_patterns(".git", ".venv", "reports", "build", "dist", "*.egg-info", "__pycache__", ".*cache")
    shutil.copytree(ROOT, src, ignore=junk)
    # without setuptools in this environment (Python >= 3.12 venvs) pip builds in an isolated one
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", *isolation, "-w", str(tmp / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = (tmp / "dist").glob("netparity-*.whl")
    return zipfile.ZipFile(path)


def source_packages() -> set[str]:
    """Every package of the checkout, by the name it installs under."""
    names = {"netparity"}
    for root in SUBPACKAGES:
        for init in (ROOT / root).rglob("__init__.py"):
            names.add(".".join(["netparity", *init.parent.relative_to(ROOT).parts]))
    return names


def test_only_netparity_at_the_top_level(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"netparity"}, sorted(tops)


def test_every_subpackage_and_module_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    files = set(wheel.namelist())
    for package in source_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in files, package
    assert "netparity/backends/torch/layers/__init__.py" in files
    for root in SUBPACKAGES:  # not only packages: every module of each
        for module in (ROOT / root).rglob("*.py"):
            assert f"netparity/{module.relative_to(ROOT).as_posix()}" in files, module
    for module in (ROOT / "netparity").glob("*.py"):
        assert f"netparity/{module.name}" in files


def test_console_script_and_pytest_plugin_entry_points(wheel: zipfile.ZipFile) -> None:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(name).decode())
    assert entry_points["console_scripts"]["netparity"] == "netparity.cli:main"
    assert entry_points["pytest11"]["netparity"] == "netparity.pytest_plugin"
