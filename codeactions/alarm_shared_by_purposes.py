"""Fix for alarm-shared-by-purposes (unsafe): one schedule table row per purpose and a
dispatching `alarm()`, through the shared alarm planner (`codeactions._alarm`)."""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_RULES
from durable_harden.analyzers.rules.alarm_shared_by_purposes import SharedAlarmState
from durable_harden.codeactions._alarm import DEFAULT_KIND, AlarmPlanError, plan_shared_purposes
from durable_harden.codeactions.fix import Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_HIBERNATION, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, SharedAlarmState).cls
    by_start = {int(start): str(kind) for start, kind in finding.data["sites"]}
    kinds = sorted(set(by_start.values()) - {DEFAULT_KIND})

    def kind_of(call: Node) -> str:
        return by_start.get(call.start_byte, DEFAULT_KIND)

    try:
        plan = plan_shared_purposes(cls, model, kind_of, kinds)
    except AlarmPlanError:
        return []
    return [
        Fix(
            fix_id="alarm-shared-by-purposes.schedule",
            title="Give each alarm purpose its own due time in a schedule table",
            safety=Safety.UNSAFE,
            edits=plan.edits,
            review=(
                f"Purposes {', '.join(kinds)} now each keep their next due time in "
                "`_alarm_schedule`; the alarm fires at the earliest. The old `alarm()` body is "
                "`alarmDefault()` and runs once whenever any purpose is due: check it can tell "
                "from its state what is due. `getAlarm()`/`deleteAlarm()` calls elsewhere now see "
                "only the earliest time."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "schedule table for the one alarm",
            UNSAFE,
            """
SQLite-backed classes with an async `alarm()` only. A schedule table
`_alarm_schedule(kind, due_at, payload)` (with its own index on `due_at`, created with it) records
each purpose's next due time (named after the method that sets it; the earliest time per purpose
wins); every `setAlarm(x)` of the class becomes `this.scheduleAlarm("<purpose>", x)`, which arms
the alarm at the earliest due time of all purposes. The old `alarm()` becomes `alarmDefault()` and
runs once whenever any purpose is due, and the new `alarm()` re-arms at the next due time.
""",
            why="""
Unsafe: the old handler now runs for every due purpose, not only the last one set.
""",
        ),
    ),
    review="""
The old handler can tell from its state which purpose is due (it used to be called once for the
last purpose only).
""",
    references=(
        REF_ALARMS + " (one alarm per object; setAlarm replaces it)",
        REF_RULES + " (several purposes share the alarm through a schedule)",
    ),
)


SPEC = FixSpec("alarm-shared-by-purposes", build, tier=TIER_HIBERNATION, docs=FIX_DOCS)
