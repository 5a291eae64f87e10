"""Fix for serialize-attachment-misuse (unsafe).

- `ws.serializeAttachment()` with no value, in a function that has an id at hand (a parameter or
  local named `id` or `…Id` declared before the call): attach `{ <id> }`.
- `const id = ws.serializeAttachment({ id: <expr>, … })` (the void result kept as the id, the
  object literal holding the real one): `const id = <expr>;` and
  `ws.serializeAttachment({ id, … })`.

In both, when the same function accepted the socket with `ctx.acceptWebSocket(ws)` (no tags yet)
and the id is plainly a string (a `string` parameter, `crypto.randomUUID()`, a string literal or
template, `x ?? "literal"`, `String(x)`), the id also becomes the socket's tag, so that code can
find the socket with `ctx.getWebSockets(id)` after a wake; the id's declaration moves before the
accept when it has to (only when what it reads is already declared there).

Anything else (the result compared, returned, negated; no id in scope; several candidate ids) is
reported only: what the code meant is a design decision.
"""

from __future__ import annotations

import re
from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_STATE, REF_WEBSOCKETS
from durable_harden.analyzers.rules.serialize_attachment_misuse import AttachmentState
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    enclosing,
    node_text,
    normalize_expr,
    walk,
    walk_type,
)
from durable_harden.codeactions._tsedit import indent_at, line_start
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer

_ID_NAME = re.compile(r"^(id|[a-z][A-Za-z0-9]*Id)$")
_STRING_CALLS = {"crypto.randomUUID()"}


def _receiver(data: bytes, call: Node) -> Node:
    func = call.child_by_field_name("function")
    obj = func.child_by_field_name("object") if func is not None else None
    if obj is None:
        raise LookupError("unexpected call shape")
    return obj


def _declarations(data: bytes, func: Node, before: int) -> dict[str, Node]:
    """Parameters and `const`/`let` names of `func` declared before offset `before` (the
    declarator or parameter node), nested functions excluded."""
    found: dict[str, Node] = {}
    params = func.child_by_field_name("parameters")
    if params is not None:
        for param in params.named_children:
            pattern = param.child_by_field_name("pattern")
            if pattern is not None and pattern.type == "identifier":
                found[node_text(data, pattern)] = param
    for decl in walk_type(func, "variable_declarator"):
        if decl.end_byte > before or enclosing(decl, *FUNCTION_TYPES) != func:
            continue
        name = decl.child_by_field_name("name")
        if name is not None and name.type == "identifier":
            found[node_text(data, name)] = decl
    return found


def _stringy_expr(data: bytes, value: Node | None) -> bool:
    if value is None:
        return False
    if value.type in {"string", "template_string"}:
        return True
    text = normalize_expr(node_text(data, value))
    if text in _STRING_CALLS or (value.type == "call_expression" and text.startswith("String(")):
        return True
    if value.type == "binary_expression":
        op = value.child_by_field_name("operator")
        right = value.child_by_field_name("right")
        if op is not None and node_text(data, op) == "??" and right is not None:
            return right.type in {"string", "template_string"}
    return False


def _stringy_decl(data: bytes, decl: Node) -> bool:
    if decl.type in {"required_parameter", "optional_parameter"}:
        ann = decl.child_by_field_name("type")
        return ann is not None and node_text(data, ann).lstrip(":").strip() == "string"
    if decl.type == "variable_declarator":
        ann = decl.child_by_field_name("type")
        if ann is not None:
            return node_text(data, ann).lstrip(":").strip() == "string"
        return _stringy_expr(data, decl.child_by_field_name("value"))
    return False


def _untagged_accept(cls: DurableObjectClass, func: Node, socket: str, before: int) -> Node | None:
    """`<ctx>.acceptWebSocket(<socket>)` with no tags in `func`, before offset `before`."""
    data = cls.file.data
    for call in walk_type(func, "call_expression"):
        if call.start_byte >= before or enclosing(call, *FUNCTION_TYPES) != func:
            continue
        callee = call.child_by_field_name("function")
        if callee is None or callee.type != "member_expression":
            continue
        obj, prop = callee.child_by_field_name("object"), callee.child_by_field_name("property")
        if obj is None or prop is None or node_text(data, prop) != "acceptWebSocket":
            continue
        if normalize_expr(node_text(data, obj)) not in cls.aliases.ctx:
            continue
        args = call_args(call)
        if len(args) == 1 and normalize_expr(node_text(data, args[0])) == socket:
            return call
    return None


