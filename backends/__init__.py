"""Backend registry. Each backend lives in its own folder and is imported lazily, so a
machine without TensorFlow still runs NumPy and PyTorch and reports why TF was skipped."""

from __future__ import annotations

import importlib
import os

from netparity.backends.base import Backend, BackendBroken, BackendUnavailable, native_stderr_silenced

BACKENDS = ("numpy", "torch", "tf", "jax", "keras", "keras-jax", "keras-torch")

#: Set (e.g. by CI) to make a missing or broken framework an error instead of a skip.
REQUIRE_ENV = "NETPARITY_REQUIRE_BACKENDS"


def backend_folder(name: str) -> str:
    """The folder (package) that implements backend ``name``: "keras-jax" is Keras (folder
    ``keras``) on its JAX engine; a folder name cannot contain '-'."""
    return name.split("-", 1)[0]


def backend_object(name: str) -> Backend:
    """The backend object without checking that it can run: a folder's ``BACKEND``, or for a
    name "folder-variant" its ``VARIANTS[variant]``. Importing a folder imports no framework."""
    folder, _, variant = name.partition("-")
    module = importlib.import_module(f"netparity.backends.{folder}")
    return module.VARIANTS[variant] if variant else module.BACKEND


def prepare_process(name: str) -> None:
    """Set up a fresh process to run backend ``name`` before any framework is imported (e.g.
    KERAS_BACKEND for a Keras engine); a no-op for backends that need nothing."""
    hook = getattr(backend_object(name), "prepare_process", None)
    if hook is not None:
        hook()


def get_backend(name: str) -> Backend:
    """The backend object; raises KeyError for unknown names, BackendUnavailable if it can't run."""
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    backend = backend_object(name)
    reason = installed_reason(name)
    if reason:  # not installed: skipped
        raise BackendUnavailable(f"{name}: {reason}")
    for package in getattr(backend, "requires", ()):
        try:  # installed but broken: failed, with the import error
            with native_stderr_silenced():
                importlib.import_module(package)
        except Exception as err:
            raise BackendBroken(
                f"{name}: {package} is installed but fails to import ({type(err).__name__}: {err})"
            ) from None
    reason = backend.unavailable()
    if reason:
        raise BackendUnavailable(f"{name}: {reason}")
    return backend


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or None if it can."""
    try:
        get_backend(name)
    except BackendUnavailable as err:
        return str(err).split(": ", 1)[1]
    return None


def installed_reason(name: str) -> str | None:
    """Like ``unavailable_reason`` but without importing the framework (a second or more
    for torch and TensorFlow): only whether its packages are installed. For choosing
    backends in a parent process whose children import the frameworks themselves."""
    import importlib.util

    backend = backend_object(name)
    missing = [m for m in getattr(backend, "requires", ()) if importlib.util.find_spec(m) is None]
    return f"{', '.join(missing)} not installed" if missing else None


def available_backends() -> list[str]:
    return [name for name in BACKENDS if unavailable_reason(name) is None]


def required_backends() -> list[str]:
    """Backends that must be present: all of them when NETPARITY_REQUIRE_BACKENDS is set
    ("1"/"all"), or the comma-separated names it lists."""
    value = os.environ.get(REQUIRE_ENV, "").strip()
    if value in ("", "0"):
        return []
    if value in ("1", "all", "true"):
        return list(BACKENDS)
    return [v.strip() for v in value.split(",") if v.strip()]
