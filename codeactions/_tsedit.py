"""Small text-editing helpers over TypeScript source that keep the user's style: indentation
unit, quotes, whole-line removal. Byte offsets in, Edits out."""

from __future__ import annotations

from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.rules._common import places_of
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, walk, walk_type
from durable_harden.codeactions._style import Style
from durable_harden.codeactions.fix import Edit


def line_start(data: bytes, offset: int) -> int:
    return data.rfind(b"\n", 0, offset) + 1


def line_end(data: bytes, offset: int) -> int:
    """Offset just after the newline ending the line that holds offset (or end of data)."""
    end = data.find(b"\n", offset)
    return len(data) if end == -1 else end + 1


def indent_at(data: bytes, offset: int) -> str:
    start = line_start(data, offset)
    line = data[start:offset].decode("utf-8", errors="replace")
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_unit(data: bytes) -> str:
    """The file's indentation step (`Style.indent`)."""
    return Style.of(data).indent


def quote_char(data: bytes) -> str:
    """The quote the file prefers for strings (`Style.quote`)."""
    return Style.of(data).quote


def reindent(text: str, indent: str) -> str:
    """Strip the common leading indentation of text's lines and put `indent` in front of each
    non-empty line."""
    lines = text.split("\n")
    widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    common = min(widths) if widths else 0
    return "\n".join((indent + line[common:]) if line.strip() else "" for line in lines)


def statement_of(node: Node) -> Node:
    """The statement that holds an expression (itself when it is one)."""
    current = node
    while current.parent is not None and not current.type.endswith(("statement", "declaration")):
        current = current.parent
    return current


def remove_statement(path: Path, data: bytes, stmt: Node) -> Edit:
    """Delete a statement; whole lines when it is alone on them (comments after it go too only
    when they are on its last line)."""
    start, end = stmt.start_byte, stmt.end_byte
    ls = line_start(data, start)
    le = line_end(data, end)
    before = data[ls:start].strip()
    after = data[end:le].strip()
    if not before and (not after or after.startswith(b"//")):
        return Edit(path, ls, le, "")
    return Edit(path, start, end, "")


def member_indent(cls: DurableObjectClass) -> str:
    data = cls.file.data
    body = cls.body
    if body is not None:
        for member in body.named_children:
            if member.type != "comment":
                return indent_at(data, member.start_byte)
    return indent_at(data, cls.node.start_byte) + indent_unit(data)


def append_member(cls: DurableObjectClass, text: str) -> Edit:
    """Insert a class member (already indented, no trailing newline) before the class's `}`,
    separated from the previous member by a blank line."""
    data = cls.file.data
    body = cls.body
    assert body is not None
    close = body.end_byte - 1
    start = line_start(data, close)
    if data[start:close].strip():
        # `}` shares its line with code: put the member on new lines before it
        return Edit(cls.file.path, close, close, "\n" + text + "\n" + indent_at(data, close))
    return Edit(cls.file.path, start, start, "\n" + text + "\n")


def insert_into_body_start(path: Path, data: bytes, block: Node, text: str) -> Edit:
    """Insert already-indented lines at the start of a statement block."""
    brace = block.start_byte + 1
    return Edit(path, brace, brace, "\n" + text.rstrip("\n"))


def insert_before_statement(path: Path, data: bytes, stmt: Node, text: str) -> Edit:
    """Insert lines (already indented, ending in newline) before the line of stmt."""
    start = line_start(data, stmt.start_byte)
    return Edit(path, start, start, text)


def body_indent(data: bytes, block: Node) -> str:
    """Indentation of the statements inside a statement_block."""
    for child in block.named_children:
        if child.type != "comment":
            return indent_at(data, child.start_byte)
    return indent_at(data, block.start_byte) + indent_unit(data)


def identifiers_in(data: bytes, node: Node) -> set[str]:
    return {
        node_text(data, n)
        for n in nodes_within(data, node, "identifier", "shorthand_property_identifier")
    }


# a node under this share of its file, or under this size, is walked on its own (`nodes_within`)
_OWN_WALK_SHARE = 8
_OWN_WALK_BYTES = 16384


def nodes_within(data: bytes, node: Node, *types: str) -> list[Node]:
    """The nodes of these types in `node`'s subtree, in pre-order, as `walk_type` gives them
    (but a zero-width node on the node's edge outside its subtree, which only error recovery
    makes). A node small beside its file or small at all (a method, not a class) is walked on
    its own: a fix asks for types the file's index does not hold (identifiers, `for` loops), and
    `walk_type` then queries the whole file for each (every identifier of it captured) after
    compiling a query per type, 2-4 ms each the first time in a process (issue 14)."""
    size = node.end_byte - node.start_byte
    if size > _OWN_WALK_BYTES and size * _OWN_WALK_SHARE > len(data):
        return list(walk_type(node, *types))
    wanted = frozenset(types)
    return [n for n in walk(node) if n.type in wanted]


def member_expressions_named(file: SourceFile, scope: Node, prop: str) -> list[Node]:
    """The `member_expression`s of `scope` (itself included) whose property is `prop`, in
    pre-order, as `walk_type(scope, "member_expression")` filtered on the property gives them.
    Found from the places of the word in the file (`places_of`), each by one descent from the
    scope: a member expression holds its property's first byte, so it lies on that path (no
    query over the whole file for every member expression of it, after compiling one)."""
    word = prop.encode()
    if not word:
        return []
    start, end = scope.start_byte, scope.end_byte
    found: dict[int, Node] = {}
    cursor = scope.walk()
    for at in places_of(file, word).between(start, end - len(word)):
        stop = at + len(word)
        cursor.reset(scope)
        node: Node | None = scope
        while node is not None:
            if node.start_byte > at or node.end_byte < stop:
                break
            if node.type == "member_expression":
                name = node.child_by_field_name("property")
                if name is not None and name.start_byte == at and name.end_byte == stop:
                    found[node.id] = node
            node = cursor.node if cursor.goto_first_child_for_byte(at) is not None else None
    return sorted(found.values(), key=lambda n: (n.start_byte, -n.end_byte))


def method_params(data: bytes, method: Node) -> list[str]:
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


def is_async(data: bytes, func: Node) -> bool:
    return any(child.type == "async" for child in func.children)


def env_type(cls: DurableObjectClass) -> str:
    """The `Env` type argument of the class's `extends DurableObject<Env>`, for constructors a
    fix writes. Without one, `any`: `DurableObject`'s default `Env` is `Cloudflare.Env` in
    current @cloudflare/workers-types (`unknown` is not assignable to it: TS2345 at `super(ctx,
    env)`) and `unknown` in older ones (where `Cloudflare` does not exist); `any` type-checks
    with both, and `ConstructorParameters<typeof DurableObject>[1]` is `unknown` (the class's
    type parameters are erased to their constraints)."""
    data = cls.file.data
    for clause in walk_type(cls.node, "extends_clause"):
        args = clause.child_by_field_name("type_arguments")
        if args is not None and args.named_children:
            return node_text(data, args.named_children[0])
        return "any"
    return "unknown"
