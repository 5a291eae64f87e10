"""Fix for websocket-state-in-memory (unsafe): keep a socket-keyed Map's values in the sockets'
attachments and rebuild the map from them in the constructor.

- beside each `this.<map>.set(ws, value)`: `ws.serializeAttachment(value)` (before it, so a value
  the runtime refuses throws before the map and the attachment disagree);
- in the constructor, right after `super(…)`: a loop over `ctx.getWebSockets()` that puts every
  socket with a non-null attachment back into the map (a constructor is added when there is
  none).

Offered only when the stored value's shape is clear: a variable, or an object literal of plain
data (no functions, not the socket itself). An object literal that computes something (calls,
`new`, `await`) is evaluated once into a `const` that both the map and the attachment get.
Refused when the class already uses attachments (one attachment per socket: writing ours would
overwrite theirs), for a `Set` (membership has no value to attach), when the map field is
reassigned, or when a `set` is not a statement of its own inside a block.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIFECYCLE, REF_WEBSOCKETS
from durable_harden.analyzers.rules.websocket_state_in_memory import MemoryState
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    enclosing,
    node_text,
    normalize_expr,
    walk,
)
from durable_harden.codeactions._tsedit import (
    env_type,
    identifiers_in,
    indent_at,
    indent_unit,
    line_end,
    line_start,
    member_indent,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_HIBERNATION, UNSAFE, FixDocs, FixSpec, Offer

_MAP_TYPES = {"Map", "WeakMap"}
_SET_TYPES = {"Set", "WeakSet"}
# expressions inside an object literal that compute something (evaluating twice would differ)
_EFFECTS = {
    "call_expression",
    "new_expression",
    "await_expression",
    "assignment_expression",
    "augmented_assignment_expression",
    "update_expression",
    "yield_expression",
    "template_string",
}
# what a structured clone cannot carry
_NOT_CLONABLE = {"method_definition", *FUNCTION_TYPES, "class"}


Refused = CannotFix  # the one error a builder raises (codeactions/fix.py)


def _field(cls: DurableObjectClass, name: str) -> Node:
    body = cls.body
    assert body is not None
    data = cls.file.data
    for member in body.named_children:
        if member.type != "public_field_definition":
            continue
        ident = member.child_by_field_name("name")
        if ident is not None and node_text(data, ident) == name:
            return member
    raise Refused(f"field `{name}` not found")


def _collection_type(data: bytes, field: Node) -> tuple[str, str | None]:
    """('Map' | 'WeakMap' | 'Set' | 'WeakSet', the value type's text or None)."""
    candidates: list[tuple[Node | None, Node | None]] = []
    ann = field.child_by_field_name("type")
    if ann is not None:
        generic = next((c for c in ann.named_children if c.type == "generic_type"), None)
        if generic is not None:
            candidates.append(
                (generic.child_by_field_name("name") or generic.named_children[0], generic)
            )
    value = field.child_by_field_name("value")
    if value is not None and value.type == "new_expression":
        candidates.append((value.child_by_field_name("constructor"), value))
    for name_node, holder in candidates:
        if name_node is None or holder is None:
            continue
        kind = node_text(data, name_node)
        args = next((c for c in holder.named_children if c.type == "type_arguments"), None)
        types = [c for c in args.named_children if c.type != "comment"] if args else []
        if kind in _MAP_TYPES | _SET_TYPES:
            value_type = node_text(data, types[1]) if len(types) >= 2 else None
            return kind, value_type
    raise Refused("not a Map/Set field")


def _var_name(value_type: str | None, taken: set[str]) -> str:
    base = "attachment"
    if value_type and re.fullmatch(r"[A-Z][A-Za-z0-9_]*", value_type):
        base = value_type[0].lower() + value_type[1:]
    name = base
    counter = 2
    while name in taken:
        name = f"{base}{counter}"
        counter += 1
    return name


def _check_value(data: bytes, value: Node, key_text: str) -> bool:
    """True when `value` can be evaluated twice with the same result; raises Refused when its
    shape is unclear or it cannot be cloned."""
    if value.type == "identifier":
        if node_text(data, value) == key_text:
            raise Refused("the map stores the socket itself")
        return True
    if value.type != "object":
        raise Refused("the stored value's shape is not clear")
    pure = True
    for node in walk(value):
        if node.type in _NOT_CLONABLE:
            raise Refused("the stored object holds a function")
        if node.type in {"identifier", "shorthand_property_identifier"}:
            if node_text(data, node) == key_text:
                raise Refused("the stored object holds the socket (not clonable)")
        if node.type == "this":
            raise Refused("the stored object refers to `this`")
        if node.type in _EFFECTS:
            pure = False
    return pure


def _writes(cls: DurableObjectClass, field_name: str) -> list[Node]:
    data = cls.file.data
    target = f"this.{field_name}"
    sets: list[Node] = []
    for node in walk(cls.node):
        if node.type in {"assignment_expression", "augmented_assignment_expression"}:
            left = node.child_by_field_name("left")
            if left is not None and normalize_expr(node_text(data, left)) == target:
                raise Refused(f"`{target}` is reassigned")
        if node.type != "call_expression":
            continue
        func = node.child_by_field_name("function")
        if func is not None and normalize_expr(node_text(data, func)) == f"{target}.set":
            sets.append(node)
    return sets


def _set_edits(cls: DurableObjectClass, call: Node, value_type: str | None) -> list[Edit]:
    data = cls.file.data
    path = cls.file.path
    args = call_args(call)
    if len(args) != 2:
        raise Refused("`set` with an unexpected argument list")
    key, value = args
    if key.type not in {"identifier", "member_expression", "subscript_expression"} or any(
        n.type in _EFFECTS for n in walk(key)
    ):
        raise Refused("the socket key is not a plain expression")
    key_text = node_text(data, key)
    stmt = call.parent
    if stmt is None or stmt.type != "expression_statement":
        raise Refused("`set` is part of a larger expression")
    if stmt.parent is None or stmt.parent.type != "statement_block":
        raise Refused("`set` is not a statement in a block")
    pure = _check_value(data, value, normalize_expr(key_text))
    indent = indent_at(data, stmt.start_byte)
    own_line = not data[line_start(data, stmt.start_byte) : stmt.start_byte].strip()
    at = line_start(data, stmt.start_byte) if own_line else stmt.start_byte
    sep = "\n" if own_line else " "
    lead = indent if own_line else ""
    if pure:
        text = f"{lead}{key_text}.serializeAttachment({node_text(data, value)});{sep}"
        return [Edit(path, at, at, text)]
    func = enclosing(call, *FUNCTION_TYPES)
    taken = identifiers_in(data, func if func is not None else cls.node)
    name = _var_name(value_type, taken)
    annotation = f": {value_type}" if value_type else ""
    text = (
        f"{lead}const {name}{annotation} = {node_text(data, value)};{sep}"
        f"{lead}{key_text}.serializeAttachment({name});{sep}"
    )
    return [Edit(path, at, at, text), Edit(path, value.start_byte, value.end_byte, name)]


def _rebuild_lines(
    cls: DurableObjectClass, field_name: str, value_type: str | None, indent: str, taken: set[str]
) -> str:
    unit = indent_unit(cls.file.data)
    socket = "ws" if "ws" not in taken else "socket"
    var = _var_name(value_type, taken | {socket})
    cast = f" as {value_type} | null" if value_type else ""
    lines = [
        "// Sockets outlive hibernation, this map does not: rebuild it from their attachments.",
        f"for (const {socket} of {ctx_expression(cls)}.getWebSockets()) {{",
        f"{unit}const {var} = {socket}.deserializeAttachment(){cast};",
        f"{unit}if ({var} !== null) {{",
        f"{unit}{unit}this.{field_name}.set({socket}, {var});",
        f"{unit}}}",
        "}",
    ]
    return "".join(f"{indent}{line}\n" for line in lines)


def _constructor_edit(cls: DurableObjectClass, field_name: str, value_type: str | None) -> Edit:
    data = cls.file.data
    path = cls.file.path
    ctor = cls.constructor
    if ctor is None:
        if cls.reason not in {"extends", "subclass", "library"} or cls.body is None:
            raise Refused("no constructor to rebuild the map in")
        mind = member_indent(cls)
        unit = indent_unit(data)
        rebuild = _rebuild_lines(cls, field_name, value_type, mind + unit, set())
        text = (
            f"{mind}constructor(ctx: DurableObjectState, env: {env_type(cls)}) {{\n"
            f"{mind}{unit}super(ctx, env);\n{rebuild}{mind}}}\n\n"
        )
        first = next((m for m in cls.body.named_children if m.type != "comment"), None)
        if first is None:
            raise Refused("empty class")
        # after the fields: the map must exist when the constructor body runs (it does after
        # super() either way; placing it after them reads naturally)
        members = [m for m in cls.body.named_children if m.type != "comment"]
        after = next((m for m in members if m.type != "public_field_definition"), None)
        if after is None:
            raise Refused("no member to place the constructor before")
        start = line_start(data, after.start_byte)
        # keep a comment block that documents the next member attached to it
        prev = after.prev_named_sibling
        while prev is not None and prev.type == "comment" and prev.end_byte >= start - 1:
            start = line_start(data, prev.start_byte)
            prev = prev.prev_named_sibling
        return Edit(path, start, start, text)
    body = ctor.child_by_field_name("body")
    if body is None:
        raise Refused("constructor without a body")
    statements = [c for c in body.named_children if c.type != "comment"]
    ctx = ctx_expression(cls)
    anchor = next((s for s in statements if node_text(data, s).startswith("super(")), None)
    if anchor is None:
        # legacy class: after the statement that stores the state object
        anchor = next(
            (s for s in statements if normalize_expr(node_text(data, s)).startswith(f"{ctx} =")),
            None,
        )
    if anchor is None:
        raise Refused("cannot tell where the constructor has its state")
    taken = identifiers_in(data, ctor)
    at = line_end(data, anchor.end_byte)
    return Edit(
        path,
        at,
        at,
        _rebuild_lines(cls, field_name, value_type, indent_at(data, anchor.start_byte), taken),
    )


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, MemoryState).cls
    if cls.body is None:
        return []
    data = cls.file.data
    field_name = str(finding.data["field"])
    try:
        kind, value_type = _collection_type(data, _field(cls, field_name))
        if kind not in _MAP_TYPES:
            raise Refused("a Set holds no value to attach")
        class_text = node_text(data, cls.node)
        if "serializeAttachment(" in class_text or "deserializeAttachment(" in class_text:
            raise Refused("the class already uses socket attachments")
        sets = _writes(cls, field_name)
        if not sets:
            raise Refused("nothing is stored")
        edits: list[Edit] = []
        for call in sets:
            edits.extend(_set_edits(cls, call, value_type))
        edits.append(_constructor_edit(cls, field_name, value_type))
    except Refused:
        return []
    return [
        Fix(
            fix_id="websocket-state-in-memory.attachment",
            title=f"Keep `{field_name}` values in socket attachments and rebuild it after a wake",
            safety=Safety.UNSAFE,
            edits=edits,
            review=(
                f"Each value stored in `{field_name}` is now also the socket's attachment: it "
                "must be structured-clonable (plain data: no functions, sockets or class "
                "instances with methods) and at most 16 KiB serialized (2 KiB before February "
                "2026), or `serializeAttachment()` throws. The constructor puts every open "
                "socket with a non-null attachment back into the map after a wake. Changes made "
                "to a stored object later (`map.get(ws).x = …`) are not in the attachment until "
                "`serializeAttachment()` is called again; a socket removed from the map while "
                "it stays open comes back after a wake unless you also call "
                "`ws.serializeAttachment(null)` there."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "per-socket state in attachments",
            UNSAFE,
            """
For a `Map`/`WeakMap` whose stored values have a clear shape (a variable, or an object literal of
plain data): `ws.serializeAttachment(value)` is written before each `this.map.set(ws, value)` (an
object literal that computes something is evaluated once into a `const` both get), and the
constructor, right after `super(…)`, puts every open socket with a non-null attachment back into
the map:

```ts
for (const ws of this.ctx.getWebSockets()) {
  const session = ws.deserializeAttachment() as Session | null;
  if (session !== null) {
    this.sessions.set(ws, session);
  }
}
```
""",
            why="""
Unsafe: the values now go through structured clone and a size limit.
""",
        ),
    ),
    review="""
The value must be structured-clonable and at most 16 KiB serialized (2 KiB before February 2026);
later changes to a stored object need another `serializeAttachment()`; a socket removed from the
map while it stays open comes back after a wake unless its attachment is cleared
(`ws.serializeAttachment(null)`).
""",
    not_offered="""
A `Set` (membership has no value: use tags, `acceptWebSocket(ws, [tag])` and
`getWebSockets(tag)`), values built by a call or holding functions or the socket, a field that is
reassigned, or a class that already uses attachments for something else (a socket has one
attachment; ours would overwrite it).
""",
    references=(
        REF_WEBSOCKETS + " (serializeAttachment ≤ 16 KiB, restored after a wake)",
        REF_LIFECYCLE + " (in-memory state is lost at hibernation)",
    ),
)


SPEC = FixSpec(
    "websocket-state-in-memory",
    build,
    tier=TIER_HIBERNATION,
    label="per-socket state in attachments",
    docs=FIX_DOCS,
)
