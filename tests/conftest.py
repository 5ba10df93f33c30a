"""Shared fixtures. The backend parameters, per-backend markers and clean skips are the public
ones (netparity.testing, netparity/pytest_plugin.py), which an installed netparity registers
through its pytest11 entry point; a checkout that was not installed registers the plugin here."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from netparity.backends import backend_folder

import netparity.pytest_plugin as netparity_plugin
from netparity.testing import FRAMEWORK_BACKENDS, backend_params, require  # noqa: F401  (tests import these from here too)

#: Keras on JAX and torch: same adapter as ``keras``, other engine (in the test process they
#: run in a worker process each, backends/remote.py: this process's Keras is on TensorFlow)
KERAS_ENGINES = ("keras", "keras-jax", "keras-torch")


def layout_module(name: str) -> str:
    """The module holding a backend's LayoutTable (one per folder: keras-jax uses keras's)."""
    return f"netparity.backends.{backend_folder(name)}.layout"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(netparity_plugin):  # no entry point: an uninstalled checkout
        config.pluginmanager.register(netparity_plugin, "netparity")
    config.addinivalue_line("markers", "slow: end-to-end runs that take several seconds")
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped without one")
