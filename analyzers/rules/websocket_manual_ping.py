"""websocket-manual-ping: `webSocketMessage` answering a literal ping with a literal pong."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_STATE, REF_WEBSOCKETS, node_span
from durable_harden.analyzers.rules.websocket_close_handshake import params_of
from durable_harden.analyzers.tsutil import (
    call_args,
    node_text,
    normalize_expr,
    string_value,
    walk_type,
)

DOCS = RuleDocs(
    what="""
Reports a `webSocketMessage(ws, message)` handler that compares the message with a string literal
(`message === "ping"`) and answers with a string literal (`ws.send("pong")`), in a class whose
constructor does not already call `ctx.setWebSocketAutoResponse()`.
""",
    why="""
Every message delivered to `webSocketMessage` wakes a hibernated object and bills its duration.
Keep-alive pings are the most frequent messages and need no code: `ctx.setWebSocketAutoResponse(
new WebSocketRequestResponsePair("ping", "pong"))` makes the runtime answer an exact `"ping"` with
`"pong"` itself, without waking the object (`ctx.getWebSocketAutoResponseTimestamp(ws)` tells
when it last did).
""",
    example="""
```ts
// Reported: every ping wakes the object
async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
  if (message === "ping") {
    ws.send("pong");
    return;
  }
  …
}

// Production pattern: in the constructor
this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
```
""",
    references=(
        f"{REF_STATE} (setWebSocketAutoResponse)",
        f"{REF_WEBSOCKETS} (auto-response answers without waking the object)",
    ),
)


def _literal(data: bytes, node: Node | None) -> str | None:
    if node is None:
        return None
    return string_value(data, node)


def _ping_literal(data: bytes, cond: Node, message: str) -> str | None:
    while cond.type == "parenthesized_expression" and cond.named_child_count == 1:
        cond = cond.named_children[0]
    if cond.type != "binary_expression":
        return None
    op = cond.child_by_field_name("operator")
    if op is None or node_text(data, op) not in {"===", "=="}:
        return None
    left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
    if left is None or right is None:
        return None
    for a, b in ((left, right), (right, left)):
        if normalize_expr(node_text(data, a)) == message:
            value = _literal(data, b)
            if value is not None:
                return value
    return None


def _only_answers(data: bytes, handler: Node, branch: Node, send: Node) -> bool:
    """The ping branch is the handler's first statement and does nothing but send the pong
    (and return): then the runtime's answer skips no code the handler would have run."""
    body = handler.child_by_field_name("body")
    if body is None:
        return False
    statements = [c for c in body.named_children if c.type != "comment"]
    if not statements or statements[0] != branch:
        return False
    cons = branch.child_by_field_name("consequence")
    if cons is None:
        return False
    inner = [c for c in cons.named_children if c.type != "comment"]
    if cons.type != "statement_block":
        inner = [cons]
    if not inner or inner[0].type != "expression_statement":
        return False
    if inner[0].named_children[0] != send:
        return False
    rest = inner[1:]
    return not rest or (
        len(rest) == 1 and node_text(data, rest[0]).strip() in {"return;", "return"}
    )


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class PingState:
    """What the fix needs: the class whose `webSocketMessage` answers the ping."""

    cls: DurableObjectClass


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        handler = cls.methods.get("webSocketMessage")
        if handler is None:
            continue
        data = cls.file.data
        ctor = cls.constructor
        if ctor is not None and "setWebSocketAutoResponse(" in node_text(data, ctor):
            continue
        params = params_of(data, handler)
        if len(params) < 2 or not params[0] or not params[1]:
            continue
        ws, message = params[0], params[1]
        for branch in walk_type(handler, "if_statement", file=cls.file):
            cond = branch.child_by_field_name("condition")
            cons = branch.child_by_field_name("consequence")
            if cond is None or cons is None:
                continue
            ping = _ping_literal(data, cond, message)
            if ping is None:
                continue
            for call in walk_type(cons, "call_expression", file=cls.file):
                func = call.child_by_field_name("function")
                if func is None or normalize_expr(node_text(data, func)) != f"{ws}.send":
                    continue
                args = call_args(call)
                pong = _literal(data, args[0]) if len(args) == 1 else None
                if pong is None:
                    continue
                yield RULE.finding(
                    "manual-pong",
                    f"`webSocketMessage` of `{cls.name}` answers {ping!r} with {pong!r}: each "
                    "ping wakes the object. `setWebSocketAutoResponse` lets the runtime answer "
                    "without waking it.",
                    node_span(cls.file, cond),
                    data={
                        "class": cls.name,
                        "ping": ping,
                        "pong": pong,
                        "only_answers": _only_answers(data, handler, branch, call),
                    },
                    state=PingState(cls),
                )
                break
            else:
                continue
            break


RULE = Rule(
    id="websocket-manual-ping",
    title="Pings answered in webSocketMessage wake the object",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "manual-pong": "webSocketMessage answers pings itself, waking the object for each",
    },
)
