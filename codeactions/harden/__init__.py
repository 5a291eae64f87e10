"""Harden all Durable Objects: the plan of fixes, then the outputs on top.

- `plan.py`: the fixes, round by round to a fixed point (also `check --fix`);
- `outputs.py`: what harden adds besides fixes (generated tests, vitest set-up, README
  section) and the report;
- `run.py`: `harden()`, the one entry point that does both; the planner never imports its
  outputs.

The names below are loaded when first used: the fix builders import
`harden.generated_tests` (each fix names its generated test case), which runs this package's
`__init__` first, and a plain `check` needs neither the planner nor the outputs (~5 ms of
imports, issue 14).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_harden.codeactions.harden.plan import Cancelled, HardenPlan, plan_workspace
    from durable_harden.codeactions.harden.run import harden

__all__ = ["Cancelled", "HardenPlan", "harden", "plan_workspace"]

_WHERE = {
    "Cancelled": "plan",
    "HardenPlan": "plan",
    "plan_workspace": "plan",
    "harden": "run",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
