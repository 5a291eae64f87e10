"""websocket-not-hibernatable: a WebSocket accepted with the standard API inside a Durable Object."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import (
    REF_LIFECYCLE,
    REF_STATE,
    REF_WEBSOCKETS,
    node_span,
)
from durable_harden.analyzers.rules._upgrade_request import upgrade_url
from durable_harden.analyzers.rules._websocket import (
    LISTENER_EVENTS,
    SocketUse,
    only_closed,
    server_sockets,
)
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type

DOCS = RuleDocs(
    what="""
Reports `.accept()` on the server half of a `new WebSocketPair()` inside a Durable Object class
(`const [client, server] = Object.values(pair)`, `pair[1]`, `const { 1: server } = pair`, and a
method of the class the socket is passed to). Its `addEventListener("message" | "close" |
"error")` handlers are listed as related information, because they are what has to move.

Also reported: listeners added to a socket accepted with `ctx.acceptWebSocket()` (they never
fire: events go to the `webSocket*` handler methods), and, as information, a server socket that
is handed to other code (`room.handleSocketConnect(server)`) which may accept it the
non-hibernatable way.

Casts around the socket are seen through: `(server as any).accept()`, `(<WebSocket>server).accept()`,
`server!.accept()`.

An outbound socket (`(await fetch(url, { headers: { Upgrade: "websocket" } })).webSocket`) is never
reported: it cannot hibernate and `.accept()` is the only way to use it. Nor is a socket accepted
only to send an error frame and close (`server.accept(); server.send(err); server.close(1008)` in
the same block, with no listeners): it never stays open. Passing the socket to `Object.assign`
(decorating it) is not handing it to other code.
""",
    why="""
A Durable Object holding a WebSocket accepted with `ws.accept()` can never hibernate: it stays in
memory, billed for duration, for as long as the connection is open, even when nobody speaks. With
`this.ctx.acceptWebSocket(server, tags?)` the runtime keeps the connection while the object
sleeps and wakes it to deliver a message to `webSocketMessage(ws, message)`,
`webSocketClose(ws, code, reason, wasClean)` or `webSocketError(ws, error)`. Never call both
`acceptWebSocket()` and `accept()` on one socket. Up to 32,768 hibernatable sockets per object;
at most 10 tags per socket, each at most 256 characters.
""",
    example="""
