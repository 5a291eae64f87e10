"""websocket-close-handshake: webSocketClose that leaves the handshake unanswered, or that
echoes a close code `ws.close()` refuses."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import (
    REF_CHANGELOG,
    REF_RULES,
    REF_WEBSOCKETS,
    calls_mentioning,
    node_span,
)
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import call_args, node_text, normalize_expr, walk_type

# Codes that may be received but that `close()` throws on (workerd api/web-socket.c++).
RESERVED_CODES = frozenset({"1004", "1005", "1006", "1015"})
AUTO_REPLY_DATE = "2026-04-07"
AUTO_REPLY_FLAG = "web_socket_auto_reply_to_close"

DOCS = RuleDocs(
    what=f"""
Reports, in a Durable Object class:
- a `webSocketClose(ws, code, reason, wasClean)` handler that never calls `ws.close(…)`, when the
  wrangler config that binds the class has a compatibility_date before {AUTO_REPLY_DATE} and no
  `{AUTO_REPLY_FLAG}` flag (with no config found, the rule assumes an old date and says so).
  A close done by a class method the handler calls with the socket (`this.handleLeave(ws)`
  closing its parameter, followed up to three calls deep) counts as the handler's own;
- `ws.close(code, …)` that passes the received code straight back (not inside a `try` block,
  where the throw for 1005/1006 is caught);
- `close()` with a literal 1004, 1005, 1006 or 1015.
""",
    why=f"""
Before compatibility_date {AUTO_REPLY_DATE} the runtime does not answer a client's close frame for
a hibernatable socket: unless `webSocketClose` calls `ws.close()`, the client never sees the close
handshake finish and reports 1006 (abnormal closure). From {AUTO_REPLY_DATE}
(`{AUTO_REPLY_FLAG}`) the runtime replies itself. `ws.close()` throws for 1004, 1005, 1006 and
1015: these codes describe what happened to a connection and may arrive in `webSocketClose`
(1005 when the client sent no code, 1006 when the connection dropped), so echoing the received
code blindly throws exactly when the connection went wrong.
""",
    example="""
