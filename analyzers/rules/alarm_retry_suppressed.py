"""alarm-retry-suppressed: `alarm()` code that defeats the runtime's retries or re-arms forever."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._alarms import (
    enclosing_function_in,
    expression_statement_of,
    storage_calls,
)
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_RULES, node_span
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, walk_type

RETRY_LIMIT = 5  # rethrow while retryCount < 5; the runtime retries at most 6 times

DOCS = RuleDocs(
    what="""
Reports, in a Durable Object's `alarm()` handler:
- a `catch` block that both sets a new alarm and rethrows (`catch-rearm-rethrow`);
- `setAlarm()` as an unconditional statement before the handler's work (`early-rearm`); log
  lines (`console.*`, `logger.*`) after it are not work;
- `setAlarm()` as the unconditional last statement of the handler, log lines aside
  (`unconditional-rearm`), unless an earlier statement returns from the handler on a path that
  sets no alarm (`if (nothing left) return;`): then the object stops re-arming when its work is
  done.
A rethrow guarded by `retryCount` is the intended pattern and is not reported.
""",
    why="""
Alarms are delivered at least once and retried only when `alarm()` throws: exponential backoff
from 2 s, up to 6 retries, with `info.retryCount` counting them. Setting a new alarm in a handler
that then throws replaces that retry: the backoff never happens and the work waits for the new
alarm instead (cloudflare-docs PR 15685), so "re-arm in a minute and rethrow" does neither of the
two things it meant. Alarms do not repeat: a handler that re-arms itself unconditionally wakes
(and bills) the object forever, even when there is nothing left to do; re-arm only while work is
pending.
""",
    example="""
