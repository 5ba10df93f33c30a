"""Pass or fail: the one place that turns the backends' statuses into a verdict, its words
and the exit status. ``RunResult.ok``, the command line, report.md, a sweep and
native-defaults mode all ask :func:`judge`.

The policy:

- ``ok`` agrees. ``failed`` and ``unverified`` (the reference did not run) fail the run.
- ``mismatch`` fails, unless the backend ran on framework defaults that differ from the
  recipe (``--defaults native``): then the difference is the point ("explained by framework
  defaults"). ``diverged`` fails likewise, unless explained, or unless the run allows
  divergence together (a learning-rate sweep: a rate too large for every backend is a
  legitimate outcome) and the reference diverged too ("diverged together (agreement)").
- ``skipped`` (the framework is not installed here) is fine when the user did not name the
  backend, and fails when they did: a run must not pass on a comparison it never made.
- A run in which fewer than two backends produced results compared nothing and fails.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

PRODUCED = ("ok", "mismatch", "diverged")  # statuses of a backend that has results to show


class _Result(Protocol):
    status: str
    reason: str


class _Run(Protocol):
    reference: str
    results: Mapping[str, _Result]
    named: Collection[str]
    explained: Collection[str]


@dataclass(frozen=True)
class Outcome:
    """One backend's part in the verdict."""

    backend: str
    status: str
    words: str  # "agrees", "diverged together (agreement)", "mismatch", ...
    passes: bool
    reason: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    headline: str  # one line: PASS/FAIL and what was compared
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    @property
    def failing(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if not o.passes]


def outcome(
    name: str,
    status: str,
    reason: str,
    *,
    reference_status: str,
    is_reference: bool,
    named: bool,
    explained: bool,
    diverging_together_agrees: bool,
    others_diverged: bool,
) -> Outcome:
    """The words and pass/fail for one backend (the module docstring's rules)."""
    if status == "ok":
        return Outcome(name, status, "reference" if is_reference else "agrees", True, reason)
    if status == "skipped":
        if named:
            return Outcome(name, status, "named but skipped", False, reason)
        return Outcome(name, status, "skipped", True, reason)
    if status in ("mismatch", "diverged") and explained:
        return Outcome(name, status, "differences explained by framework defaults", True, reason)
    if status == "diverged":
        together = others_diverged if is_reference else reference_status == "diverged"
        if together and diverging_together_agrees:
            return Outcome(name, status, "diverged together (agreement)", True, reason)
        if together:
            return Outcome(name, status, "diverged together with the reference", False, reason)
    return Outcome(name, status, status, False, reason)


def judge(run: _Run, *, diverging_together_agrees: bool = False) -> Verdict:
    """The verdict on a run (see the module docstring)."""
    results, reference = run.results, run.reference
    named, explained = set(getattr(run, "named", ()) or ()), set(getattr(run, "explained", ()) or ())
    ref_status = results[reference].status if reference in results else "skipped"
    diverged = [n for n, r in results.items() if r.status == "diverged" and n != reference]
    outcomes = {
        name: outcome(
            name,
            res.status,
            res.reason,
            reference_status=ref_status,
            is_reference=name == reference,
            named=name in named,
            explained=name in explained,
            diverging_together_agrees=diverging_together_agrees,
            others_diverged=bool(diverged),
        )
        for name, res in results.items()
    }
    produced = [n for n, r in results.items() if r.status in PRODUCED]
    enough = len(produced) >= 2 and reference in produced
    passed = enough and all(o.passes for o in outcomes.values())
    compared = f"compared {len(produced)} of {len(results)} backends against {reference}"
    if not enough:
        only = ", ".join(produced) or "none"
        headline = f"FAIL: nothing was compared: fewer than two backends produced results (only: {only})"
        bad = [f"{o.backend} {o.words}" for o in outcomes.values() if not o.passes]
        headline += f"; {', '.join(bad)}" if bad else ""
    elif passed:
        words = sorted({o.words for o in outcomes.values() if o.words not in ("agrees", "reference", "skipped")})
        headline = f"PASS: {compared}" + (f"; {', '.join(words)}" if words else ": all agree")
    else:
        bad = ", ".join(f"{o.backend} {o.words}" for o in outcomes.values() if not o.passes)
        headline = f"FAIL: {bad} ({compared})"
    skipped = [o.backend for o in outcomes.values() if o.status == "skipped" and o.passes]
    if skipped:
        headline += f" ({', '.join(skipped)} skipped)"
    return Verdict(passed, headline, outcomes)


def combine(verdicts: Mapping[str, Verdict], what: str) -> Verdict:
    """One verdict over several runs (a sweep: ``what`` = "rates"), labelled by each run's name.
    Passes when every run passes."""
    failing = [label for label, v in verdicts.items() if not v.passed]
    notes = sorted(
        {
            f"{label}: {o.words}"
            for label, v in verdicts.items()
            for o in v.outcomes.values()
            if o.passes and o.words not in ("agrees", "reference", "skipped")
        }
    )
    if failing:
        headline = f"FAIL at {len(failing)} of {len(verdicts)} {what}: " + "; ".join(
            f"{label}: {verdicts[label].headline.removeprefix('FAIL: ')}" for label in failing
        )
    else:
        headline = f"PASS: every backend agrees with the reference at all {len(verdicts)} {what}"
        headline += f" ({'; '.join(notes)})" if notes else ""
    outcomes = {f"{label} {name}": o for label, v in verdicts.items() for name, o in v.outcomes.items()}
    return Verdict(not failing, headline, outcomes)


COLOURS = {True: "\033[1;32m", False: "\033[1;31m"}  # bold green / bold red
RESET = "\033[0m"


def console_line(verdict: Verdict, stream=None) -> str:
    """The verdict's one line, coloured only on a terminal (and never with NO_COLOR set)."""
    import os
    import sys

    stream = stream if stream is not None else sys.stdout
    tty = bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")
    return f"{COLOURS[verdict.passed]}{verdict.headline}{RESET}" if tty else verdict.headline
