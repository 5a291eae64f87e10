"""Fix for sql-transaction-statement: `exec("BEGIN") … exec("COMMIT")` becomes
`<storage>.transactionSync(() => { … })`, only for the two clear shapes:

    sql.exec("BEGIN");                   sql.exec("BEGIN");
    a();                                 try {
    b();                                   a();
    sql.exec("COMMIT");                    sql.exec("COMMIT");
                                         } catch (e) {
                                           sql.exec("ROLLBACK");
                                           throw e;
                                         }

`transactionSync` commits when the callback returns and rolls back and rethrows when it throws,
so both shapes mean the same once wrapped. The callback must be synchronous.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_SQL
from durable_harden.analyzers.rules.sql_transaction_statement import TransactionState
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.codeactions._execedit import (
    CannotFix,
    own_descendants,
    shift_lines,
    storage_expr,
)
from durable_harden.codeactions._tsedit import indent_at, indent_unit, line_end, line_start
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, FixDocs, FixSpec, Offer

_BEGIN = re.compile(r"\s*BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?(\s+TRANSACTION)?\s*;?\s*", re.I)
_COMMIT = re.compile(r"\s*(COMMIT|END)(\s+TRANSACTION)?\s*;?\s*", re.I)
_ROLLBACK = re.compile(r"\s*ROLLBACK(\s+TRANSACTION)?\s*;?\s*", re.I)
_FORBIDDEN = (
    "await_expression",
    "yield_expression",
    "return_statement",
    "break_statement",
    "continue_statement",
)


def _exec_statements(model: ProjectModel, path: str) -> dict[int, SqlStatement]:
    """exec call start -> its only statement, for single-statement exec calls of the file."""
    found: dict[int, SqlStatement] = {}
    for stmt in model.statements:
        if (
            str(stmt.call_file.path) == path
            and not stmt.loose
            and not stmt.tagged
            and stmt.statements_in_call == 1
        ):
            found[stmt.call.start_byte] = stmt
    return found


def _control(node: Node | None, calls: dict[int, SqlStatement], pattern: re.Pattern[str]) -> bool:
    """`<sql>.exec("BEGIN");` as a whole expression statement."""
    if node is None or node.type != "expression_statement":
        return False
    expr = node.named_children[0] if node.named_children else None
    if expr is None or expr.type != "call_expression":
        return False
    stmt = calls.get(expr.start_byte)
    return stmt is not None and stmt.call == expr and pattern.fullmatch(stmt.text) is not None


def _same_line(data: bytes, a: int, b: int) -> bool:
    return b"\n" not in data[a:b]


def _code(children: list[Node]) -> list[Node]:
    return [c for c in children if c.type != "comment"]


def _check_body(body: list[Node], calls: dict[int, SqlStatement]) -> None:
    if not _code(body):
        raise CannotFix("nothing between BEGIN and COMMIT")
    for node in body:
        if own_descendants(node, *_FORBIDDEN) or node.type in _FORBIDDEN:
            raise CannotFix("await/return/break/continue/yield inside the transaction")
        if node.type == "variable_declaration" or own_descendants(node, "variable_declaration"):
            raise CannotFix("`var` declarations would change scope")
        for call in walk_type(node, "call_expression"):
            stmt = calls.get(call.start_byte)
            if stmt is not None and re.match(
                r"\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", stmt.text, re.I
            ):
                raise CannotFix("nested transaction control")


def _declared(data: bytes, body: list[Node]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if node.type in {"lexical_declaration", "class_declaration", "function_declaration"}:
            for ident in walk_type(node, "identifier", "shorthand_property_identifier_pattern"):
                parent = ident.parent
                if parent is not None and (
                    (
                        parent.type
                        in {"variable_declarator", "class_declaration", "function_declaration"}
                        and parent.child_by_field_name("name") == ident
                    )
                    or parent.type in {"object_pattern", "array_pattern", "pair_pattern"}
                ):
                    names.add(node_text(data, ident))
    return names


def _used_after(data: bytes, names: set[str], after: list[Node]) -> bool:
    for node in after:
        for ident in walk_type(node, "identifier", "shorthand_property_identifier"):
            if node_text(data, ident) in names:
                return True
    return False


def _alone_on_lines(data: bytes, node: Node) -> bool:
    """Nothing else on its lines but a trailing comment."""
    start, end = node.start_byte, node.end_byte
    after = data[end : line_end(data, end)].strip()
    return not data[line_start(data, start) : start].strip() and (
        not after or after.startswith((b"//", b"/*"))
    )


def _comments(data: bytes, block: Node, start: int, end: int) -> list[str]:
    """The comments in [start, end) of the lines the fix removes: they move, they are not lost."""
    return [node_text(data, c) for c in walk_type(block, "comment") if start <= c.start_byte < end]


def _plan(
    begin: Node, calls: dict[int, SqlStatement], data: bytes
) -> tuple[Node, Node, list[Node]]:
    """(first node replaced, last node replaced, statements going into the callback)."""
    block = begin.parent
    if block is None or block.type not in {"statement_block", "program"}:
        raise CannotFix("BEGIN is not a statement of a block")
    siblings = list(block.named_children)
    index = siblings.index(begin)
    rest = siblings[index + 1 :]
    while (
        rest and rest[0].type == "comment" and _same_line(data, begin.end_byte, rest[0].start_byte)
    ):
        rest = rest[1:]
    code = _code(rest)
    # shape 2: BEGIN; try { …; COMMIT } catch (e) { ROLLBACK; throw e; }
    if code and code[0].type == "try_statement":
        attempt = code[0]
        if rest[0] != attempt:
            raise CannotFix("comments between BEGIN and try")
        body = attempt.child_by_field_name("body")
        handler = attempt.child_by_field_name("handler")
        if body is None or handler is None or attempt.child_by_field_name("finalizer"):
            raise CannotFix("try without a plain catch")
        inner = list(body.named_children)
        inner_code = _code(inner)
        if not inner_code or not _control(inner_code[-1], calls, _COMMIT):
            raise CannotFix("try does not end with COMMIT")
        param = handler.child_by_field_name("parameter")
        handler_body = handler.child_by_field_name("body")
        if param is None or param.type != "identifier" or handler_body is None:
            raise CannotFix("catch without a named error")
        catch_code = _code(list(handler_body.named_children))
        if len(catch_code) != 2 or not _control(catch_code[0], calls, _ROLLBACK):
            raise CannotFix("catch does more than ROLLBACK and rethrow")
        thrown = catch_code[1]
        if thrown.type != "throw_statement" or normalize(node_text(data, thrown)) != normalize(
            f"throw {node_text(data, param)};"
        ):
            raise CannotFix("catch does not rethrow the error")
        commit = inner_code[-1]
        moved = inner[: inner.index(commit)]
        trailing = inner[inner.index(commit) + 1 :]
        if trailing:
            if _code(trailing):
                raise CannotFix("code after COMMIT")
        _check_body(moved, calls)
        if not _alone_on_lines(data, attempt):
            raise CannotFix("try shares its lines")
        return begin, attempt, moved
    # shape 1: BEGIN; …; COMMIT in the same block
    for position, node in enumerate(rest):
        if _control(node, calls, _COMMIT):
            moved = rest[:position]
            _check_body(moved, calls)
            after = rest[position + 1 :]
            if _used_after(data, _declared(data, moved), after):
                raise CannotFix("a declaration inside is used after COMMIT")
            if not _alone_on_lines(data, node):
                raise CannotFix("COMMIT shares its line")
            return begin, node, moved
        if node.type != "comment" and _control(node, calls, _ROLLBACK):
            raise CannotFix("ROLLBACK before COMMIT")
    raise CannotFix("no COMMIT in the same block")


def normalize(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _find_begin(stmt: SqlStatement, calls: dict[int, SqlStatement]) -> Node:
    holder = stmt.call.parent
    if holder is None:
        raise CannotFix("exec call without a statement")
    if _control(holder, calls, _BEGIN):
        return holder
    # COMMIT / END / ROLLBACK: the BEGIN before it in its block, or before the enclosing try
    candidates = [holder]
    block = holder.parent
    outer = block.parent if block is not None else None
    if outer is not None and outer.type == "catch_clause":
        outer = outer.parent
    if outer is not None and outer.type == "try_statement":
        candidates.append(outer)
    for node in candidates:
        previous = node.prev_named_sibling
        while previous is not None:
            if _control(previous, calls, _BEGIN):
                return previous
            previous = previous.prev_named_sibling
    raise CannotFix("no BEGIN found")


def build(finding: Finding, model: ProjectModel) -> Fix:
    stmt = state_of(finding, TransactionState).statement
    if stmt.statements_in_call != 1:
        raise CannotFix("transaction control inside a multi-statement string")
    calls = _exec_statements(model, str(stmt.file.path))
    file = stmt.call_file
    data = file.data
    begin = _find_begin(stmt, calls)
    begin_stmt = calls[begin.named_children[0].start_byte]
    first, last, moved = _plan(begin, calls, data)
    if not _alone_on_lines(data, first):
        raise CannotFix("BEGIN shares its line")
    storage = storage_expr(begin_stmt)
    unit = indent_unit(data)
    indent = indent_at(data, first.start_byte)
    body_start = line_start(data, moved[0].start_byte)
    body_end = line_end(data, moved[-1].end_byte)
    block = first.parent
    assert block is not None
    shift = "" if last.type == "try_statement" else unit
    inner = shift_lines(data, body_start, body_end, shift, block)
    if not inner.endswith("\n"):
        inner += "\n"
    start = line_start(data, first.start_byte)
    end = line_end(data, last.end_byte)
    head = _comments(data, block, first.end_byte, body_start)
    tail = _comments(data, block, body_end, end)
    inside = indent + unit
    opening = f"{indent}{storage}.transactionSync(() => {{"
    if len(head) == 1 and "\n" not in head[0]:
        opening += f" {head[0]}"
    else:
        tail = head + tail
    moved_comments = "".join(f"{inside}{c}\n" for c in tail)
    text = f"{opening}\n{inner}{moved_comments}{indent}}});\n"
    return Fix(
        fix_id="sql-transaction-statement.transaction-sync",
        title=f"Run the statements in `{storage}.transactionSync()`",
        safety=Safety.SAFE,
        edits=[Edit(file.path, start, end, text)],
        review=(
            "The statements between BEGIN and COMMIT now run in one storage transaction: it "
            "commits when the callback returns and rolls back (and rethrows) when it throws."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "transactionSync",
            SAFE,
            """
Only where the shape is clear: `exec("BEGIN")` and `exec("COMMIT")` (or `END`) as statements of
the same block, with synchronous statements between them (no `await`, `return`, `break`,
`continue` or `yield`, and no declaration used after the COMMIT): the two calls are removed and
the statements between are wrapped in `<storage>.transactionSync(() => { … })`. The same applies
to `BEGIN; try { …; COMMIT } catch (e) { ROLLBACK; throw e; }`, since `transactionSync` rolls
back and rethrows by itself.
""",
            why="""
Safe: `exec("BEGIN")` is refused by the runtime, so the original never ran as written; the wrapped
statements run in the same order with the all-or-nothing meaning the BEGIN/COMMIT pair stated.
""",
        ),
    ),
    not_offered="""
Anything else (a ROLLBACK on another path, savepoints, transaction control inside a
multi-statement string) is reported without a fix.
""",
    references=(REF_SQL + " (BEGIN/COMMIT are rejected; transactionSync)",),
)


SPEC = FixSpec("sql-transaction-statement", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
