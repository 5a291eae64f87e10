"""Fix for alarm-unconditional-in-constructor (safe): arm only when no alarm is pending.

In an async function: `if ((await <storage>.getAlarm()) === null) { <statement> }`.
In a synchronous function (the constructor itself):
`void <storage>.getAlarm().then((pending) => { if (pending === null) { <statement> } });`
"""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._alarms import (
    enclosing_function_in,
    expression_statement_of,
    storage_receiver,
)
from durable_harden.analyzers.tsutil import node_text
from durable_harden.codeactions._tsedit import (
    finding_class,
    indent_at,
    indent_unit,
    is_async,
    node_at,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import TIER_HIBERNATION, FixSpec


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = finding_class(finding, model)
    if cls is None:
        return []
    call = node_at(cls.node, "call_expression", finding.data["call"])
    if call is None:
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
    if is_async(data, func):
        body = text.replace("\n", "\n" + unit)
        new = f"if ((await {receiver}.getAlarm()) === null) {{\n{indent}{unit}{body}\n{indent}}}"
    else:
        body = text.replace("\n", "\n" + unit + unit)
        new = (
            f"void {receiver}.getAlarm().then((pending) => {{\n"
            f"{indent}{unit}if (pending === null) {{\n"
            f"{indent}{unit}{unit}{body}\n"
            f"{indent}{unit}}}\n"
            f"{indent}}});"
        )
    return [
        Fix(
            fix_id="alarm-unconditional-in-constructor.guard",
            title="Arm the alarm only when none is pending",
            safety=Safety.SAFE,
            edits=[Edit(cls.file.path, stmt.start_byte, stmt.end_byte, new)],
            review=(
                "A pending alarm is no longer pushed back when the object wakes; the first wake "
                "with no alarm pending still arms it."
            ),
        )
    ]


SPEC = FixSpec("alarm-unconditional-in-constructor", build, tier=TIER_HIBERNATION)
