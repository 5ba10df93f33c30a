"""netparity: run the same neural network on several deep-learning backends and compare them
number by number.

Installed, ``netparity.spec``, ``netparity.backends`` and ``netparity.harness`` are ordinary
subpackages. In a source checkout they are the top-level folders ``spec/``, ``backends/`` and
``harness/`` (the repository keeps that layout): the package path below then also searches
the checkout's root, so the same imports work in both.

    import netparity
    result = netparity.compare("regression", backends=["numpy", "torch"], dtype="float64")
    result.assert_ok()
    result.summary        # a DataFrame, one row per backend
"""

from __future__ import annotations

from pathlib import Path as _Path

_here = _Path(__file__).resolve().parent
if not (_here / "spec").is_dir() and (_here.parent / "spec" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # source checkout: netparity.spec is ./spec


#: the public API, imported on first use so that ``import netparity`` stays fast and imports
#: no framework (nor pandas): name -> module
_LAZY = {
    "compare": "netparity.api",
    "load_spec": "netparity.api",
    "tasks": "netparity.api",
    "Result": "netparity.result",
    # bring your own model (issue 13): import from torch/Keras, export to every framework
    "export": "netparity.port",
    "from_keras": "netparity.port",
    "from_torch": "netparity.port",
    "load_params": "netparity.port",
    "save_params": "netparity.port",
}

__all__ = ["Result", "__version__", "compare", "load_spec", "tasks"]
__all__ += ["export", "from_keras", "from_torch", "load_params", "save_params"]

# campaigns (issue 17): netparity.sweep(...) and netparity.fuzz(...)
_LAZY.update({"fuzz": "netparity.campaign", "sweep": "netparity.campaign"})
__all__ += ["fuzz", "sweep"]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("netparity")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "0+checkout"


def __getattr__(name: str):
    if name == "__version__":  # importlib.metadata costs more than the rest of the import
        globals()["__version__"] = version = _version()
        return version
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netparity' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