```ts
// Reported: the new alarm suppresses the retry the rethrow asked for
async alarm() {
  try {
    await this.flush();
  } catch (err) {
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
    throw err;
  }
}

// Production pattern: let the runtime retry, reschedule only when retries run out
async alarm(info?: AlarmInvocationInfo) {
  try {
    await this.flush();
  } catch (err) {
    if ((info?.retryCount ?? 0) < 5) {
      throw err;
    }
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
  }
}
```
""",
    references=(
        f"{REF_ALARMS} (retries, AlarmInvocationInfo.retryCount)",
        f"{REF_RULES}",
        "https://github.com/cloudflare/cloudflare-docs/pull/15685 "
        "(setting an alarm in a handler that throws suppresses the retry)",
    ),
)


def _in_handler(cls: DurableObjectClass, node: Node, handler: Node) -> bool:
    return enclosing_function_in(cls, node) == handler


def _retry_guarded(data: bytes, node: Node, stop: Node) -> bool:
    parent = node.parent
    while parent is not None and parent != stop:
        if parent.type == "if_statement":
            cond = parent.child_by_field_name("condition")
            if cond is not None and "retryCount" in node_text(data, cond):
                return True
        parent = parent.parent
    return False


def top_statements(handler: Node) -> list[Node]:
    body = handler.child_by_field_name("body")
    if body is None or body.type != "statement_block":
        return []
    return [c for c in body.named_children if c.type != "comment"]


_LOGGING = ("console.", "logger.", "log.", "this.log", "this.logger.")


def _calls(node: Node, data: bytes) -> bool:
    """Does the statement do work that can throw? A log line is not work."""
    for call in walk_type(node, "call_expression", "await_expression"):
        if call.type == "await_expression":
            return True
        func = call.child_by_field_name("function")
        text = node_text(data, func) if func is not None else ""
        if not text.startswith(_LOGGING):
            return True
    return False


def _stops_without_rearm(
    file: SourceFile, statements: list[Node], sets: list[Node], handler: Node
) -> bool:
    """An earlier statement returns from the handler on a path that does not set an alarm
    (`if (nothing left) return;`): the re-arm at the end is conditional in effect."""
    for stmt in statements:
        for ret in walk_type(stmt, "return_statement", file=file):
            if _function_of(ret) != handler:
                continue
            block = ret.parent
            while block is not None and block.type not in {"statement_block", "if_statement"}:
                block = block.parent
            scope = block if block is not None else stmt
            if not any(scope.start_byte <= s.start_byte < ret.start_byte for s in sets):
                return True
    return False


def _function_of(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in {
        "arrow_function",
        "function_expression",
        "function_declaration",
        "method_definition",
    }:
        parent = parent.parent
    return parent


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class RetryState:
    """What the fixes need: the class, the `setAlarm()` call, and the rethrow (catch-rearm-rethrow)."""

    cls: DurableObjectClass
    call: Node
    throw: Node | None = None


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        handler = cls.alarm
        if handler is None:
            continue
        data = cls.file.data
        sets = [c for c in storage_calls(cls, "setAlarm", handler) if _in_handler(cls, c, handler)]
        if not sets:
            continue
        reported: set[int] = set()
        for catch in walk_type(handler, "catch_clause", file=cls.file):
            if not _in_handler(cls, catch, handler):
                continue
            body = catch.child_by_field_name("body")
            if body is None:
                continue
            throws = [
                t
                for t in walk_type(body, "throw_statement", file=cls.file)
                if _in_handler(cls, t, handler) and not _retry_guarded(data, t, body)
            ]
            rearms = [s for s in sets if body.start_byte <= s.start_byte < body.end_byte]
            if throws and rearms:
                call = rearms[0]
                reported.add(call.start_byte)
                yield RULE.finding(
                    "catch-rearm-rethrow",
                    f"`alarm()` of `{cls.name}` sets a new alarm and rethrows: the new alarm "
                    "replaces the runtime's retry with backoff. Rethrow while "
                    f"`info.retryCount < {RETRY_LIMIT}`, and reschedule only when retries run out.",
                    node_span(cls.file, call.child_by_field_name("function") or call),
                    data={
                        "class": cls.name,
                        "kind": "catch-rearm-rethrow",
                        "call": [call.start_byte, call.end_byte],
                        "throw": [throws[0].start_byte, throws[0].end_byte],
                    },
                    state=RetryState(cls, call, throws[0]),
                )
        statements = top_statements(handler)
        for index, stmt in enumerate(statements):
            found = next((s for s in sets if expression_statement_of(s) == stmt), None)
            if found is None or found.start_byte in reported:
                continue
            call = found
            rest = statements[index + 1 :]
            span = node_span(cls.file, call.child_by_field_name("function") or call)
            info = {"class": cls.name, "call": [call.start_byte, call.end_byte]}
            if not any(_calls(r, data) for r in rest):
                if _stops_without_rearm(cls.file, statements[:index], sets, handler):
                    continue
                yield RULE.finding(
                    "unconditional-rearm",
                    f"`alarm()` of `{cls.name}` always re-arms itself: the object wakes (and is "
                    "billed) forever, even with nothing left to do. Re-arm only while work is "
                    "pending.",
                    span,
                    data={**info, "kind": "unconditional-rearm"},
                    state=RetryState(cls, call),
                )
            elif any(_calls(s, data) for s in rest):
                yield RULE.finding(
                    "early-rearm",
                    f"`alarm()` of `{cls.name}` sets the next alarm before doing its work: if the "
                    "work throws, that alarm replaces the runtime's retry. Re-arm after the work.",
                    span,
                    data={**info, "kind": "early-rearm"},
                    state=RetryState(cls, call),
                )


RULE = Rule(
    id="alarm-retry-suppressed",
    title="alarm() suppresses its own retries or re-arms forever",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "catch-rearm-rethrow": "alarm() sets a new alarm and rethrows: the new alarm replaces the runtime's retry",
        "unconditional-rearm": "alarm() always re-arms itself, even with nothing left to do",
        "early-rearm": "alarm() sets the next alarm before its work, so a failure is not retried",
    },
)