def _add_tag(path: Path, data: bytes, accept: Node, tag: str) -> Edit:
    args = call_args(accept)
    end = args[-1].end_byte
    return Edit(path, end, end, f", [{tag}]")


def _no_value_fix(cls: DurableObjectClass, call: Node) -> list[Edit]:
    data = cls.file.data
    path = cls.file.path
    func = enclosing(call, *FUNCTION_TYPES)
    if func is None:
        return []
    decls = _declarations(data, func, call.start_byte)
    ids = [n for n in decls if _ID_NAME.match(n)]
    name = "id" if "id" in ids else (ids[0] if len(ids) == 1 else None)
    if name is None:
        return []
    arguments = call.child_by_field_name("arguments")
    if arguments is None:
        return []
    edits = [Edit(path, arguments.start_byte, arguments.end_byte, f"({{ {name} }})")]
    socket = normalize_expr(node_text(data, _receiver(data, call)))
    accept = _untagged_accept(cls, func, socket, call.start_byte)
    decl = decls[name]
    if accept is not None and _stringy_decl(data, decl) and decl.end_byte <= accept.start_byte:
        edits.append(_add_tag(path, data, accept, name))
    return edits


def _result_as_id_fix(cls: DurableObjectClass, call: Node) -> list[Edit]:
    data = cls.file.data
    path = cls.file.path
    declarator = call.parent
    if declarator is None or declarator.type != "variable_declarator":
        return []
    if declarator.child_by_field_name("value") != call:
        return []
    name_node = declarator.child_by_field_name("name")
    declaration = declarator.parent
    if name_node is None or name_node.type != "identifier" or declaration is None:
        return []
    if declaration.type != "lexical_declaration" or len(declaration.named_children) != 1:
        return []
    block = declaration.parent
    if block is None or block.type != "statement_block":
        return []
    name = node_text(data, name_node)
    args = call_args(call)
    if len(args) != 1:
        return []
    literal = args[0]  # the object literal, possibly `{…} satisfies T` / `({…})`
    while literal.type in {"satisfies_expression", "as_expression", "parenthesized_expression"}:
        literal = literal.named_children[0]
    if literal.type != "object":
        return []
    pairs = [p for p in literal.named_children if p.type == "pair"]

    def key_of(pair: Node) -> str:
        key = pair.child_by_field_name("key")
        return node_text(data, key).strip("\"'") if key is not None else ""

    chosen = next((p for p in pairs if key_of(p) == name), None) or next(
        (p for p in pairs if key_of(p) == "id"), None
    )
    if chosen is None:
        return []
    value = chosen.child_by_field_name("value")
    if value is None:
        return []
    key = key_of(chosen)
    prop = name if key == name else f"{key}: {name}"
    obj = args[0]
    new_obj = (
        node_text(data, obj)[: chosen.start_byte - obj.start_byte]
        + prop
        + node_text(data, obj)[chosen.end_byte - obj.start_byte :]
    )
    receiver = node_text(data, _receiver(data, call))
    keyword = node_text(data, declaration.children[0])
    ann = declarator.child_by_field_name("type")
    ann_text = node_text(data, ann) if ann is not None else ""
    id_stmt = f"{keyword} {name}{ann_text} = {node_text(data, value)};"
    attach_stmt = f"{receiver}.serializeAttachment({new_obj});"
    func = enclosing(call, *FUNCTION_TYPES)
    accept = (
        _untagged_accept(cls, func, normalize_expr(receiver), call.start_byte)
        if func is not None
        else None
    )
    accept_stmt = accept.parent if accept is not None else None
    if (
        func is not None
        and accept is not None
        and accept_stmt is not None
        and accept_stmt.type == "expression_statement"
        and accept_stmt.parent == block
        and _stringy_expr(data, value)
        and not _reads_declared_between(data, func, value, accept_stmt.start_byte, call)
    ):
        own_line = not data[
            line_start(data, accept_stmt.start_byte) : accept_stmt.start_byte
        ].strip()
        if own_line:
            at = line_start(data, accept_stmt.start_byte)
            indent = indent_at(data, accept_stmt.start_byte)
            return [
                Edit(path, at, at, f"{indent}{id_stmt}\n"),
                _add_tag(path, data, accept, name),
                Edit(path, declaration.start_byte, declaration.end_byte, attach_stmt),
            ]
    indent = indent_at(data, declaration.start_byte)
    return [
        Edit(
            path,
            declaration.start_byte,
            declaration.end_byte,
            f"{id_stmt}\n{indent}{attach_stmt}",
        )
    ]


