"""websocket-state-in-memory: per-socket state in a Map/Set of a hibernating class that nothing
rebuilds after a wake."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import (
    REF_LIFECYCLE,
    REF_WEBSOCKETS,
    node_span,
    spells,
)
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type

_SOCKET_COLLECTION = later(r"^(Map|WeakMap|Set|WeakSet)\s*<\s*WebSocket\s*[,>]")

DOCS = RuleDocs(
    what="""
Reports, in a Durable Object class that accepts hibernatable sockets (`ctx.acceptWebSocket`), a
field holding a `Map`/`Set` (or `WeakMap`/`WeakSet`) keyed by `WebSocket` that the constructor
does not rebuild from `ctx.getWebSockets()`.

Not reported: a collection the constructor rebuilds itself or through a method it runs
(`this.restore()`, `blockConcurrencyWhile(this.onStart.bind(this))`, and the methods those
call), and a collection the class only writes and deletes from but never reads (no `get`,
`has`, iteration or `size`): losing it at hibernation changes nothing.
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
    references=(
        f"{REF_WEBSOCKETS} (hibernation, serializeAttachment)",
        f"{REF_LIFECYCLE} (memory is lost at hibernation; the constructor runs on wake)",
    ),
)


_READS = ("get", "has", "values", "keys", "entries", "forEach", "size")


def _read(data: bytes, scope: Node, field: str) -> bool:
    """Does the class read the collection (look-ups, iteration, size), not only write it?"""
    target = f"this.{field}"
    for node in walk_type(scope, "member_expression"):
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None or normalize_expr(node_text(data, obj)) != target:
            continue
        if node_text(data, prop) in _READS:
            return True
    for loop in walk_type(scope, "for_in_statement"):
        right = loop.child_by_field_name("right")
        if right is not None and normalize_expr(node_text(data, right)) == target:
            return True
    for spread in walk_type(scope, "spread_element"):
        if normalize_expr(node_text(data, spread).lstrip(".")) == target:
            return True
    return False


def _reached_from_constructor(cls: DurableObjectClass) -> list[Node]:
    ctor = cls.constructor
    if ctor is None:
        return []
    data = cls.file.data
    reached = [ctor]
    seen = {"constructor"}
    frontier = [ctor]
    while frontier:
        scope = frontier.pop()
        for node in walk_type(scope, "member_expression"):
            obj = node.child_by_field_name("object")
            prop = node.child_by_field_name("property")
            if obj is None or prop is None or node_text(data, obj) != "this":
                continue
            name = node_text(data, prop)
            method = cls.methods.get(name)
            if method is not None and name not in seen and name not in {"fetch", "alarm"}:
                seen.add(name)
                reached.append(method)
                frontier.append(method)
    return reached


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class MemoryState:
    """What the fix needs: the class that keeps the field."""

    cls: DurableObjectClass


def lost_socket_fields(cls: DurableObjectClass) -> list[Node]:
    """The fields of the class holding a `Map`/`Set` keyed by `WebSocket` that would be empty
    after a wake: written (`set`/`add`) and read, and not rebuilt by the constructor (or what it
    runs). The rule reports them when the class hibernates its sockets; the
    websocket-not-hibernatable fix carries them when it makes the class hibernate (one place
    decides which collections are lost)."""
    data = cls.file.data
    body = cls.body
    if body is None:
        return []
    # the constructor and what it runs: `this.m()`, `this.m.bind(this)` handed to
    # blockConcurrencyWhile, and the methods those call
    ctor_text = " ".join(node_text(data, m) for m in _reached_from_constructor(cls))
    lost: list[Node] = []
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
        if not _SOCKET_COLLECTION().match(declared):
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
        if not writes or not _read(data, cls.node, field_name):
            continue  # written and deleted but never read: losing it changes nothing
        lost.append(name)
    return lost


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        node = cls.node
        # the word's places in the file, kept in its memo (its decoded text was ~150 KB a
        # keystroke in a big class, then a search of its bytes; the word is ASCII and a source
        # file is valid UTF-8: the same answer)
        if not spells(cls.file, b"acceptWebSocket(", node.start_byte, node.end_byte):
            continue
        for name in lost_socket_fields(cls):
            field_name = node_text(data, name)
            yield RULE.finding(
                "per-socket-map",
                f"`{field_name}` keeps per-socket state in memory, but `{cls.name}` hibernates "
                "with its sockets open: after a wake the map is empty while the sockets are "
                "still connected. Keep the state in `serializeAttachment()` and rebuild from "
                "`ctx.getWebSockets()`.",
                node_span(cls.file, name),
                data={"class": cls.name, "field": field_name},
                state=MemoryState(cls),
            )


RULE = Rule(
    id="websocket-state-in-memory",
    title="Per-socket state in memory is lost when the object hibernates",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "per-socket-map": "per-socket state kept in an in-memory map of a hibernating class",
    },
)
