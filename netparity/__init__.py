"""netparity: run the same neural network on several deep-learning backends and compare them
number by number.

Installed, ``netparity.spec``, ``netparity.backends`` and ``netparity.harness`` are ordinary
subpackages. In a source checkout they are the top-level folders ``spec/``, ``backends/`` and
``harness/`` (the repository keeps that layout): the package path below then also searches
the checkout's root, so the same imports work in both.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from pathlib import Path as _Path

_here = _Path(__file__).resolve().parent
if not (_here / "spec").is_dir() and (_here.parent / "spec" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # source checkout: netparity.spec is ./spec

try:
    __version__ = _metadata.version("netparity")
except _metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+checkout"

__all__ = ["__version__"]

# --- bring your own model (issue 13): import from torch/Keras, export to every framework ---
from netparity.port import export, from_keras, from_torch, load_params, save_params  # noqa: E402

__all__ += ["export", "from_keras", "from_torch", "load_params", "save_params"]
