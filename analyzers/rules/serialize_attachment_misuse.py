"""serialize-attachment-misuse: `serializeAttachment()` with no value, or its (void) result used."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import (
    REF_STATE,
    REF_WEBSOCKETS,
    calls_mentioning,
    node_span,
)
from durable_harden.analyzers.tsutil import call_args, node_text

DOCS = RuleDocs(
    what="""
Reports, in a Durable Object class, `ws.serializeAttachment()` called with no value, and any use
of its result (assigned, returned, passed on, compared) other than discarding it.
""",
    why="""
`serializeAttachment(value)` stores a structured-clone value (at most 16 KiB; 2 KiB before
February 2026) with a hibernatable socket so that `deserializeAttachment()` can restore it after
the object wakes. It returns nothing: code that keeps its result as a socket id holds `undefined`,
and every lookup through it silently fails after the first wake. Called with no value it throws
(the value is required). The attachment is lost when the socket closes.
""",
    example="""
```ts
// Reported: id is undefined
const id = server.serializeAttachment({ userId });
this.sessions.set(id, server);

// Production pattern: attach what you need, find sockets by tag
this.ctx.acceptWebSocket(server, [userId]);
server.serializeAttachment({ userId });
for (const ws of this.ctx.getWebSockets(userId)) ws.send(msg);
```
""",
    references=(
        f"{REF_WEBSOCKETS} (serializeAttachment / deserializeAttachment)",
        f"{REF_STATE} (getWebSockets, tags)",
    ),
)


def _result_used(call: Node) -> bool:
    node = call
    parent = node.parent
    while parent is not None and parent.type in {"await_expression", "parenthesized_expression"}:
        node = parent
        parent = node.parent
    if parent is None:
        return False
    if parent.type == "expression_statement":
        return False
    if parent.type == "unary_expression":
        op = parent.child_by_field_name("operator")
        return op is None or op.type != "void"
    if parent.type == "arrow_function" and parent.child_by_field_name("body") == node:
        return False  # `() => ws.serializeAttachment(x)`: a callback's value nobody reads
    return parent.type != "sequence_expression"


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class AttachmentState:
    """What the fixes need: the class and the `serializeAttachment()` call."""

    cls: DurableObjectClass
    call: Node


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        for call in calls_mentioning(data, cls.node, "serializeAttachment", file=cls.file):
            func = call.child_by_field_name("function")
            if func is None or func.type != "member_expression":
                continue
            prop = func.child_by_field_name("property")
            if prop is None or node_text(data, prop) != "serializeAttachment":
                continue
            if not call_args(call):
                yield RULE.finding(
                    "no-value",
                    "`serializeAttachment()` needs the value to attach; called with none it "
                    "throws.",
                    node_span(cls.file, call),
                    data={"class": cls.name, "kind": "no-value"},
                    state=AttachmentState(cls, call),
                )
            elif _result_used(call):
                yield RULE.finding(
                    "result-used",
                    "`serializeAttachment()` returns nothing: this value is always `undefined`. "
                    "Attach an id inside the value and read it with `deserializeAttachment()`, or "
                    "tag the socket and use `getWebSockets(tag)`.",
                    node_span(cls.file, call),
                    data={"class": cls.name, "kind": "result-used"},
                    state=AttachmentState(cls, call),
                )


RULE = Rule(
    id="serialize-attachment-misuse",
    title="serializeAttachment() called without a value, or its void result used",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "no-value": "serializeAttachment() called with no value",
        "result-used": "the void result of serializeAttachment() is used",
    },
)
