"""Fix for obsolete-name-workaround: read `this.ctx.id.name` instead of being told the name.

- setter (`init(name)` storing into storage or a field): the method and its call statements go;
  reads of what it stored (`await storage.get("name")`, `this.owner`) become `this.ctx.id.name`;
- identifier parameter: removed from the method and from every call; the body starts with
  `const <param> = this.ctx.id.name!;` so the rest of it is unchanged.
RpcTarget wrappers are reported only: unwinding one changes the API its callers use.
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._bindings import stub_calls
from durable_harden.analyzers.rules._common import REF_CHANGELOG
from durable_harden.analyzers.rules.obsolete_name_workaround import NameState
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    call_args,
    node_text,
    normalize_expr,
    string_value,
    walk_type,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import name_case
from durable_harden.codeactions.spec import UNSAFE, FixDocs, FixSpec, Offer

REVIEW = (
    "Check that no caller outside this project (another Worker, a script) reaches the namespace "
    "with newUniqueId()/idFromString(): for those objects `this.ctx.id.name` is undefined."
)


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _after_line(data: bytes, pos: int) -> int:
    end = data.find(b"\n", pos)
    return len(data) if end == -1 else end + 1


def _remove_lines(file: SourceFile, node: Node, with_comments: bool) -> Edit | None:
    """Remove the whole lines a statement or member stands on (and its leading comments)."""
    data = file.data
    start = _line_start(data, node.start_byte)
    if data[start : node.start_byte].strip():
        return None  # shares its line with other code
    end = _after_line(data, node.end_byte)
    if data[node.end_byte : end].strip() not in {b"", b";"} and not data[
        node.end_byte : end
    ].strip().startswith(b"//"):
        return None
    if with_comments:
        prev = node.prev_sibling
        while (
            prev is not None
            and prev.type == "comment"
            and _line_start(data, prev.start_byte) < start
        ):
            if data[_line_start(data, prev.start_byte) : prev.start_byte].strip():
                break
            start = _line_start(data, prev.start_byte)
            prev = prev.prev_sibling
    # keep one blank line, not two
    before_blank = start >= 2 and data[_line_start(data, start - 1) : start].strip() == b""
    after = _after_line(data, end) if end < len(data) else end
    if before_blank and end < len(data) and data[end:after].strip() == b"":
        end = after
    return Edit(file.path, start, end, "")


def _call_statement(call: Node) -> Node | None:
    node = call
    while node.parent is not None and node.parent.type in {
        "await_expression",
        "parenthesized_expression",
    }:
        node = node.parent
    parent = node.parent
    return parent if parent is not None and parent.type == "expression_statement" else None


def _list_item_removal(file: SourceFile, items: list[Node], index: int) -> Edit:
    data = file.data
    item = items[index]
    if index + 1 < len(items):
        return Edit(file.path, item.start_byte, items[index + 1].start_byte, "")
    if index > 0:
        return Edit(file.path, items[index - 1].end_byte, item.end_byte, "")
    end = item.end_byte
    rest = data[end:].lstrip()
    if rest.startswith(b","):
        end = len(data) - len(rest) + 1
    return Edit(file.path, item.start_byte, end, "")


def _setter_fix(model: ProjectModel, cls: DurableObjectClass, finding: Finding) -> list[Fix]:
    method = str(finding.data["method"])
    param = str(finding.data["param"])
    func = cls.methods.get(method)
    if func is None:
        return []
    data = cls.file.data
    edits: list[Edit] = []
    removal = _remove_lines(cls.file, func, with_comments=True)
    if removal is None:
        return []
    edits.append(removal)
    # what the setter stored: storage keys and fields
    keys: set[str] = set()
    fields: set[str] = set()
    for call in walk_type(func, "call_expression"):
        callee = call.child_by_field_name("function")
        if callee is None:
            continue
        callee_text = node_text(data, callee).split("<", 1)[0].removeprefix("await ")
        receiver, _, name = normalize_expr(callee_text).rpartition(".")
        args = call_args(call)
        if name == "put" and receiver in cls.aliases.storage and args:
            key = string_value(data, args[0])
            if key is not None:
                keys.add(key)
    for assign in walk_type(func, "assignment_expression"):
        left, right = assign.child_by_field_name("left"), assign.child_by_field_name("right")
        if (
            left is not None
            and right is not None
            and normalize_expr(node_text(data, right)) == param
        ):
            fields.add(normalize_expr(node_text(data, left)))
    replacement = f"{ctx_expression(cls)}.id.name"
    for call in walk_type(cls.node, "call_expression"):
        if func.start_byte <= call.start_byte < func.end_byte:
            continue
        callee = call.child_by_field_name("function")
        if callee is None:
            continue
        # tree-sitter reads `await storage.get<T>(k)` as a call of `await storage.get`
        callee_text = node_text(data, callee).split("<", 1)[0]
        awaited_inside = callee_text.startswith("await ")
        receiver, _, name = normalize_expr(callee_text.removeprefix("await ")).rpartition(".")
        args = call_args(call)
        if name == "get" and receiver in cls.aliases.storage and len(args) == 1:
            if string_value(data, args[0]) in keys:
                target = (
                    call.parent
                    if not awaited_inside
                    and call.parent is not None
                    and call.parent.type == "await_expression"
                    else call
                )
                edits.append(Edit(cls.file.path, target.start_byte, target.end_byte, replacement))
    for member in walk_type(cls.node, "member_expression"):
        if func.start_byte <= member.start_byte < func.end_byte:
            continue
        if normalize_expr(node_text(data, member)) in fields:
            parent = member.parent
            if (
                parent is not None
                and parent.type == "assignment_expression"
                and parent.child_by_field_name("left") == member
            ):
                return []  # written elsewhere too: not only the name
            edits.append(Edit(cls.file.path, member.start_byte, member.end_byte, replacement))
    for stub in stub_calls(model, cls):
        if stub.method != method:
            continue
        statement = _call_statement(stub.call)
        if statement is None:
            return []  # its result is used: a human must decide
        removal = _remove_lines(stub.file, statement, with_comments=False)
        if removal is None:
            return []
        edits.append(removal)
    return [
        Fix(
            fix_id="obsolete-name-workaround.use-id-name",
            title=f"Read `{replacement}` instead of calling `{method}()`",
            safety=Safety.UNSAFE,
            edits=edits,
            review=REVIEW
            + f" Reads of the stored name now use `{replacement}`; objects created before keep "
            "the stored copy, which is no longer read.",
        )
    ]


def _parameter_fix(model: ProjectModel, cls: DurableObjectClass, finding: Finding) -> list[Fix]:
    method = str(finding.data["method"])
    param = str(finding.data["param"])
    index = int(finding.data["index"])
    func = cls.methods.get(method)
    if func is None:
        return []
    data = cls.file.data
    # called from inside the class too: those calls would need the name passed differently
    for call in walk_type(cls.node, "call_expression"):
        callee = call.child_by_field_name("function")
        if callee is not None and normalize_expr(node_text(data, callee)) == f"this.{method}":
            return []
    params_node = func.child_by_field_name("parameters")
    body = func.child_by_field_name("body")
    if params_node is None or body is None or body.type != "statement_block":
        return []
    params = [
        p
        for p in params_node.named_children
        if p.type in {"required_parameter", "optional_parameter"}
    ]
    edits = [_list_item_removal(cls.file, params, index)]
    first = next((s for s in body.named_children if s.type != "comment"), None)
    bang = "" if cls.file.path.suffix in {".js", ".mjs", ".cjs", ".jsx"} else "!"
    declaration = f"const {param} = {ctx_expression(cls)}.id.name{bang};"
    if first is not None and b"\n" in data[body.start_byte : first.start_byte]:
        indent = data[_line_start(data, first.start_byte) : first.start_byte].decode()
        at = _line_start(data, first.start_byte)
        edits.append(Edit(cls.file.path, at, at, f"{indent}{declaration}\n"))
    else:
        edits.append(
            Edit(cls.file.path, body.start_byte + 1, body.start_byte + 1, f" {declaration}")
        )
    for stub in stub_calls(model, cls):
        if stub.method != method:
            continue
        if len(stub.args) <= index:
            return []
        edits.append(_list_item_removal(stub.file, stub.args, index))
    return [
        Fix(
            fix_id="obsolete-name-workaround.drop-parameter",
            title=f"Drop parameter `{param}` of `{method}()`; read `{ctx_expression(cls)}.id.name`",
            safety=Safety.UNSAFE,
            edits=edits,
            review=REVIEW + " The method's signature changes: callers in other Workers break.",
        )
    ]


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, NameState).cls
    kind = finding.data.get("kind")
    if kind == "setter":
        return _setter_fix(model, cls, finding)
    if kind == "parameter":
        return _parameter_fix(model, cls, finding)
    return []


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "ctx.id.name instead of a name workaround",
            UNSAFE,
            """
Reads of the stored name become `this.ctx.id.name`, and the `init()` call sites and method (or
the identifier parameter) go away.
""",
            why="""
Unsafe: code that sets the name is removed, and callers elsewhere may still rely on it.
""",
        ),
    ),
    review="""
No other caller, in another Worker or a script, still reaches the namespace with
`newUniqueId()`/`idFromString()`, and objects created before the change do not need the stored
value.
""",
    references=(REF_CHANGELOG + " (2026-03-15: ctx.id.name is populated inside the object)",),
)


SPEC = FixSpec(
    "obsolete-name-workaround",
    build,
    label="ctx.id.name instead of a name workaround",
    test_case=name_case,
    docs=FIX_DOCS,
)
