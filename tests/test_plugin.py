"""The pytest plugin as a user's test suite sees it: run in a fresh pytest, outside this
repository's conftest, with the plugin loaded the way the pytest11 entry point loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from netparity.backends import BACKENDS

from netparity.testing import installed_backends, marker

ROOT = Path(__file__).resolve().parents[1]

USER_TESTS = """
import numpy as np
from netparity.testing import assert_parity

MODEL = {"input_shape": [3], "layers": [{"type": "Dense", "units": 2, "activation": "tanh"}, {"type": "Dense", "units": 1}],
         "recipe": {"epochs": 1, "batch_size": 8}}

def test_my_model_agrees(netparity_backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    result = assert_parity(MODEL, (x, x.sum(axis=1)), backends=[netparity_backend])
    assert netparity_backend in set(result.summary.backend)
"""


def plugin_args() -> list[str]:
    """Nothing when the pytest11 entry point is installed (pip install netparity loads the
    plugin by itself, and a second `-p` would register it twice); else load it by hand."""
    installed = entry_points(group="pytest11", name="netparity")
    return [] if installed else ["-p", "netparity.pytest_plugin"]


def user_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # netparity from this checkout, like an install
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_fixture_is_listed_and_markers_registered(tmp_path: Path) -> None:
    fixtures = user_pytest(tmp_path, "--fixtures", "test_user.py")
    assert fixtures.returncode == 0, fixtures.stdout + fixtures.stderr
    assert "netparity_backend" in fixtures.stdout and "once per backend" in fixtures.stdout
    markers = user_pytest(tmp_path, "--markers")
    for name in BACKENDS:
        assert f"@pytest.mark.{marker(name)}: tests that run the {name} backend" in markers.stdout


@pytest.mark.slow
def test_user_suite_runs_once_per_installed_backend(tmp_path: Path) -> None:
    proc = user_pytest(tmp_path, "-v", "--strict-markers", "test_user.py")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in installed_backends():
        assert f"test_my_model_agrees[{name}] PASSED" in proc.stdout
    only_numpy = user_pytest(tmp_path, "-v", "-m", "numpy", "test_user.py")
    assert only_numpy.returncode == 0, only_numpy.stdout[-3000:]
    assert "test_my_model_agrees[numpy] PASSED" in only_numpy.stdout
    assert "1 passed" in only_numpy.stdout and "deselected" in only_numpy.stdout
