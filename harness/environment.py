"""What a run ran on, for spec.json and report.md: package versions, BLAS, CPU, OS, threads,
device and the git commit. Versions come from importlib.metadata, so the parent of an
isolated run records them without importing any framework."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: distribution names whose versions a run records (None: not installed)
PACKAGES = ("netparity", "numpy", "torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib")


def package_versions() -> dict[str, str]:
    """Installed versions of the frameworks and their support, by distribution name."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def blas() -> str:
    """The BLAS/OpenMP libraries NumPy (and anything loaded so far) uses, with their thread
    counts, as threadpoolctl sees them in this process."""
    import numpy  # noqa: F401  (loads NumPy's BLAS, whatever else is loaded already)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    libs = [
        f"{i.get('internal_api')} {i.get('version') or ''} ({i.get('threading_layer', '') or i.get('user_api')}, "
        f"{i.get('num_threads')} threads)".replace("  ", " ")
        for i in threadpool_info()
    ]
    return "; ".join(libs) or "none found"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The checkout's commit (with "-dirty" for uncommitted changes) when netparity runs from
    a git checkout; None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def gpu_names() -> list[str]:
    """The GPUs nvidia-smi lists (without importing a framework), or [] without one."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def environment(device: str = "cpu", threads: int | None = None) -> dict[str, object]:
    """Everything above as one JSON-ready dict."""
    env: dict[str, object] = {
        "versions": package_versions(),
        "blas": blas(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "os": platform.platform(),
        "device": device,
    }
    if device != "cpu":
        env["gpus"] = gpu_names() or "none found by nvidia-smi"
    commit = git_commit()
    if commit:
        env["git_commit"] = commit
    return env


def environment_rows(env: dict) -> list[list[str]]:
    """The dict as (what, value) rows for report.md."""
    versions = env.get("versions", {})
    rows = [["versions", ", ".join(f"{k} {v}" for k, v in versions.items())]]
    rows += [
        [k, str(env[k])]
        for k in ("blas", "cpu", "cpu_count", "threads", "os", "device", "gpus", "git_commit")
        if k in env
    ]
    return rows
