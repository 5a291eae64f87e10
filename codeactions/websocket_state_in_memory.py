"""Fix for websocket-state-in-memory (unsafe): keep per-socket state where hibernation cannot
lose it, and rebuild the collection from the open sockets in the constructor (which runs again on
every wake). This module is the one place that carries socket-keyed collections; the
websocket-not-hibernatable fix calls `carry_fields()` when it makes a class hibernate.

- a `Map`/`WeakMap` keyed by socket: beside each `this.<map>.set(ws, value)`,
  `ws.serializeAttachment(value)` (before it, so a value the runtime refuses throws before the
  map and the attachment disagree); the constructor puts every open socket with a non-null
  attachment back into the map. Every other use of the map (`get`, `delete`, iteration, `size`,
  handing the map to other code) stays as it is and stays correct: the map is whole again
  before any handler runs.
- a `Set`/`WeakSet` of sockets: the constructor adds every open socket
  (`ctx.getWebSockets()`), offered only when that is the set's meaning: every `add` puts in a
  socket accepted with `acceptWebSocket` in the same block, and every socket the class accepts
  that way is added.

Offered only when the stored value's shape is clear: a variable, or an object literal of plain
data (no functions, not the socket itself). An object literal that computes something (calls,
`new`, `await`) is evaluated once into a `const` that both the map and the attachment get.
Refused when the class already uses attachments (one attachment per socket: writing ours would
overwrite theirs), when the field is reassigned or cleared, when a `set` is not a statement of
its own inside a block, and when code changes a stored value in place (`map.get(ws).x = …`:
the attachment would keep the old value).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
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


def _calls_on(cls: DurableObjectClass, field_name: str) -> dict[str, list[Node]]:
    """`this.<field>.<method>(…)` calls by method; refuses a reassigned field."""
    data = cls.file.data
    target = f"this.{field_name}"
    calls: dict[str, list[Node]] = {}
    for node in walk(cls.node):
        if node.type in {"assignment_expression", "augmented_assignment_expression"}:
            left = node.child_by_field_name("left")
            if left is not None and normalize_expr(node_text(data, left)) == target:
                raise Refused(f"`{target}` is reassigned")
        if node.type != "call_expression":
            continue
        func = node.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        obj = func.child_by_field_name("object")
        prop = func.child_by_field_name("property")
        if obj is not None and prop is not None and normalize_expr(node_text(data, obj)) == target:
            calls.setdefault(node_text(data, prop), []).append(node)
    return calls


_MUTATORS = frozenset(
    {
        "push",
        "pop",
        "shift",
        "unshift",
        "splice",
        "sort",
        "reverse",
        "fill",
        "set",
        "add",
        "delete",
        "clear",
        "copyWithin",
    }
)


def _root_of(data: bytes, node: Node) -> Node:
    """`a.b[c].d` -> `a` (through non-null assertions and parentheses)."""
    while True:
        if node.type in {"member_expression", "subscript_expression"}:
            inner = node.child_by_field_name("object")
        elif node.type in {"non_null_expression", "parenthesized_expression"}:
            inner = node.named_children[0] if node.named_children else None
        else:
            return node
        if inner is None:
            return node
        node = inner


def _changed_in_place(cls: DurableObjectClass, field_name: str, gets: list[Node]) -> Node | None:
    """Where code changes a value read out of the map without storing it again (`map.get(ws).x
    = …`, `const s = map.get(ws); s.n++`, `s.list.push(…)`): the attachment keeps the old value.
    None when nothing does."""
    data = cls.file.data

    def is_get(node: Node) -> bool:
        return any(g.start_byte == node.start_byte and g.end_byte == node.end_byte for g in gets)

    holders: dict[Node, set[str]] = {}  # function -> variables bound to a stored value
    for get in gets:
        parent = get.parent
        while parent is not None and parent.type in {
            "non_null_expression",
            "as_expression",
            "parenthesized_expression",
        }:
            parent = parent.parent
        if parent is not None and parent.type == "variable_declarator":
            name = parent.child_by_field_name("name")
            scope = enclosing(get, *FUNCTION_TYPES)
            if name is not None and name.type == "identifier" and scope is not None:
                holders.setdefault(scope, set()).add(node_text(data, name))

    # values bound by iterating the map: `for (const [ws, v] of this.map)`, `.values()`,
    # `.entries()`, `this.map.forEach((v) => …)`
    target_text = f"this.{field_name}"
    for loop in walk(cls.node):
        if loop.type == "for_in_statement":
            right = loop.child_by_field_name("right")
            left = loop.child_by_field_name("left")
            if right is None or left is None:
                continue
            source = normalize_expr(node_text(data, right))
            if source not in {target_text, f"{target_text}.values()", f"{target_text}.entries()"}:
                continue
            bound = left
            if left.type == "array_pattern":
                values = [c for c in left.named_children if c.type != "comment"]
                if source.endswith(".values()") or len(values) < 2:
                    continue
                bound = values[1]
            if bound.type == "identifier":
                holders.setdefault(loop, set()).add(node_text(data, bound))
        elif loop.type == "call_expression":
            func = loop.child_by_field_name("function")
            if func is None or normalize_expr(node_text(data, func)) != f"{target_text}.forEach":
                continue
            args = call_args(loop)
            if not args or args[0].type not in FUNCTION_TYPES:
                continue
            params = args[0].child_by_field_name("parameters")
            single = args[0].child_by_field_name("parameter")
            first = single or next(
                (c for c in (params.named_children if params else []) if c.type != "comment"), None
            )
            if first is not None:
                ident = first.child_by_field_name("pattern") or first
                if ident.type == "identifier":
                    holders.setdefault(args[0], set()).add(node_text(data, ident))

    def holder_names(node: Node) -> set[str]:
        names: set[str] = set()
        parent = node.parent
        while parent is not None:
            names |= holders.get(parent, set())
            parent = parent.parent
        return names

    def stored(target: Node) -> bool:
        root = _root_of(data, target)
        if root is target:
            return False  # a plain variable rebound, not the value changed
        if root.type == "call_expression" and is_get(root):
            return True
        if root.type == "identifier":
            return node_text(data, root) in holder_names(target)
        return False

    for node in walk(cls.node):
        if node.type in {"assignment_expression", "augmented_assignment_expression"}:
            left = node.child_by_field_name("left")
            if left is not None and stored(left):
                return node
        elif node.type == "update_expression":
            arg = node.child_by_field_name("argument")
            if arg is not None and stored(arg):
                return node
        elif node.type == "call_expression":
            func = node.child_by_field_name("function")
            prop = func.child_by_field_name("property") if func is not None else None
            obj = func.child_by_field_name("object") if func is not None else None
            if (
                prop is not None
                and obj is not None
                and node_text(data, prop) in _MUTATORS
                and obj.type in {"member_expression", "subscript_expression"}
                and stored(obj)
            ):
                return node
    return None


def _set_edits(
    cls: DurableObjectClass, call: Node, value_type: str | None, wrap: str | None = None
) -> list[Edit]:
    """`key.serializeAttachment(value)` before `this.<map>.set(key, value)`. With `wrap` (the
    text of an object literal with a `{value}` hole), the attachment is that object."""
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

    def attachment(text: str) -> str:
        return wrap.replace("{value}", text) if wrap is not None else text

    if pure:
        text = f"{lead}{key_text}.serializeAttachment({attachment(node_text(data, value))});{sep}"
        return [Edit(path, at, at, text)]
    func = enclosing(call, *FUNCTION_TYPES)
    taken = identifiers_in(data, func if func is not None else cls.node)
    name = _var_name(value_type, taken)
    annotation = f": {value_type}" if value_type else ""
    text = (
        f"{lead}const {name}{annotation} = {node_text(data, value)};{sep}"
        f"{lead}{key_text}.serializeAttachment({attachment(name)});{sep}"
    )
    return [Edit(path, at, at, text), Edit(path, value.start_byte, value.end_byte, name)]


@frozen
class Rebuild:
    """What the constructor puts back for one field."""

    field: str
    kind: str  # Map | WeakMap | Set | WeakSet
    value_type: str | None = None
    key: str | None = None  # the map's value is this property of the attachment (merged)


def _rebuild_lines(
    cls: DurableObjectClass, rebuilds: Sequence[Rebuild], indent: str, taken: set[str]
) -> str:
    unit = indent_unit(cls.file.data)
    typed = cls.file.path.suffix in {".ts", ".tsx", ".mts", ".cts"}
    socket = "ws" if "ws" not in taken else "socket"
    lines: list[str] = []
    for rebuild in rebuilds:
        this_field = f"this.{rebuild.field}"
        if rebuild.kind in _SET_TYPES:
            lines += [
                "// Sockets outlive hibernation, this set does not: rebuild it from the open sockets.",
                f"for (const {socket} of {ctx_expression(cls)}.getWebSockets()) {{",
                f"{unit}{this_field}.add({socket});",
                "}",
            ]
            continue
        value_type = rebuild.value_type if typed else None
        lines.append(
            "// Sockets outlive hibernation, this map does not: rebuild it from their attachments."
        )
        lines.append(f"for (const {socket} of {ctx_expression(cls)}.getWebSockets()) {{")
        if rebuild.key is None:
            var = _var_name(rebuild.value_type, taken | {socket})
            cast = f" as {value_type} | null" if value_type else ""
            lines += [
                f"{unit}const {var} = {socket}.deserializeAttachment(){cast};",
                f"{unit}if ({var} !== null) {{",
                f"{unit}{unit}{this_field}.set({socket}, {var});",
                f"{unit}}}",
            ]
        else:
            var = _var_name(None, taken | {socket})
            member = f"{var}?.{rebuild.key}"
            cast = ""
            if typed:
                cast = f" as {{ {rebuild.key}?: {value_type or 'unknown'} }} | null"
            lines += [
                f"{unit}const {var} = {socket}.deserializeAttachment(){cast};",
                f"{unit}if ({member} !== undefined) {{",
                f"{unit}{unit}{this_field}.set({socket}, {var}.{rebuild.key});",
                f"{unit}}}",
            ]
        lines.append("}")
    return "".join(f"{indent}{line}\n" for line in lines)


def _constructor_edit(cls: DurableObjectClass, rebuilds: Sequence[Rebuild]) -> Edit:
    data = cls.file.data
    path = cls.file.path
    ctor = cls.constructor
    if ctor is None:
        if cls.reason not in {"extends", "subclass", "library"} or cls.body is None:
            raise Refused("no constructor to rebuild the map in")
        mind = member_indent(cls)
        unit = indent_unit(data)
        rebuild = _rebuild_lines(cls, rebuilds, mind + unit, set())
        typed = path.suffix in {".ts", ".tsx", ".mts", ".cts"}
        params = f"ctx: DurableObjectState, env: {env_type(cls)}" if typed else "ctx, env"
        text = (
            f"{mind}constructor({params}) {{\n{mind}{unit}super(ctx, env);\n{rebuild}{mind}}}\n\n"
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
        if data[line_start(data, max(start - 1, 0)) : start].strip():
            text = "\n" + text  # the line before is code: keep a blank line after it
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
        _rebuild_lines(cls, rebuilds, indent_at(data, anchor.start_byte), taken),
    )


@frozen
class Accepted:
    """A socket the class hibernates: the statement accepting it (`ctx.acceptWebSocket(ws)`, or
    the `ws.accept()` the websocket-not-hibernatable fix turns into one) and its names there."""

    statement: Node
    names: frozenset[str]


@frozen
class Merge:
    """The websocket-not-hibernatable fix also carries what its listeners closed over: the
    attachment becomes `{ <names>, <field>: value }`, written once where the value is stored.
    That `set` must be the only one, a statement of `block`, after every `declarations`."""

    names: tuple[str, ...]
    block: Node
    declarations: tuple[Node, ...]


@dataclass
class Carry:
    """What moving a socket's in-memory state into its attachment needs to edit."""

    edits: list[Edit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # review sentences
    merged: bool = False  # the closure names went into a map's attachment
    # `set` calls inside listeners another fix moves: that fix writes their attachment
    in_moved: list[Node] = field(default_factory=list)


def _hibernated_accepts(cls: DurableObjectClass) -> list[Accepted]:
    data = cls.file.data
    found: list[Accepted] = []
    for call in walk(cls.node):
        if call.type != "call_expression":
            continue
        func = call.child_by_field_name("function")
        prop = func.child_by_field_name("property") if func is not None else None
        if prop is None or node_text(data, prop) != "acceptWebSocket":
            continue
        args = call_args(call)
        if not args:
            continue
        stmt = call.parent
        if stmt is None or stmt.type != "expression_statement":
            raise Refused("`acceptWebSocket` is part of a larger expression")
        found.append(Accepted(stmt, frozenset({normalize_expr(node_text(data, args[0]))})))
    return found


def _inside(node: Node, ranges: Sequence[Node]) -> bool:
    return any(r.start_byte <= node.start_byte < r.end_byte for r in ranges)


_CLOSING_HANDLERS = {"webSocketClose", "webSocketError"}


def _delete_notes(
    cls: DurableObjectClass, field_name: str, deletes: list[Node], closing: Sequence[Node]
) -> list[str]:
    """A socket taken out of the collection while it stays open is back after a wake: name the
    places that delete outside a close/error handler (or listener)."""
    data = cls.file.data
    places: list[str] = []
    for call in deletes:
        if _inside(call, closing):
            continue
        method = enclosing(call, "method_definition")
        name = method.child_by_field_name("name") if method is not None else None
        method_name = node_text(data, name) if name is not None else None
        if method_name in _CLOSING_HANDLERS:
            continue
        where = f"`{method_name}()`" if method_name else "the class"
        places.append(f"{where} (line {call.start_point[0] + 1})")
    if not places:
        return []
    return [
        f"`this.{field_name}.delete()` runs in {', '.join(sorted(set(places)))}, not only when a "
        "socket closes: if the socket stays open there, the rebuild puts it back after a wake "
        "(check that it is closing, or clear its attachment/close it there)."
    ]


def carry_fields(
    cls: DurableObjectClass,
    fields: Sequence[str],
    *,
    accepted: Sequence[Accepted] | None = None,
    merge: Merge | None = None,
    moved: Sequence[Node] = (),
    closing: Sequence[Node] = (),
) -> Carry:
    """Edits that keep each socket-keyed collection in `fields` across hibernation (see the
    module docstring). `accepted`: every socket the class hibernates once the edits apply
    (default: its `acceptWebSocket` calls). `moved`: listener functions another fix moves
    (no edit may land in them). `closing`: close/error listener functions (a `delete` there
    runs as the socket closes). Raises Refused when a collection cannot be carried."""
    data = cls.file.data
    class_text = node_text(data, cls.node)
    carry = Carry()
    rebuilds: list[Rebuild] = []
    attached = 0
    for field_name in fields:
        kind, value_type = _collection_type(data, _field(cls, field_name))
        calls = _calls_on(cls, field_name)
        if calls.get("clear"):
            raise Refused(f"`this.{field_name}.clear()` empties it while sockets stay open")
        if kind in _MAP_TYPES:
            if "serializeAttachment(" in class_text or "deserializeAttachment(" in class_text:
                raise Refused("the class already uses socket attachments")
            sets = calls.get("set", [])
            if not sets:
                raise Refused("nothing is stored")
            in_moved = [c for c in sets if _inside(c, moved)]
            if in_moved and merge is not None:
                raise Refused(
                    f"a value is stored into `{field_name}` inside a listener that also closes "
                    "over values of the accepting method"
                )
            for call in in_moved:
                args = call_args(call)
                stmt = call.parent
                if (
                    len(args) != 2
                    or stmt is None
                    or stmt.type != "expression_statement"
                    or stmt.parent is None
                    or stmt.parent.type != "statement_block"
                ):
                    raise Refused(f"`this.{field_name}.set` in a listener in an unexpected shape")
                if not _check_value(data, args[1], normalize_expr(node_text(data, args[0]))):
                    raise Refused(f"a value stored into `{field_name}` in a listener computes")
            carry.in_moved.extend(in_moved)
            sets = [c for c in sets if c not in in_moved]
            changed = _changed_in_place(cls, field_name, calls.get("get", []))
            if changed is not None:
                raise Refused(
                    f"a value of `{field_name}` is changed in place (`{node_text(data, changed)}`)"
                )
            attached += 1
            if attached > 1:
                raise Refused("two maps would share the socket's one attachment")
            wrap = None
            key = None
            if merge is not None:
                if len(sets) != 1:
                    raise Refused(f"`{field_name}` is stored in several places")
                stmt = sets[0].parent
                if stmt is None or stmt.parent is None or stmt.parent != merge.block:
                    raise Refused(f"`{field_name}` is stored away from the accepting code")
                if any(d.end_byte > stmt.start_byte for d in merge.declarations):
                    raise Refused(f"a carried value is declared after `{field_name}` is stored")
                key = field_name
                if key in merge.names:
                    raise Refused(f"`{key}` is both a carried value and a field name")
                wrap = "{ " + ", ".join([*merge.names, f"{key}: {{value}}"]) + " }"
                carry.merged = True
            for call in sets:
                carry.edits.extend(_set_edits(cls, call, value_type, wrap))
            if merge is not None and not sets:
                raise Refused(f"`{field_name}` is not stored by the accepting code")
            rebuilds.append(Rebuild(field_name, kind, value_type, key))
            also = (
                " (with " + ", ".join(f"`{n}`" for n in merge.names) + ")"
                if merge is not None
                else ""
            )
            carry.notes.append(
                f"Each value stored in `{field_name}` is now also the socket's attachment{also}, "
                f"and the constructor rebuilds `{field_name}` from the open sockets' attachments: "
                "it must be structured-clonable (plain data: no functions, sockets or class "
                "instances with methods) and at most 16 KiB serialized (2 KiB before February "
                "2026), or `serializeAttachment()` throws."
            )
        else:
            adds = calls.get("add", [])
            if not adds:
                raise Refused("nothing is added")
            hibernated = list(accepted) if accepted is not None else _hibernated_accepts(cls)
            if not hibernated:
                raise Refused("no socket is accepted with `acceptWebSocket`")
            add_blocks: list[tuple[Node, str]] = []
            for call in adds:
                args = call_args(call)
                stmt = call.parent
                if (
                    len(args) != 1
                    or stmt is None
                    or stmt.type != "expression_statement"
                    or stmt.parent is None
                ):
                    raise Refused(f"`this.{field_name}.add` in an unexpected shape")
                add_blocks.append((stmt.parent, normalize_expr(node_text(data, args[0]))))
            # the set holds exactly the hibernated sockets: each accepted one is added in the
            # same block, and nothing else is added
            for acc in hibernated:
                if not any(b == acc.statement.parent and n in acc.names for b, n in add_blocks):
                    raise Refused(
                        f"a socket accepted with `acceptWebSocket` is not added to `{field_name}`"
                    )
            for block, name in add_blocks:
                if not any(block == a.statement.parent and name in a.names for a in hibernated):
                    raise Refused(f"`{field_name}` also holds sockets not accepted beside it")
            rebuilds.append(Rebuild(field_name, kind))
            carry.notes.append(
                f"The constructor adds every open hibernatable socket to `{field_name}` (every "
                "socket the class accepts with `acceptWebSocket` is added to it beside the accept)."
            )
        carry.notes.extend(_delete_notes(cls, field_name, calls.get("delete", []), closing))
    if rebuilds:
        carry.edits.append(_constructor_edit(cls, rebuilds))
    return carry


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, MemoryState).cls
    if cls.body is None:
        return []
    field_name = str(finding.data["field"])
    try:
        carry = carry_fields(cls, [field_name])
    except Refused:
        return []
    kind, _ = _collection_type(cls.file.data, _field(cls, field_name))
    if kind in _SET_TYPES:
        title = f"Rebuild `{field_name}` from `getWebSockets()` after a wake"
    else:
        title = f"Keep `{field_name}` values in socket attachments and rebuild it after a wake"
    return [
        Fix(
            fix_id="websocket-state-in-memory.attachment",
            title=title,
            safety=Safety.UNSAFE,
            edits=carry.edits,
            review=" ".join(carry.notes),
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

For a `Set`/`WeakSet` that holds every socket the class hibernates (each `acceptWebSocket(ws)` has
`this.set.add(ws)` in the same block, and nothing else is added), the constructor refills it from
`ctx.getWebSockets()`. A constructor is added when there is none (`env` typed as the class's
`DurableObject<Env>` argument, or `any` without one: `DurableObject`'s default `Env` differs
between @cloudflare/workers-types versions). The collection's other uses (`get`, `delete`,
iteration, `size`) are left as written and stay correct: it is whole again before any handler
runs. The same edits (`carry_fields`) are part of the websocket-not-hibernatable fix when it makes
a class hibernate, so this finding does not appear after that fix.
""",
            why="""
Unsafe: the values now go through structured clone and a size limit, and come back from
attachments after a wake.
""",
        ),
    ),
    review="""
The value must be structured-clonable and at most 16 KiB serialized (2 KiB before February 2026).
Where the review note names a `delete` outside `webSocketClose`/`webSocketError`, check that the
socket is closing there: an open socket taken out of the collection is put back after a wake.
""",
    not_offered="""
Values built by a call or holding functions or the socket; a stored value changed in place
(`map.get(ws).x = …`, `s.list.push(…)`, or through `for (const [ws, s] of map)`, `.values()`,
`forEach`: the attachment would keep the old value); a `Set` filled on a condition or with sockets
accepted elsewhere (use tags, `acceptWebSocket(ws, [tag])` and `getWebSockets(tag)`); a field that
is reassigned or cleared; a class that already uses attachments for something else (a socket has
one attachment; ours would overwrite it).
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