```ts
// Reported
const [client, server] = Object.values(new WebSocketPair());
server.accept();
server.addEventListener("message", (event) => this.onMessage(server, event.data));

// Production pattern
const [client, server] = Object.values(new WebSocketPair());
this.ctx.acceptWebSocket(server);
// …
async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
  await this.onMessage(ws, message);
}
```
""",
    references=(
        f"{REF_WEBSOCKETS} (hibernation API)",
        f"{REF_STATE} (acceptWebSocket, limits on sockets and tags)",
        f"{REF_LIFECYCLE} (what keeps an object from hibernating)",
    ),
)


def _group(uses: list[SocketUse]) -> dict[int, list[SocketUse]]:
    groups: dict[int, list[SocketUse]] = {}
    for use in uses:
        groups.setdefault(use.pair.start_byte, []).append(use)
    return groups


def closed_right_after(data: bytes, use: SocketUse, accept: Node) -> bool:
    """`server.accept(); server.send(error); server.close(1008, "…")`: a socket accepted only to
    send an error frame and close, in the same block. It never stays open, so it never keeps the
    object awake."""
    stmt = accept.parent
    while stmt is not None and stmt.parent is not None and stmt.parent.type != "statement_block":
        stmt = stmt.parent
    if stmt is None or stmt.parent is None:
        return False
    after = False
    for sibling in stmt.parent.named_children:
        if sibling == stmt:
            after = True
            continue
        if not after:
            continue
        for call in walk_type(sibling, "call_expression", file=use.cls.file):
            func = call.child_by_field_name("function")
            if func is None or func.type != "member_expression":
                continue
            obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
            if (
                obj is not None
                and prop is not None
                and node_text(data, prop) == "close"
                and normalize_expr(node_text(data, obj)) in use.names
            ):
                return True
    return False


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class AcceptState:
    """What the fix needs (accept): the class, the socket use and its `accept()` call, and every
    use of the same `WebSocketPair` (the fix reads them all: finding them again cost as much as
    the rule's own walk of the class)."""

    cls: DurableObjectClass
    use: SocketUse
    accept: Node
    group: tuple[SocketUse, ...]


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        file = cls.file
        data = file.data
        for group in _group(server_sockets(cls)).values():
            listeners = [(u, e, c) for u in group for e, c in u.listeners]
            accepts = [
                (u, c)
                for u in group
                for c in u.accepts
                if listeners or not closed_right_after(data, u, c)
            ]
            hibernatable = [c for u in group for c in u.hibernatable]
            handoffs = [(u, c) for u in group for c in u.handoffs]
            if len(group) == 1 and only_closed(group[0]):
                continue  # accepted only to send an error and close: nothing stays open
            related = [
                Related(
                    node_span(file, call),
                    f'`addEventListener("{event}")` on this socket: its body belongs in '
                    f"`{LISTENER_EVENTS[event]}()`",
                )
                for _, event, call in listeners
            ]
            listener_data = [
                [event, call.start_byte, call.end_byte, use.scope.start_byte]
                for use, event, call in listeners
            ]
            for use, call in accepts:
                func = call.child_by_field_name("function")
                obj = func.child_by_field_name("object") if func is not None else None
                socket = normalize_expr(node_text(data, obj)) if obj is not None else "server"
                yield RULE.finding(
                    "standard-accept",
                    f"`{socket}.accept()` in Durable Object `{cls.name}` keeps the object awake "
                    f"for as long as the socket is open; accept it with "
                    f"`{ctx_expression(cls)}.acceptWebSocket({socket})` and handle its events in "
                    "`webSocketMessage`/`webSocketClose`/`webSocketError` so it can hibernate.",
                    node_span(file, call),
                    related=related,
                    data={
                        "class": cls.name,
                        "kind": "accept",
                        "socket": socket,
                        "ctx": ctx_expression(cls),
                        "accept": [call.start_byte, call.end_byte],
                        "scope": use.scope.start_byte,
                        "listeners": listener_data,
                        # the request reaching this upgrade from fetch(), None when not derived
                        "upgrade_url": upgrade_url(cls, use.pair),
                    },
                    state=AcceptState(cls, use, call, tuple(group)),
                )
            if not accepts and hibernatable:
                for _use, event, call in listeners:
                    yield RULE.finding(
                        "listener-never-fires",
                        f'`addEventListener("{event}")` on a socket accepted with '
                        "`acceptWebSocket()` never fires: the runtime delivers its events to "
                        f"`{LISTENER_EVENTS[event]}()` on the class.",
                        node_span(file, call),
                        related=[Related(node_span(file, hibernatable[0]), "accepted here")],
                        data={"class": cls.name, "kind": "listener", "event": event},
                    )
            if not accepts and not hibernatable:
                for _use, call in handoffs:
                    func = call.child_by_field_name("function")
                    callee = node_text(data, func) if func is not None else "?"
                    yield RULE.finding(
                        "handed-off",
                        f"The server WebSocket is handed to `{callee}()`; if that code calls "
                        "`accept()` the object can never hibernate. Use its hibernation-aware API "
                        f"or accept with `{ctx_expression(cls)}.acceptWebSocket()`.",
                        node_span(file, call),
                        related=related,
                        data={"class": cls.name, "kind": "handoff", "callee": callee},
                        severity=Severity.INFO,
                    )


RULE = Rule(
    id="websocket-not-hibernatable",
    title="A WebSocket accepted with the standard API keeps the Durable Object awake",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "standard-accept": "a server WebSocket accepted with accept(), which keeps the object awake",
        "listener-never-fires": "an event listener on a hibernatable socket, which never fires",
        "handed-off": "the server WebSocket is handed to other code that may accept() it",
    },
)
