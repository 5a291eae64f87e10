"""Editing `sql.exec(…)` calls: the storage object behind a receiver, the arguments bound to
the parameters, and re-indenting statements without touching multi-line template literals.
Byte offsets in, Edits out."""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    node_text,
    normalize_expr,
    walk_type,
)
from durable_harden.codeactions._tsedit import indent_at, line_end, line_start
from durable_harden.codeactions.fix import CannotFix, Edit


def exec_receiver(call: Node) -> Node | None:
    func = call.child_by_field_name("function")
    if func is None or func.type != "member_expression":
        return None
    return func.child_by_field_name("object")


def storage_expr(stmt: SqlStatement) -> str:
    """Source text reaching the object's storage (`this.ctx.storage`, `ctx.storage`, …) for
    `transactionSync`, from the exec receiver when it spells it, else from the class."""
    data = stmt.call_file.data
    receiver = exec_receiver(stmt.call)
    cls = stmt.cls
    if receiver is not None and receiver.type == "member_expression":
        prop = receiver.child_by_field_name("property")
        obj = receiver.child_by_field_name("object")
        if prop is not None and obj is not None and node_text(data, prop) == "sql":
            spelled = normalize_expr(node_text(data, obj))
            if spelled.endswith(".storage") or (cls is not None and spelled in cls.aliases.storage):
                return node_text(data, obj)
    if cls is None:
        raise CannotFix("no Durable Object class to reach storage through")
    return class_storage(cls)


def class_storage(cls: DurableObjectClass) -> str:
    storages = sorted(s for s in cls.aliases.storage if s.startswith("this."))
    if "this.ctx.storage" in storages:
        return "this.ctx.storage"
    if storages:
        return storages[0]
    raise CannotFix("no `this.…` path to the object's storage")


def exec_receiver_text(stmt: SqlStatement) -> str:
    receiver = exec_receiver(stmt.call)
    if receiver is None:
        raise CannotFix("not a method call")
    return node_text(stmt.call_file.data, receiver)


def own_descendants(scope: Node, *types: str) -> list[Node]:
    """Descendants of the given types that are not inside a nested function."""
    found = []
    for node in walk_type(scope, *types):
        parent = node.parent
        nested = False
        while parent is not None and parent != scope:
            if parent.type in FUNCTION_TYPES:
                nested = True
                break
            parent = parent.parent
        if not nested and not (node.type in FUNCTION_TYPES and node == scope):
            found.append(node)
    return found


def template_interiors(data: bytes, start: int, end: int, scope: Node) -> list[tuple[int, int]]:
    """(start, end) of multi-line template literals in [start, end): lines starting strictly
    inside them are part of a string and must not be re-indented."""
    spans = []
    for node in walk_type(scope, "template_string"):
        if (
            node.start_byte >= start
            and node.end_byte <= end
            and b"\n" in data[node.start_byte : node.end_byte]
        ):
            spans.append((node.start_byte, node.end_byte))
    return spans


def shift_lines(data: bytes, start: int, end: int, unit: str, scope: Node) -> str:
    """The text of whole lines [start, end) with `unit` added in front of each non-blank line
    that does not start inside a multi-line template literal."""
    inside = template_interiors(data, start, end, scope)
    out: list[str] = []
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        stop = end if nl == -1 else nl + 1
        line = data[pos:stop].decode("utf-8", errors="replace")
        in_template = any(a < pos < b for a, b in inside)
        if line.strip() and not in_template:
            out.append(unit + line)
        else:
            out.append(line)
        pos = stop
    return "".join(out)


def insert_args(stmt: SqlStatement, inserts: list[tuple[int, str]]) -> list[Edit]:
    """Insert new arguments into the exec call: (position among the current bindings, text).
    Position len(bindings) appends. Keeps a one-argument-per-line layout when the call has it."""
    data = stmt.call_file.data
    path = stmt.call_file.path
    args = call_args(stmt.call)
    if not args:
        raise CannotFix("exec() without arguments")
    bindings = args[1:]
    last = args[-1]
    multiline = indent_at(data, last.start_byte) == data[
        line_start(data, last.start_byte) : last.start_byte
    ].decode("utf-8", errors="replace") and (
        len(args) > 1 or b"\n" in data[stmt.call.start_byte : args[0].start_byte]
    )
    by_position: dict[int, list[str]] = {}
    for position, text in inserts:
        by_position.setdefault(position, []).append(text)
    edits: list[Edit] = []
    for position, texts in sorted(by_position.items()):
        if position < len(bindings):
            target = bindings[position]
            if multiline:
                indent = indent_at(data, target.start_byte)
                new = "".join(f"{t},\n{indent}" for t in texts)
            else:
                new = "".join(f"{t}, " for t in texts)
            edits.append(Edit(path, target.start_byte, target.start_byte, new))
        else:
            rest = data[last.end_byte : line_end(data, last.end_byte)]
            if multiline and rest.lstrip(b" \t").startswith(b","):
                # `last,  // comment`: new lines after it, each with its trailing comma
                indent = indent_at(data, last.start_byte)
                at = line_end(data, last.end_byte)
                edits.append(Edit(path, at, at, "".join(f"{indent}{t},\n" for t in texts)))
                continue
            if multiline:
                indent = indent_at(data, last.start_byte)
                new = "".join(f",\n{indent}{t}" for t in texts)
            else:
                new = "".join(f", {t}" for t in texts)
            edits.append(Edit(path, last.end_byte, last.end_byte, new))
    return edits
