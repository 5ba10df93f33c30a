"""Shared fixtures: backends skip cleanly with the reason when their framework is missing,
unless NETPARITY_REQUIRE_BACKENDS (set by CI) turns that skip into a failure."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from netparity.backends import BACKENDS, backend_folder, get_backend, required_backends, unavailable_reason
from netparity.backends.base import Backend

FRAMEWORK_BACKENDS = tuple(b for b in BACKENDS if b != "numpy")


def require(name: str) -> Backend:
    """The backend, or skip (fail when required) with the reason it cannot run."""
    reason = unavailable_reason(name)
    if reason is not None:
        if name in required_backends():
            pytest.fail(f"backend {name} is required (NETPARITY_REQUIRE_BACKENDS) but unavailable: {reason}")
        pytest.skip(f"backend {name} unavailable: {reason}")
    return get_backend(name)


#: Keras on JAX and torch: same adapter as ``keras``, other engine (in the test process they
#: run in a worker process each, backends/remote.py: this process's Keras is on TensorFlow)
KERAS_ENGINES = ("keras", "keras-jax", "keras-torch")


def marker(name: str) -> str:
    """A backend's pytest marker: its name with '-' as '_' (``-m keras_jax``)."""
    return name.replace("-", "_")


def layout_module(name: str) -> str:
    """The module holding a backend's LayoutTable (one per folder: keras-jax uses keras's)."""
    return f"netparity.backends.{backend_folder(name)}.layout"


def backend_params(names: tuple[str, ...] = BACKENDS) -> list:
    """pytest params for backends, each with its own marker (``-m torch`` selects PyTorch)."""
    return [pytest.param(n, marks=getattr(pytest.mark, marker(n)), id=n) for n in names]


def pytest_configure(config: pytest.Config) -> None:
    for name in BACKENDS:
        config.addinivalue_line("markers", f"{marker(name)}: tests that run the {name} backend")
    config.addinivalue_line("markers", "slow: end-to-end runs that take several seconds")
    config.addinivalue_line("markers", "gpu: needs a CUDA device; skipped without one")
