"""The limits that keep a hostile or mistaken input bounded in time and memory, and the checks
that apply them. Spec files and the command line go through the same checks here, so a value
refused in one is refused in the other with the same words (README: Reliability).
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
from pathlib import Path
from typing import Any

from netparity.spec.errors import SpecError, quoted, shown

MAX_SPEC_BYTES = 4 * 2**20  # a spec file: a few MB is thousands of layers
MAX_CSV_BYTES = 512 * 2**20  # a --data CSV (pandas needs several times this in memory)
MAX_YAML_EVENTS = 50_000  # YAML parser events (~20 per layer): PyYAML builds ~15,000 a second
MAX_NESTING = 32  # containers inside containers in a spec (Residual in Residual ... ~14 deep)
MAX_LAYERS = 1000  # layers in a model, Residual's inner layers included
MAX_RANK = 8  # axes of input_shape
MAX_DIM = 2**31 - 1  # one axis of input_shape
MAX_INT = 2**63 - 1  # any integer field of a spec
SEED_LIMIT = 2**32  # seeds are 0 .. 2**32-1: what NumPy, scikit-learn, torch and TF all accept
MAX_INIT_SCALE = 1e6  # the scale of a random initializer (normal:S, uniform:S, ...)
MAX_CELL = 1e100  # a CSV value: its square must stay finite when the column is standardized
THREADS_PER_CORE = 4  # --threads at most this many times the cores
BYTES = 8  # every estimate in float64, the widest dtype a run uses


def read_regular_file(path: str | Path, flag: str, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes: a device
    (/dev/zero), a FIFO or a huge file is refused before anything is read."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(f"{flag} {shown(path)}: no such file") from None
    except OSError as err:
        raise SpecError(f"{flag} {shown(path)}: cannot read it: {err.strerror or err}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(f"{flag} {shown(path)}: is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{flag} {shown(path)}: not a regular file (a device, FIFO or socket is never read)")
    if info.st_size > limit:
        raise SpecError(f"{flag} {shown(path)}: {info.st_size:,} bytes is larger than the limit of {limit:,}")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat
    except OSError as err:
        raise SpecError(f"{flag} {shown(path)}: cannot read it: {err.strerror or err}") from None
    if len(data) > limit:
        raise SpecError(f"{flag} {shown(path)}: larger than the limit of {limit:,} bytes")
    return data


def nesting_depth(data: Any) -> int:
    """How deeply lists and dicts nest in ``data`` (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_number(value: Any, what: str, *, low: float | None = None, high: float | None = None) -> None:
    """``value`` is a finite number within [low, high] (either end may be open: None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{what} must be a number, got {quoted(value)}")
    if not math.isfinite(value):
        raise SpecError(f"{what} must be a finite number, got {quoted(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        raise SpecError(f"{what} must be in {span}, got {quoted(value)}")


def check_finite_fields(obj: Any, what: str) -> None:
    """Every float (or int) field of a spec dataclass is finite, in nested layers too: the one
    rule that refuses NaN and inf in a spec file and on the command line alike."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{what}.{f.name} must be a finite number, got {quoted(value)}")
        if isinstance(value, tuple):
            for i, inner in enumerate(value):
                if dataclasses.is_dataclass(inner):
                    check_finite_fields(inner, f"{what}.{f.name}[{i}]")
                elif isinstance(inner, float) and not math.isfinite(inner):
                    raise SpecError(f"{what}.{f.name} must hold finite numbers, got {quoted(inner)}")


def check_seed(value: Any, what: str) -> int:
    """A seed is an integer from 0 to 2**32-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise SpecError(f"{what} must be an integer from 0 to {SEED_LIMIT - 1} (2**32-1), got {quoted(value)}")
    return value


def max_threads() -> int:
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def check_threads(value: int) -> int:
    limit = max_threads()
    if not 1 <= value <= limit:
        raise SpecError(
            f"--threads must be from 1 to {limit} ({THREADS_PER_CORE}x this machine's {os.cpu_count() or 1} cores), "
            f"got {quoted(value)}"
        )
    return value


def count(n: int) -> str:
    """A count for a message: 1,234,567, or 1.23e+40 when it is astronomically large."""
    if n < 10**15:
        return f"{n:,}"
    try:
        return f"{float(n):.3g}"
    except OverflowError:
        return f"about 10**{n.bit_length() * 0.30103:.0f}"


# ------------------------------------------------------------------ memory


def available_memory() -> int:
    """Bytes this machine can still give a run (MemAvailable), else its physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63


def memory_needed(
    model: Any, rows_train: int, rows_test: int, batch_size: int, epochs: int, n_backends: int = 1
) -> dict[str, int]:
    """A rough upper estimate, in bytes, of what a run holds at its peak, by part:

    - data: the canonical train and test arrays, one epoch of staged batches, kept for timing
      and a second being built;
    - activations: a training batch's activations (forward, backward and temporaries, x3),
      the probe rows' recorded activations and the forward pass over the test set; attention
      scores count T*T per head;
    - parameters: canonical, native, gradients, optimizer state, the trained copy of every
      backend and the float64 reference rerun;
    - losses: one (epoch, step, loss) record per training step and backend.
    """
    features = math.prod(model.input_shape)
    outputs = math.prod(model.output_shape)
    widths = [math.prod(info.out_shape) for info in model.infer()]
    for info in model.infer():
        heads = getattr(info.layer, "heads", None)
        if isinstance(heads, int) and len(info.in_shape) == 2:
            widths.append(heads * info.in_shape[0] ** 2)
    per_row = features + sum(widths)
    params = sum(math.prod(ps.shape) for ps in model.param_specs().values())
    params += sum(math.prod(ps.shape) for ps in model.state_specs().values())
    steps = epochs * -(-rows_train // batch_size)
    rows = rows_train + rows_test
    return {
        "data": BYTES * (rows * (features + outputs) + 2 * rows_train * features),
        "activations": BYTES * (3 * min(batch_size, rows_train) * per_row + 64 * per_row + rows_test * max(widths)),
        "parameters": BYTES * params * (6 + n_backends),
        "losses": 100 * steps * n_backends,
    }


def size(n: float) -> str:
    """Bytes for a message: 512 bytes, 1.5 GB, 3.2e+12 PB."""
    n = float(min(n, 2**1000))
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n / 1024:.3g} PB"


def check_memory(model: Any, rows_train: int, rows_test: int, batch_size: int, epochs: int, n_backends: int = 1) -> int:
    """Refuse, before anything is allocated, a run whose estimate exceeds this machine's free memory."""
    parts = memory_needed(model, rows_train, rows_test, batch_size, epochs, n_backends)
    need, have = sum(parts.values()), available_memory()
    if need > have:
        detail = ", ".join(f"{name} {size(v)}" for name, v in parts.items() if v >= need / 100)
        raise SpecError(
            f"the run needs about {size(need)} of memory ({detail}); this machine has {size(have)} free: "
            "use a smaller input_shape, batch size or model, or fewer epochs"
        )
    return need
