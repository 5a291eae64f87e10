"""Fixes for alarm-retry-suppressed (unsafe).

- catch-rearm-rethrow: the rethrow moves in front of the re-arm under
  `if ((info?.retryCount ?? 0) < 5)`; past the limit the alarm is rescheduled and the handler
  returns. `alarm()` gains `info?: AlarmInvocationInfo` when it has no parameter.
- early-rearm: the `setAlarm()` statement moves to the end of the handler (only when no `return`
  in the handler could skip it).
- unconditional-rearm: no fix (what "work is pending" means is the author's call).
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._alarms import enclosing_function_in, expression_statement_of
from durable_harden.analyzers.rules._common import REF_ALARMS
from durable_harden.analyzers.rules.alarm_retry_suppressed import (
    RETRY_LIMIT,
    RetryState,
    top_statements,
)
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.codeactions._tsedit import (
    indent_at,
    indent_unit,
    line_end,
    line_start,
    remove_statement,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_HIBERNATION, UNSAFE, FixDocs, FixSpec, Offer


def _info_param(cls: DurableObjectClass, handler: Node) -> tuple[str, list[Edit]]:
    data = cls.file.data
    params = handler.child_by_field_name("parameters")
    if params is None:
        raise CannotFix("alarm() has no parameter list")
    named = [p for p in params.named_children if p.type != "comment"]
    if named:
        pattern = named[0].child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            raise CannotFix("alarm()'s parameter is destructured")
        return node_text(data, pattern), []
    edit = Edit(
        cls.file.path, params.start_byte + 1, params.end_byte - 1, "info?: AlarmInvocationInfo"
    )
    return "info", [edit]


def _top_in(block: Node, node: Node) -> Node | None:
    """The direct child statement of block that holds node."""
    current: Node | None = node
    while current is not None and current.parent != block:
        current = current.parent
    return current


def _catch_fix(cls: DurableObjectClass, handler: Node, state: RetryState) -> Fix:
    data = cls.file.data
    path = cls.file.path
    call, throw = state.call, state.throw
    if throw is None:
        raise CannotFix("no rethrow")
    catch = next(
        (
            c
            for c in walk_type(handler, "catch_clause")
            if c.start_byte <= call.start_byte < c.end_byte
        ),
        None,
    )
    body = catch.child_by_field_name("body") if catch is not None else None
    if catch is None or body is None or throw.parent != body:
        raise CannotFix("the rethrow is not a plain statement of the catch block")
    rearm = _top_in(body, call)
    if rearm is None:
        raise CannotFix("re-arm statement not found")
    info, edits = _info_param(cls, handler)
    unit = indent_unit(data)
    indent = indent_at(data, rearm.start_byte)
    throw_text = node_text(data, throw)
    guard = (
        f"{indent}if (({info}?.retryCount ?? 0) < {RETRY_LIMIT}) {{\n"
        f"{indent}{unit}{throw_text} // the runtime retries the alarm with backoff\n"
        f"{indent}}}\n"
    )
    if throw.start_byte < rearm.start_byte:
        start = line_start(data, throw.start_byte)
        edits.append(Edit(path, start, line_end(data, throw.end_byte), guard))
    else:
        start = line_start(data, rearm.start_byte)
        edits.append(Edit(path, start, start, guard))
        try_stmt = catch.parent
        handler_body = handler.child_by_field_name("body")
        last_in_handler = (
            try_stmt is not None
            and handler_body is not None
            and try_stmt.parent == handler_body
            and not any(
                c.start_byte >= try_stmt.end_byte and c.type != "comment"
                for c in handler_body.named_children
            )
        )
        if not last_in_handler:
            edits.append(Edit(path, throw.start_byte, throw.end_byte, "return;"))
        else:
            edits.append(remove_statement(path, data, throw))
    return Fix(
        fix_id="alarm-retry-suppressed.retry-first",
        title="Let the runtime retry; reschedule only when retries run out",
        safety=Safety.UNSAFE,
        edits=edits,
        review=(
            f"Failures are now retried by the runtime (backoff from 2 s) while "
            f"retryCount < {RETRY_LIMIT}; after that the alarm is rescheduled and the error is "
            "no longer rethrown. Check the catch block's other statements still make sense "
            "before a retry."
        ),
    )


def _early_fix(cls: DurableObjectClass, handler: Node, state: RetryState) -> Fix:
    data = cls.file.data
    path = cls.file.path
    call = state.call
    stmt = expression_statement_of(call)
    statements = top_statements(handler)
    if stmt is None or stmt not in statements:
        raise CannotFix("not a top-level statement")
    for ret in walk_type(handler, "return_statement"):
        if enclosing_function_in(cls, ret) == handler:
            raise CannotFix("a return could skip the moved re-arm")
    last = statements[-1]
    end = line_end(data, last.end_byte)
    if data[last.end_byte : end].strip() and not data[last.end_byte : end].strip().startswith(
        b"//"
    ):
        raise CannotFix("the last statement shares its line")
    indent = indent_at(data, stmt.start_byte)
    moved = f"{indent}{node_text(data, stmt)}\n"
    return Fix(
        fix_id="alarm-retry-suppressed.rearm-last",
        title="Re-arm after the alarm's work",
        safety=Safety.UNSAFE,
        edits=[remove_statement(path, data, stmt), Edit(path, end, end, moved)],
        review=(
            "The next alarm is set only once the work succeeded; a failure is retried by the "
            "runtime first. Consider re-arming only while work is pending."
        ),
    )


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    state = state_of(finding, RetryState)
    cls = state.cls
    if cls.alarm is None or cls.alarm.type != "method_definition":
        return []
    kind = finding.data.get("kind")
    if kind == "catch-rearm-rethrow":
        return [_catch_fix(cls, cls.alarm, state)]
    if kind == "early-rearm":
        return [_early_fix(cls, cls.alarm, state)]
    return []


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "rethrow before the re-arm (`catch-rearm-rethrow`)",
            UNSAFE,
            """
The rethrow moves in front of the re-arm, guarded by `(info?.retryCount ?? 0) < 5` (the handler
gains an `info?: AlarmInvocationInfo` parameter when it has none); once retries run out the alarm
is rescheduled and the error is not rethrown (the handler returns).
""",
            why="""
Unsafe: a failing alarm is now retried by the runtime before it is rescheduled.
""",
        ),
        Offer(
            "re-arm after the work (`early-rearm`)",
            UNSAFE,
            """
The `setAlarm()` moves to the end of the handler, so a failure is retried first (offered only
when the handler has no `return` that would skip it).
""",
            why="""
Unsafe: the next alarm is no longer set when the work throws on its last retry.
""",
        ),
    ),
    review="""
The handler's work is safe to retry (at-least-once), and the retry limit fits it.
""",
    not_offered="""
`unconditional-rearm`: only a human knows what "work is pending" means for the object; put the
re-arm under that condition.
""",
    references=(
        REF_ALARMS + " (retried only when alarm() throws, up to 6 times; info.retryCount)",
        "https://github.com/cloudflare/cloudflare-docs/pull/15685 (a new alarm set in a handler that throws suppresses the retries)",
    ),
)


SPEC = FixSpec("alarm-retry-suppressed", build, tier=TIER_HIBERNATION, docs=FIX_DOCS)
