"""The netparity pytest plugin (registered through the ``pytest11`` entry point, so an
installed netparity brings it to any test suite; ``-p no:netparity`` turns it off).

- ``netparity_backend``: a fixture parametrized over the installed backends, one test per
  backend (ids ``[numpy]``, ``[torch]``, ...); a backend whose framework fails to import is
  skipped with the reason, or fails under NETPARITY_REQUIRE_BACKENDS.
- One marker per backend (``-m torch``, ``-m "not tf"``).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up banners
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from netparity.backends import BACKENDS
from netparity.testing import backend_params, installed_backends, marker, require


def pytest_configure(config: pytest.Config) -> None:
    for name in BACKENDS:
        config.addinivalue_line("markers", f"{marker(name)}: tests that run the {name} backend")


@pytest.fixture(params=backend_params(installed_backends()))
def netparity_backend(request: pytest.FixtureRequest) -> str:
    """The name of one installed netparity backend (numpy, torch, tf, jax, keras, keras-jax,
    keras-torch): a test using it
    runs once per backend, marked with the backend's name; skipped with the reason when the
    framework cannot run here."""
    require(request.param)
    return request.param
