"""`harden()`: the plan of fixes (`plan.py`), then the outputs on top (`outputs.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from durable_harden.analyzers.analysis import Settings
from durable_harden.codeactions.editcore import DEFAULT_UNSAFE, minimal_edits
from durable_harden.codeactions.harden.outputs import add_outputs
from durable_harden.codeactions.harden.plan import (
    MAX_ROUNDS,
    Cancelled,
    HardenPlan,
    plan_workspace,
)


def harden(
    paths: Iterable[Path],
    *,
    unsafe: bool = DEFAULT_UNSAFE,
    settings: Settings | None = None,
    overlays: Mapping[Path, bytes] | None = None,
    outputs: bool = True,
    max_rounds: int = MAX_ROUNDS,
    rules: Iterable[str] | None = None,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> HardenPlan:
    """`plan_workspace` (see there), then, when fixes were applied and `outputs` is on, the
    harden extras (per-class tests, vitest set-up, README section)."""
    plan = plan_workspace(
        paths,
        unsafe=unsafe,
        settings=settings,
        overlays=overlays,
        max_rounds=max_rounds,
        rules=rules,
        cancelled=cancelled,
        progress=progress,
    )
    if not (outputs and plan.applied and plan.final_model and plan.read):
        return plan
    if cancelled is not None and cancelled():
        raise Cancelled()
    fixed = dict(plan.contents)
    add_outputs(plan, plan.final_model(), plan.read)
    for path, data in plan.contents.items():
        before = fixed.get(path)
        if before is not None and before != data:  # the outputs edited a fixed file
            plan.provenance.rewritten(path, minimal_edits(before, data))
    if progress is not None:
        progress("generated tests, README section")
    return plan
