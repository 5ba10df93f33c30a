"""A training progress bar (tqdm) for interactive terminals; silent in CI, pipes and tests."""

from __future__ import annotations

import os
import sys
from typing import Any


def interactive(stream: Any = None) -> bool:
    """True when ``stream`` (stderr by default) is a terminal and no CI variable is set."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class TrainingProgress:
    """The ``progress(backend, done, total)`` callback of harness.run: one bar per backend."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = interactive() if enabled is None else enabled
        self._bar: Any = None
        self._backend = ""

    def __call__(self, backend: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if backend != self._backend:
            from tqdm import tqdm

            self.close()
            self._backend = backend
            self._bar = tqdm(total=total, desc=f"{backend:>6} training", unit="step", leave=False, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
