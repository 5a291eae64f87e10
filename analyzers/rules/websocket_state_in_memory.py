"""websocket-state-in-memory: per-socket state in a Map/Set of a hibernating class that nothing
rebuilds after a wake."""

from __future__ import annotations

import re
from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIFECYCLE, REF_WEBSOCKETS, node_span
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type

_SOCKET_COLLECTION = re.compile(r"^(Map|WeakMap|Set|WeakSet)\s*<\s*WebSocket\s*[,>]")

DOCS = RuleDocs(
    what="""
Reports, in a Durable Object class that accepts hibernatable sockets (`ctx.acceptWebSocket`), a
field holding a `Map`/`Set` (or `WeakMap`/`WeakSet`) keyed by `WebSocket` that the constructor
does not rebuild from `ctx.getWebSockets()`.
""",
    why="""
A hibernatable socket outlives the object's memory: when the object hibernates, its fields are
gone, and when a message wakes it the constructor runs again with the sockets still connected.
A map filled on connect is then empty: the object no longer knows who is connected, broadcasts
reach nobody, and per-socket data (user id, room) is lost. Per-socket state belongs in the
socket's attachment (`serializeAttachment`, at most 16 KiB), and the set of sockets is
`ctx.getWebSockets(tag?)`.
""",
    example="""
```ts
// Reported: empty after every wake
private sessions = new Map<WebSocket, { userId: string }>();
async fetch(req: Request) {
  const [client, server] = Object.values(new WebSocketPair());
  this.ctx.acceptWebSocket(server);
  this.sessions.set(server, { userId });
  …
}

// Production pattern
server.serializeAttachment({ userId });
// constructor:
for (const ws of this.ctx.getWebSockets()) {
  this.sessions.set(ws, ws.deserializeAttachment());
}
```
""",
    fix="""
Unsafe fix, for a `Map`/`WeakMap` whose stored values have a clear shape (a variable, or an
object literal of plain data): `ws.serializeAttachment(value)` is written before each
`this.map.set(ws, value)` (an object literal that computes something is evaluated once into a
`const` both get), and the constructor, right after `super(…)`, puts every open socket with a
non-null attachment back into the map:

```ts
for (const ws of this.ctx.getWebSockets()) {
  const session = ws.deserializeAttachment() as Session | null;
  if (session !== null) {
    this.sessions.set(ws, session);
  }
}
```

Review: the value must be structured-clonable and at most 16 KiB serialized (2 KiB before
February 2026); later changes to a stored object need another `serializeAttachment()`; a socket
removed from the map while it stays open comes back after a wake unless its attachment is
cleared (`ws.serializeAttachment(null)`). No fix is offered for a `Set` (membership has no value:
use tags, `acceptWebSocket(ws, [tag])` and `getWebSockets(tag)`), for values built by a call or
holding functions or the socket, when the field is reassigned, or when the class already uses
attachments for something else (a socket has one attachment; ours would overwrite it).
""",
    references=(
        f"{REF_WEBSOCKETS} (hibernation, serializeAttachment)",
        f"{REF_LIFECYCLE} (memory is lost at hibernation; the constructor runs on wake)",
    ),
)


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        body = cls.body
        if body is None:
            continue
        text = node_text(data, cls.node)
        if "acceptWebSocket(" not in text:
            continue
        ctor = cls.constructor
        ctor_text = node_text(data, ctor) if ctor is not None else ""
        for field in body.named_children:
            if field.type != "public_field_definition":
                continue
            name = field.child_by_field_name("name")
            if name is None:
                continue
            value = field.child_by_field_name("value")
            type_ann = field.child_by_field_name("type")
            declared = ""
            if value is not None and value.type == "new_expression":
                declared = node_text(data, value)[3:].strip()
            if type_ann is not None:
                declared = node_text(data, type_ann).lstrip(":").strip() or declared
            if not _SOCKET_COLLECTION.match(declared):
                continue
            field_name = node_text(data, name)
            rebuilt = "getWebSockets(" in ctor_text and f"this.{field_name}" in normalize_expr(
                ctor_text
            )
            if rebuilt:
                continue
            writes = [
                c
                for c in walk_type(cls.node, "call_expression")
                if normalize_expr(node_text(data, c.child_by_field_name("function") or c))
                in {f"this.{field_name}.set", f"this.{field_name}.add"}
            ]
            if not writes:
                continue
            yield RULE.finding(
                f"`{field_name}` keeps per-socket state in memory, but `{cls.name}` hibernates "
                "with its sockets open: after a wake the map is empty while the sockets are "
                "still connected. Keep the state in `serializeAttachment()` and rebuild from "
                "`ctx.getWebSockets()`.",
                node_span(cls.file, name),
                data={"class": cls.name, "field": field_name},
            )


RULE = Rule(
    id="websocket-state-in-memory",
    title="Per-socket state in memory is lost when the object hibernates",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
)
