"""Fix for alarm-unconditional-in-constructor (unsafe): arm only when it does not postpone the
pending alarm.

`setAlarm(Date.now() + …)` (a fixed delay from now):
in an async function `if ((await <storage>.getAlarm()) === null) { <statement> }`; in a
synchronous function (the constructor itself)
`void <storage>.getAlarm().then((pending) => { if (pending === null) { <statement> } });`.

Any other time (a scheduler's next due time): the alarm may only move earlier, never later:
`const pending = await <storage>.getAlarm(); if (pending === null || pending > <time>) …`, so
an earlier task never waits for a later alarm.

Why unsafe (Ruff's definition: a safe fix keeps the program's meaning): the guard changes when
the alarm fires, which is the point of the fix; a reviewer checks that nothing relied on the
alarm being pushed back on every wake. Not offered when the `setAlarm()` sits in a method that
code outside the constructor path also calls (`this.scheduleNext()` after every insert): a guard
there would stop those callers from moving the alarm earlier.
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._alarms import (
    enclosing_function_in,
    expression_statement_of,
    reached_from_constructor,
    storage_receiver,
    this_calls,
)
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_LIFECYCLE
from durable_harden.analyzers.rules.alarm_unconditional_in_constructor import ConstructorAlarmState
from durable_harden.analyzers.tsutil import call_args, node_text, normalize_expr
from durable_harden.codeactions._tsedit import (
    indent_at,
    indent_unit,
    is_async,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_HIBERNATION, UNSAFE, FixDocs, FixSpec, Offer


def called_outside_constructor_path(cls: DurableObjectClass, method: str) -> bool:
    """Whether a method that the constructor does not reach calls `method` (directly)."""
    if method == "constructor":
        return False
    reached = reached_from_constructor(cls)
    return any(
        method in this_calls(cls, node)
        for name, node in cls.methods.items()
        if name not in reached and name != method
    )


def fixed_delay_from_now(data: bytes, call: Node) -> bool:
    """`setAlarm(Date.now() + …)`: the only time for which `=== null` never postpones work."""
    args = call_args(call)
    if not args:
        return False
    return normalize_expr(node_text(data, args[0])).replace(" ", "").startswith("Date.now()+")


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    state = state_of(finding, ConstructorAlarmState)
    cls, call = state.cls, state.call
    if called_outside_constructor_path(cls, finding.data.get("method", "constructor")):
        return []
    receiver = storage_receiver(cls, call, {"setAlarm"})
    stmt = expression_statement_of(call)
    func = enclosing_function_in(cls, call)
    if receiver is None or stmt is None or func is None:
        return []
    data = cls.file.data
    unit = indent_unit(data)
    indent = indent_at(data, stmt.start_byte)
    text = node_text(data, stmt)
    if fixed_delay_from_now(data, call):
        condition = "{pending} === null"
        time_decl = ""
    else:
        args = call_args(call)
        # the time is read twice (compared, then set): only a name or a property, which reads
        # the same value both times
        if not args or args[0].type not in {"identifier", "member_expression"}:
            return []
        when = node_text(data, args[0])
        condition = "{pending} === null || {pending} > {when}"
        time_decl = when
    if is_async(data, func):
        body = text.replace("\n", "\n" + unit)
        if time_decl:
            new = (
                f"const pendingAlarm = await {receiver}.getAlarm();\n"
                f"{indent}if ({condition.format(pending='pendingAlarm', when=time_decl)}) {{\n"
                f"{indent}{unit}{body}\n{indent}}}"
            )
            if "pendingAlarm" in node_text(data, func) or stmt.parent is None:
                return []
            if stmt.parent.type != "statement_block":
                return []  # a declaration needs a block around it
        else:
            new = (
                f"if ((await {receiver}.getAlarm()) === null) {{\n{indent}{unit}{body}\n{indent}}}"
            )
    else:
        body = text.replace("\n", "\n" + unit + unit)
        cond = condition.format(pending="pending", when=time_decl)
        new = (
            f"void {receiver}.getAlarm().then((pending) => {{\n"
            f"{indent}{unit}if ({cond}) {{\n"
            f"{indent}{unit}{unit}{body}\n"
            f"{indent}{unit}}}\n"
            f"{indent}}});"
        )
    return [
        Fix(
            fix_id="alarm-unconditional-in-constructor.guard",
            title="Arm the alarm only when none is pending"
            if not time_decl
            else "Arm the alarm only when it moves the pending one earlier",
            safety=Safety.UNSAFE,
            edits=[Edit(cls.file.path, stmt.start_byte, stmt.end_byte, new)],
            review=(
                "A pending alarm is no longer pushed back when the object wakes; the first wake "
                "with no alarm pending still arms it. Check that nothing relied on the alarm "
                "moving later on every wake."
                if not time_decl
                else "The alarm now only moves earlier: a pending alarm due before this time is "
                "kept. Check that the alarm handler re-arms for the work due after it runs."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "guard with getAlarm()",
            UNSAFE,
            """
For `setAlarm(Date.now() + …)` the statement is guarded with
`if ((await <storage>.getAlarm()) === null) { … }` where it runs in an async function (the
`blockConcurrencyWhile` callback, an async method); directly in the synchronous constructor it
becomes `void <storage>.getAlarm().then((pending) => { if (pending === null) { … } });`. A pending
alarm is then left alone; the first wake with none pending still arms it. For any other time (a
name or property holding a scheduler's next due time) the alarm may only move earlier:
`const pendingAlarm = await <storage>.getAlarm(); if (pendingAlarm === null || pendingAlarm >
next) { … }`, so an earlier task never waits for a later alarm.
""",
            why="""
Unsafe (a safe fix keeps the program's meaning; this one changes when the alarm fires, which is
its point).
""",
        ),
    ),
    review="""
Nothing relied on the alarm moving later on every wake.
""",
    not_offered="""
When the `setAlarm()` is in a method that code outside the constructor path also calls (a
scheduler's `rearm()` after every insert): a guard there would keep those callers from moving the
alarm earlier.
""",
    references=(
        REF_ALARMS + " (setAlarm replaces the pending alarm)",
        REF_LIFECYCLE + " (the constructor runs on every wake)",
    ),
)


SPEC = FixSpec("alarm-unconditional-in-constructor", build, tier=TIER_HIBERNATION, docs=FIX_DOCS)