def _reads_declared_between(data: bytes, func: Node, value: Node, start: int, end: Node) -> bool:
    """Whether `value` reads a name declared in `func` between offset `start` and node `end`."""
    late = {
        n
        for n, decl in _declarations(data, func, end.start_byte).items()
        if decl.start_byte >= start
    }
    return any(
        node_text(data, ident) in late for ident in walk(value) if ident.type == "identifier"
    )


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    state = state_of(finding, AttachmentState)
    cls, call = state.cls, state.call
    kind = finding.data.get("kind")
    if kind == "no-value":
        edits = _no_value_fix(cls, call)
        title = "Attach the socket's id (and tag the socket with it)"
    elif kind == "result-used":
        edits = _result_as_id_fix(cls, call)
        title = "Keep the id in a variable and attach it; serializeAttachment() returns nothing"
    else:
        return []
    if not edits:
        return []
    tagged = any(e.new_text.startswith(", [") for e in edits)
    if not tagged:
        title = title.replace(" (and tag the socket with it)", "")
    return [
        Fix(
            fix_id=f"serialize-attachment-misuse.{kind}",
            title=title,
            safety=Safety.UNSAFE,
            edits=edits,
            review=(
                "The socket's attachment now carries its id; read it back with "
                "`ws.deserializeAttachment()` (it replaces any earlier attachment, must be "
                "structured-clonable and at most 16 KiB)."
                + (
                    " The id is also the socket's tag: find the socket with "
                    "`this.ctx.getWebSockets(id)`, which works after a wake, instead of an "
                    "in-memory map (a tag is a string of at most 256 characters, at most 10 per "
                    "socket)."
                    if tagged
                    else " Look sockets up by that id through their attachments (or tag them "
                    "with `acceptWebSocket(ws, [id])` and use `getWebSockets(id)`), not through "
                    "an in-memory map, which is empty after a wake."
                )
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "attach the id in scope",
            UNSAFE,
            """
`ws.serializeAttachment()` in a function with one id at hand (a parameter or local named `id` or
`…Id`, declared before the call; `id` wins over others) → `ws.serializeAttachment({ userId })`.
""",
            why="""
Unsafe: the attached value is inferred from the names in scope.
""",
        ),
        Offer(
            "keep the id, attach it",
            UNSAFE,
            """
`const id = ws.serializeAttachment({ id: crypto.randomUUID(), name })` (the void result kept as
the id while the object holds the real one, under the variable's name or `id`) →
`const id = crypto.randomUUID();` and `ws.serializeAttachment({ id, name })`.

In both, when the same function accepted the socket with `ctx.acceptWebSocket(ws)` and no tags,
and the id is plainly a string (a `string` parameter, `crypto.randomUUID()`, a string literal or
template, `x ?? "literal"`, `String(x)`), the id also becomes the socket's tag
(`acceptWebSocket(ws, [id])`; moved before the accept when what it reads is declared there) so
that `ctx.getWebSockets(id)` finds the socket after a wake (at most 10 tags per socket, each at
most 256 characters).
""",
            why="""
Unsafe: code that used the `undefined` result now sees the id.
""",
        ),
    ),
    review="""
The attached and tagged id is the one the code means.
""",
    not_offered="""
No id in scope, several candidate ids, the result returned, compared or tested. Attach a value
that carries the id, read it back with `deserializeAttachment()`, and address sockets with tags.
""",
    references=(
        REF_WEBSOCKETS + " (serializeAttachment returns void; ≤ 16 KiB)",
        REF_STATE + " (≤ 10 tags per socket, each ≤ 256 characters)",
    ),
)


SPEC = FixSpec("serialize-attachment-misuse", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
