"""Fix for deleteall-leaves-alarm (unsafe: a pending alarm no longer fires): `await <storage>.deleteAlarm();` before the statement
that calls `deleteAll()` (`void …` in a synchronous function)."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._alarms import enclosing_function_in, storage_receiver
from durable_harden.analyzers.rules._common import REF_STATE
from durable_harden.analyzers.rules.deleteall_leaves_alarm import DeleteAllState
from durable_harden.codeactions._tsedit import (
    indent_at,
    insert_before_statement,
    is_async,
    statement_of,
)
from durable_harden.codeactions.fix import Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    state = state_of(finding, DeleteAllState)
    cls, call = state.cls, state.call
    receiver = storage_receiver(cls, call, {"deleteAll"})
    func = enclosing_function_in(cls, call)
    stmt = statement_of(call)
    if receiver is None or func is None or stmt.parent is None:
        return []
    if stmt.parent.type != "statement_block" or stmt.start_byte < func.start_byte:
        return []  # e.g. an arrow function's expression body: no statement to put it before
    data = cls.file.data
    indent = indent_at(data, stmt.start_byte)
    if data[data.rfind(b"\n", 0, stmt.start_byte) + 1 : stmt.start_byte].strip():
        return []  # the statement shares its line with other code
    keyword = "await" if is_async(data, func) else "void"
    line = f"{indent}{keyword} {receiver}.deleteAlarm();\n"
    return [
        Fix(
            fix_id="deleteall-leaves-alarm.delete-alarm",
            title="Delete the alarm before `deleteAll()`",
            safety=Safety.UNSAFE,
            edits=[insert_before_statement(cls.file.path, data, stmt, line)],
            review=(
                "The pending alarm is deleted with the data, as newer compatibility dates do: "
                "check `alarm()` had nothing left to do for the emptied object."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "deleteAlarm() before deleteAll()",
            UNSAFE,
            """
`await <storage>.deleteAlarm();` is inserted before the statement that calls `deleteAll()`
(`void <storage>.deleteAlarm();` in a synchronous function). It does what newer compatibility
dates do anyway, so moving the date forward later changes nothing.
""",
            why="""
Unsafe: the pending alarm no longer runs.
""",
        ),
    ),
    review="""
`alarm()` had nothing left to do for the emptied object (a final report, a notification to
another object).
""",
    references=(
        REF_STATE + " (deleteAll() deletes the alarm only from compatibility_date 2026-02-24)",
    ),
)


SPEC = FixSpec("deleteall-leaves-alarm", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