```ts
// Reported (compatibility_date before 2026-04-07): the client sees 1006
async webSocketClose(ws: WebSocket, code: number, reason: string) {
  this.leave(ws);
}

// Reported: throws when code is 1005 or 1006
async webSocketClose(ws: WebSocket, code: number, reason: string) {
  ws.close(code, reason);
}

// Production pattern
async webSocketClose(ws: WebSocket, code: number, reason: string) {
  this.leave(ws);
  ws.close(code === 1004 || code === 1005 || code === 1006 || code === 1015 ? 1000 : code, reason);
}
```
""",
    references=(
        f"{REF_WEBSOCKETS} (webSocketClose and the close handshake)",
        f"{REF_RULES}",
        f"{REF_CHANGELOG} ({AUTO_REPLY_DATE}: web_socket_auto_reply_to_close)",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/api/web-socket.c%2B%2B "
        "(close() rejects 1004/1005/1006/1015)",
    ),
)


def params_of(data: bytes, method: Node) -> list[str]:
    params = method.child_by_field_name("parameters")
    if params is None:
        return []
    names: list[str] = []
    for param in params.named_children:
        if param.type == "comment":
            continue
        pattern = param.child_by_field_name("pattern")
        names.append(node_text(data, pattern) if pattern is not None else "")
    return names


def close_calls(
    data: bytes, scope: Node, file: SourceFile | None = None
) -> Iterator[tuple[Node, str]]:
    """`<x>.close(...)` calls in scope: (call, normalised receiver); `file`: whose text `data`
    is (calls_mentioning)."""
    for call in calls_mentioning(data, scope, "close", file=file, whole=True):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        prop, obj = func.child_by_field_name("property"), func.child_by_field_name("object")
        if prop is None or obj is None or node_text(data, prop) != "close":
            continue
        yield call, normalize_expr(node_text(data, obj))


def closes_through_helpers(
    cls_methods: dict[str, Node], data: bytes, scope: Node, ws: str, depth: int = 3
) -> bool:
    """`this.teardown(ws)` (or `this.#leave(ws, …)`) where the class method closes the parameter
    that receives the socket, followed a few calls deep."""
    if depth == 0:
        return False
    for call in walk_type(scope, "call_expression"):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
        if obj is None or prop is None or node_text(data, obj) != "this":
            continue
        method = cls_methods.get(node_text(data, prop))
        if method is None or method == scope:
            continue
        args = [normalize_expr(node_text(data, a)) for a in call_args(call)]
        if ws not in args:
            continue
        params = params_of(data, method)
        position = args.index(ws)
        if position >= len(params) or not params[position]:
            continue
        param = params[position]
        if any(receiver == param for _, receiver in close_calls(data, method)):
            return True
        if closes_through_helpers(cls_methods, data, method, param, depth - 1):
            return True
    return False


def _in_try(node: Node, stop: Node) -> bool:
    parent = node.parent
    while parent is not None and parent != stop:
        if parent.type == "statement_block" and parent.parent is not None:
            if (
                parent.parent.type == "try_statement"
                and parent == parent.parent.child_by_field_name("body")
            ):
                return True
        parent = parent.parent
    return False


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class CloseState:
    """What the fix needs (missing-close): the class whose `webSocketClose` never closes."""

    cls: DurableObjectClass


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        handler = cls.methods.get("webSocketClose")
        if handler is not None:
            params = params_of(data, handler)
            ws = params[0] if params else None
            code = params[1] if len(params) > 1 else None
            closes = [
                c
                for c, receiver in close_calls(data, handler, cls.file)
                if ws is None or receiver == ws
            ]
            config = model.config_for_class(cls)
            auto = (
                config.compat_at_least(AUTO_REPLY_DATE, AUTO_REPLY_FLAG)
                if config is not None
                else None
            )
            if not closes and ws and closes_through_helpers(cls.methods, data, handler, ws):
                closes = [handler]
            if not closes and not auto:
                if auto is None:
                    note = (
                        " No wrangler config with a compatibility_date binds this class, so the "
                        f"rule assumes a date before {AUTO_REPLY_DATE}."
                    )
                else:
                    note = f" (compatibility_date {config.compatibility_date if config else '?'})"
                name = handler.child_by_field_name("name") or handler
                yield RULE.finding(
                    "missing-close",
                    f"`webSocketClose` in `{cls.name}` never calls `{ws or 'ws'}.close()`: before "
                    f"compatibility_date {AUTO_REPLY_DATE} the runtime does not complete the close "
                    f"handshake, and clients see 1006.{note}",
                    node_span(cls.file, name),
                    data={"class": cls.name, "kind": "missing-close"},
                    state=CloseState(cls),
                )
            if code:
                for call, _ in close_calls(data, handler, cls.file):
                    args = call_args(call)
                    if _in_try(call, handler):
                        continue  # the throw for 1005/1006 is caught: nothing breaks
                    if args and args[0].type == "identifier" and node_text(data, args[0]) == code:
                        yield RULE.finding(
                            "echoed-code",
                            f"`close({code}, …)` echoes the received code: `close()` throws for "
                            "1005 (no code sent) and 1006 (connection dropped), which are exactly "
                            "the codes a failing connection delivers.",
                            node_span(cls.file, args[0]),
                            data={"class": cls.name, "kind": "echo", "code": code},
                        )
        for call, _ in close_calls(data, cls.node, cls.file):
            args = call_args(call)
            if args and args[0].type == "number" and node_text(data, args[0]) in RESERVED_CODES:
                yield RULE.finding(
                    "reserved-code",
                    f"`close({node_text(data, args[0])})` throws: 1004, 1005, 1006 and 1015 are "
                    "reserved codes that may not be sent; use 1000 (normal) or 4000–4999.",
                    node_span(cls.file, args[0]),
                    data={"class": cls.name, "kind": "reserved-literal"},
                    severity=Severity.ERROR,
                )


RULE = Rule(
    id="websocket-close-handshake",
    title="The WebSocket close handshake is left unanswered or answered with a code close() refuses",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "missing-close": "webSocketClose never calls ws.close()",
        "echoed-code": "close() echoes the received code, which throws for 1005/1006",
        "reserved-code": "close() with a reserved code, which throws",
    },
)
