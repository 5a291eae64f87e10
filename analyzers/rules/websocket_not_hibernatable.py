"""websocket-not-hibernatable: a WebSocket accepted with the standard API inside a Durable Object."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import ctx_expression
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
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
    fix="""
`server.accept()` becomes `this.ctx.acceptWebSocket(server)`. Events of a hibernatable socket go
only to the class's `webSocketMessage` / `webSocketClose` / `webSocketError` (listeners added with
`addEventListener` stop firing, checked in workerd), and `getWebSockets()` lists it.

Safe (the program's meaning is kept) only when nothing can tell the difference: the socket has no
listeners, is handed to no other code, the class has no `webSocket*` handler method (nor a base
class that may have one) and no `getWebSockets()` call, and it keeps no socket-keyed collection
that hibernation would empty; its events were dropped before and still are. With handler methods
or `getWebSockets()` the same edit is unsafe: the socket's messages and close now reach those
handlers, which must handle a socket they never saw.

When the socket has listeners, the fix is unsafe: the listener bodies move into the handler
methods (merged into existing ones behind a tag check), with the socket and event values renamed
to the handler's parameters (a new handler's parameters take other names, `socket` for `ws`,
when the moved body already uses them; merging into an existing handler whose parameter the body
shadows is refused). What the listeners closed over per connection (`const name = …` in
`fetch()`) goes with the socket: `server.serializeAttachment({ name })` where the first listener
was added, and `const { name } = ws.deserializeAttachment()` at the top of each handler that
reads it (typed when every carried `const` has a type annotation), so it is there after a wake.
Not offered when a listener closes over a parameter or a variable that changes (`let`), a value
declared after the listener, when the class already uses attachments, or when a listener uses
the event in a way that cannot be mapped.

A `Map`/`Set` keyed by `WebSocket` that the class writes and reads (what `websocket-state-in-memory`
would report once the class hibernates) is carried in the same fix, by that rule's own edits
(`codeactions/websocket_state_in_memory.py`, `carry_fields`): each value stored with
`this.map.set(server, value)` also becomes the socket's attachment, and the constructor (which
runs again on every wake, with the sockets still open) puts every open socket back into the map
from its attachment; a `Set` holding every accepted socket is refilled from `getWebSockets()`.
Every other use of the collection (`get`, `delete`, iteration, `size`, handing it to other code)
stays as written and stays correct, because the collection is whole again before any handler
runs. When the listeners also closed over values, one attachment holds both,
`{ name, room, members: value }`, written where the value is stored:

```ts
this.ctx.acceptWebSocket(server);
const member: Member = { name, joinedAt: Date.now() };
server.serializeAttachment({ room, members: member });
this.members.set(server, member);
// constructor, after super(ctx, env):
for (const ws of this.ctx.getWebSockets()) {
  const attachment = ws.deserializeAttachment() as { members?: Member } | null;
  if (attachment?.members !== undefined) {
    this.members.set(ws, attachment.members);
  }
}
```

A value a listener stores (`this.names.set(server, { name: msg.join })` on a "join" message) gets
its `serializeAttachment()` beside the `set` in the moved body, with the handler's socket.

No fix at all when such a collection cannot be carried, since the fix would then empty it at the
first wake: with closed-over values, a value stored inside a listener, in a nested block or in
several places; a value a listener stores that computes something (a call); a value that is not plain data (a function, the socket); a stored value changed
in place (`map.get(ws).x = …`: the attachment would keep the old value); two maps (a socket has
one attachment); a `Set` filled on a condition or with sockets accepted elsewhere; a collection
that is reassigned or cleared. Measured in workerd (tests/runtime/test_socket_state_runtime.py):
a name and room set in `fetch()` are read back by `webSocketMessage` after the object was
evicted for inactivity (10 s in workerd) and constructed again; without the constructor's rebuild
the woken map is empty.

The reviewer checks: that every carried value survives structured clone and stays within the
attachment limit (16 KiB serialized, 2 KiB before February 2026: the hibernation API reference below); where
the review note names a `delete` outside `webSocketClose`/`webSocketError` (or a close/error
listener), that the socket is closing there, since an open socket removed from the collection is
put back by the rebuild after a wake; and that the moved bodies need no other in-memory state set
while the socket was accepted (a timer, a field set in `fetch()`).

No fix at all when the socket is handed to other code (a library's room or connection manager, a
proxy): its listeners would stop firing, so no rewrite is correct; the finding stays for a human.
A socket accepted only to send an error frame and close is not reported: it keeps nothing open,
and made hibernatable its close would reach `webSocketClose`, which may assume state that socket
never had.
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
        for call in walk_type(sibling, "call_expression"):
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
                )
            if not accepts and hibernatable:
                for _use, event, call in listeners:
                    yield RULE.finding(
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
)
