"""A time budget per file for one analysis (docs/security.md, docs/performance.md).

A file whose analysis takes longer than the budget is reported as skipped and the project is
analysed again without it, so one pathological file (thousands of nested blocks, a generated
megabyte of SQL) cannot stall the others. The time is measured cooperatively: every
`tsutil.walk_type` call (the rules' and the model's way into a tree) charges the time since the
previous call to the file of the previous call's tree. Outside `budget()` nothing is charged
(the fix builders and the harden planner run without it).

The budget is `DEFAULT_SECONDS`, or `DURABLE_HARDEN_FILE_BUDGET` (seconds) in the environment.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_SECONDS = 20.0


class OverBudget(Exception):
    """The analysis of `path` took longer than the budget."""

    def __init__(self, path: Path, seconds: float) -> None:
        super().__init__(f"{path}: analysis over the {seconds:g} s budget")
        self.path = path
        self.seconds = seconds

    def problem(self) -> str:
        """What the report says about the skipped file."""
        return (
            f"skipped: analysing this file took longer than the {self.seconds:g} s budget per "
            "file (generated code, or a pathological construct?); the rest of the project "
            "was analysed without it"
        )


class WorkerLost(OverBudget):
    """A worker process of the parallel analysis (analyzers.parallel) died or stopped making
    progress while it was analysing `path`: the file is skipped like one over the budget."""

    def __init__(self, path: Path, seconds: float, what: str) -> None:
        super().__init__(path, seconds)
        self.what = what

    def problem(self) -> str:
        return (
            f"skipped: analysing this file {self.what}; the rest of the project was analysed "
            "without it"
        )


class _Meter:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent: dict[Path, float] = {}
        self.current: Path | None = None
        self.since = time.monotonic()


_local = threading.local()

# Called with the file of every charge (the parallel analysis's workers report their progress
# through it: analyzers.parallel); None in a plain run.
observer: Callable[[Path | None], None] | None = None


def budget_seconds() -> float:
    value = os.environ.get("DURABLE_HARDEN_FILE_BUDGET", "")
    try:
        seconds = float(value)
    except ValueError:
        return DEFAULT_SECONDS
    return seconds if seconds > 0 else DEFAULT_SECONDS


@contextmanager
def budget(spent: dict[Path, float] | None = None) -> Iterator[dict[Path, float]]:
    """Charge the time of the analysis inside to the files walked; `spent` carries the
    charges over from an earlier attempt of the same analysis."""
    meter = _Meter(budget_seconds())
    if spent is not None:
        meter.spent = spent
    previous = getattr(_local, "meter", None)
    _local.meter = meter
    try:
        yield meter.spent
    finally:
        _local.meter = previous


def charge(path: Path | None) -> None:
    """Called on the way into a file's tree: the time since the last call goes to the file
    walked then; raises OverBudget when that file is over the budget."""
    meter: _Meter | None = getattr(_local, "meter", None)
    if meter is None:
        return
    now = time.monotonic()
    last = meter.current
    if last is not None:
        total = meter.spent.get(last, 0.0) + (now - meter.since)
        meter.spent[last] = total
        if total > meter.seconds:
            meter.current = None
            raise OverBudget(last, meter.seconds)
    meter.current = path
    meter.since = now
    if observer is not None:
        observer(path)


def pause() -> None:
    """Charge the time since the last charge, then charge nothing until the next one (a
    process that waits for others must not bill its wait to the file it walked last)."""
    meter: _Meter | None = getattr(_local, "meter", None)
    if meter is not None and meter.current is not None:
        now = time.monotonic()
        meter.spent[meter.current] = meter.spent.get(meter.current, 0.0) + (now - meter.since)
        meter.current = None
        meter.since = now


def spent_now() -> dict[Path, float] | None:
    """The charges of the analysis running in this thread (None outside `budget()`)."""
    meter: _Meter | None = getattr(_local, "meter", None)
    return meter.spent if meter is not None else None
