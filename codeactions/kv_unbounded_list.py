"""Fix for kv-unbounded-list (safe), for one shape only:

    for (const k of keys) {
      const v = await storage.get<T>(k);
      …
    }

becomes

    for (let batchStart = 0; batchStart < keys.length; batchStart += 128) {
      const batchKeys = keys.slice(batchStart, batchStart + 128);
      const batchValues = await storage.get<T>(batchKeys);
      for (const k of batchKeys) {
        const v = batchValues.get(k);
        …
      }
    }

Only when `keys` is known to be an array (an annotated parameter, or a `const` holding an array
literal / `.map(…)` / `Object.keys(…)` …), the `get` is the loop's first statement, and the rest
of the body awaits nothing and calls nothing that could write storage (no `this.…()` call, no
storage method): then every read returns what it returned before, in the same order.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIMITS
from durable_harden.analyzers.rules._kv import BATCH_LIMIT, kv_call
from durable_harden.analyzers.rules.kv_unbounded_list import KvListState
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, call_args, node_text, walk_type
from durable_harden.codeactions._execedit import CannotFix, own_descendants, shift_lines
from durable_harden.codeactions._tsedit import (
    identifiers_in,
    indent_at,
    indent_unit,
    line_end,
    line_start,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, FixDocs, FixSpec, Offer

_ARRAY_TYPE = re.compile(r"^(?:readonly\s+)?(?:\w+\[\]|Array<\w+>|ReadonlyArray<\w+>)$")
_ARRAY_VALUE = re.compile(
    r"^(?:\[|Object\.keys\(|Array\.from\(|Array\.of\(|[\w.]+\.(?:map|filter|slice|concat|split)\()"
)


def _function_of(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        parent = parent.parent
    return parent


def _is_array(data: bytes, ident: Node) -> bool:
    name = node_text(data, ident)
    func = _function_of(ident)
    if func is None:
        return False
    params = func.child_by_field_name("parameters")
    if params is not None:
        for param in params.named_children:
            pattern = param.child_by_field_name("pattern")
            if pattern is not None and node_text(data, pattern) == name:
                annotation = param.child_by_field_name("type")
                if annotation is None:
                    return False
                return bool(_ARRAY_TYPE.match(node_text(data, annotation).lstrip(":").strip()))
    for declarator in walk_type(func, "variable_declarator"):
        if declarator.start_byte > ident.start_byte:
            break
        target = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if target is None or value is None or node_text(data, target) != name:
            continue
        declaration = declarator.parent
        if declaration is None or not node_text(data, declaration).startswith("const"):
            return False
        annotation = declarator.child_by_field_name("type")
        if annotation is not None:
            return bool(_ARRAY_TYPE.match(node_text(data, annotation).lstrip(":").strip()))
        return bool(_ARRAY_VALUE.match(node_text(data, value)))
    return False


def _free(taken: set[str], base: str) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def build(finding: Finding, model: ProjectModel) -> Fix:
    if finding.data.get("kind") != "get-in-loop":
        raise CannotFix("only a get() in a loop has a fix")
    state = state_of(finding, KvListState)
    cls, kv = state.cls, state.get
    if kv is None:
        raise CannotFix("no get() call")
    data = cls.file.data
    path = cls.file.path
    loop = kv.statement_expr.parent
    # `const v = await get(k)` as the loop's first statement
    declarator = loop
    if declarator is None or declarator.type != "variable_declarator":
        raise CannotFix("the get() result is not declared")
    declaration = declarator.parent
    body = declaration.parent if declaration is not None else None
    loop = body.parent if body is not None else None
    if (
        declaration is None
        or declaration.type != "lexical_declaration"
        or len([c for c in declaration.named_children if c.type != "comment"]) != 1
        or body is None
        or body.type != "statement_block"
        or loop is None
        or loop.type != "for_in_statement"
        or loop.child_by_field_name("body") != body
    ):
        raise CannotFix("not the simple for…of shape")
    first = next((c for c in body.named_children if c.type != "comment"), None)
    if first != declaration:
        raise CannotFix("the get() is not the loop's first statement")
    left = loop.child_by_field_name("left")
    right = loop.child_by_field_name("right")
    kinds = {c.type for c in loop.children}
    if left is None or left.type != "identifier" or right is None or right.type != "identifier":
        raise CannotFix("loop over something other than a named array")
    if "of" not in kinds or "const" not in kinds or "await" in kinds:
        raise CannotFix("not `for (const k of keys)`")
    args = call_args(kv.call)
    if len(args) != 1 or node_text(data, args[0]) != node_text(data, left):
        raise CannotFix("get() of something other than the loop variable")
    if not _is_array(data, right):
        raise CannotFix("the keys are not known to be an array")
    # the rest of the body: no other await, nothing that could write storage
    awaits = [
        a
        for a in own_descendants(body, "await_expression")
        if not (
            kv.statement_expr.start_byte <= a.start_byte
            and a.end_byte <= kv.statement_expr.end_byte
        )
    ]
    if awaits or own_descendants(body, "yield_expression"):
        raise CannotFix("the body awaits: storage may change between the reads")
    for call in walk_type(body, "call_expression"):
        if call == kv.call:
            continue
        func = call.child_by_field_name("function")
        callee = node_text(data, func) if func is not None else ""
        arg_text = " ".join(node_text(data, a) for a in call_args(call))
        if (
            callee.startswith(("this.", "await "))
            or kv_call(cls, data, call) is not None
            or re.search(r"\b(?:this|storage|ctx)\b", arg_text)
            or re.search(r"\.(?:put|delete|deleteAll|exec|transaction\w*|setAlarm)$", callee)
        ):
            raise CannotFix("the body may write storage")
    # layout: `for (…) {` ends its line, `}` alone on its line
    head_end = body.start_byte + 1
    if (
        data[head_end : line_end(data, head_end)].strip()
        or data[line_start(data, loop.start_byte) : loop.start_byte].strip()
    ):
        raise CannotFix("unusual layout")
    close = body.end_byte - 1
    if data[line_start(data, close) : close].strip():
        raise CannotFix("the closing brace shares its line")
    get_text = node_text(data, kv.statement_expr)
    if "\n" in get_text:
        raise CannotFix("multi-line get()")
    func_node = kv.call.child_by_field_name("function")
    arguments = kv.call.child_by_field_name("arguments")
    assert func_node is not None and arguments is not None
    member = func_node.named_children[0] if func_node.type == "await_expression" else func_node
    storage = member.child_by_field_name("object")
    assert storage is not None
    type_args = data[func_node.end_byte : arguments.start_byte].decode()

    scope = _function_of(loop) or cls.node
    taken = identifiers_in(data, scope)
    start, keys_var, values = (
        _free(taken, "batchStart"),
        _free(taken, "batchKeys"),
        _free(taken, "batchValues"),
    )
    keys = node_text(data, right)
    key = node_text(data, left)
    indent = indent_at(data, loop.start_byte)
    unit = indent_unit(data)
    inner = shift_lines(data, line_end(data, head_end), line_start(data, close), unit, scope)
    replaced = f"{values}.get({key})"
    if inner.count(get_text) < 1:
        raise CannotFix("get() text not found after re-indenting")
    inner = inner.replace(get_text, replaced, 1)
    text = (
        f"{indent}for (let {start} = 0; {start} < {keys}.length; {start} += {BATCH_LIMIT}) {{\n"
        f"{indent}{unit}// get() takes up to {BATCH_LIMIT} keys: one storage call per batch\n"
        f"{indent}{unit}const {keys_var} = {keys}.slice({start}, {start} + {BATCH_LIMIT});\n"
        f"{indent}{unit}const {values} = await {node_text(data, storage)}.get{type_args}({keys_var});\n"
        f"{indent}{unit}for (const {key} of {keys_var}) {{\n"
        f"{inner}"
        f"{indent}{unit}}}\n"
        f"{indent}}}"
    )
    return Fix(
        fix_id="kv-unbounded-list.batch-get",
        title=f"Read {keys} in batches of {BATCH_LIMIT} with one get() each",
        safety=Safety.SAFE,
        edits=[Edit(path, line_start(data, loop.start_byte), body.end_byte, text)],
        review=(
            f"`{key}` now comes from a Map fetched per batch of {BATCH_LIMIT} keys; the loop "
            "body is unchanged. A `break` in it now leaves the rest of a batch read for nothing."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "batched get",
            SAFE,
            """
For the simple loop only: `for (const k of keys) { const v = await storage.get(k); … }` over a
known array whose body writes nothing to storage and awaits nothing else becomes a loop over
128-key batches, each fetched with one `get([...])`, with the original body unchanged inside
(`v` now comes from the batch's Map).
""",
            why="""
Safe: reads are the same values in the same order; no write can happen between them.
""",
        ),
    ),
    not_offered="""
`list()` and oversized batches are reported only: the bound to choose (a `prefix`, a `limit` and
paging with `start`) depends on the key design.
""",
    references=(REF_LIMITS + " (get/put/delete take at most 128 keys)",),
)


SPEC = FixSpec("kv-unbounded-list", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
