"""Fixes for sql-pragma-not-allowed: database size reads become `sql.databaseSize`.

- `<sql>.exec("SELECT page_count * page_size AS size FROM pragma_page_count(),
  pragma_page_size()").one().size` -> `<sql>.databaseSize` (safe: the same number of bytes);
- `<sql>.exec("PRAGMA page_count").one().page_count` -> `<sql>.databaseSize /
  <sql>.exec("PRAGMA page_size").one().page_size` (unsafe: pages derived from bytes).
"""

from __future__ import annotations

import re
from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_SQL
from durable_harden.analyzers.rules._sqlexec import literal_is_inline
from durable_harden.analyzers.rules.sql_pragma_not_allowed import PragmaState
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.codeactions._execedit import CannotFix, exec_receiver
from durable_harden.codeactions._tsedit import line_end, statement_of
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer

_SIZE = re.compile(
    r"\s*SELECT\s+(?:page_count\s*\*\s*page_size|page_size\s*\*\s*page_count)\s+(?:AS\s+)?"
    r"[\"`]?(\w+)[\"`]?\s+FROM\s+(?:pragma_page_count\(\)\s*,\s*pragma_page_size\(\)|"
    r"pragma_page_size\(\)\s*,\s*pragma_page_count\(\))\s*;?\s*",
    re.I,
)

_PAGES = re.compile(r"\s*PRAGMA\s+page_count\s*;?\s*", re.I)


def _read_of(call: Node, data: bytes, column: str) -> Node:
    """`<call>.one().<column>` (also `<call>.one()["column"]`): the whole read expression."""
    member = call.parent
    if member is None or member.type != "member_expression":
        raise CannotFix("the cursor is not read with one()")
    prop = member.child_by_field_name("property")
    one_call = member.parent
    if prop is None or node_text(data, prop) != "one" or one_call is None:
        raise CannotFix("not .one()")
    if one_call.type != "call_expression":
        raise CannotFix("not .one()")
    read = one_call.parent
    if read is None:
        raise CannotFix("result not read")
    if read.type == "member_expression":
        field = read.child_by_field_name("property")
        if field is not None and node_text(data, field) == column:
            return read
    if read.type == "subscript_expression":
        index = read.child_by_field_name("index")
        if index is not None and node_text(data, index).strip("\"'`") == column:
            return read
    raise CannotFix("the column read is not the size")


def _replace(path: Path, data: bytes, read: Node, text: str) -> list[Edit]:
    """Replace the read; a comment inside it moves to the end of its statement."""
    comments = [node_text(data, c) for c in walk_type(read, "comment")]
    edits = [Edit(path, read.start_byte, read.end_byte, text)]
    if not comments:
        return edits
    if len(comments) > 1:
        raise CannotFix("several comments inside the read")
    holder = statement_of(read)
    if data[holder.end_byte : line_end(data, holder.end_byte)].strip():
        raise CannotFix("the statement's line already ends with something")
    edits.append(Edit(path, holder.end_byte, holder.end_byte, f" {comments[0]}"))
    return edits


def build(finding: Finding, model: ProjectModel) -> Fix:
    if finding.data.get("pragma") != "page_count" or "statement" not in finding.data:
        raise CannotFix("only PRAGMA page_count has a fix")
    stmt = state_of(finding, PragmaState).statement
    if stmt.tagged or stmt.statements_in_call != 1 or not literal_is_inline(stmt):
        raise CannotFix("not a single-statement exec written in the call")
    data = stmt.call_file.data
    receiver = exec_receiver(stmt.call)
    if receiver is None or receiver.type not in {"identifier", "member_expression"}:
        raise CannotFix("receiver is not a plain name")
    sql = node_text(data, receiver)
    size = _SIZE.fullmatch(stmt.text)
    if size is not None:
        read = _read_of(stmt.call, data, size.group(1))
        return Fix(
            fix_id="sql-pragma-not-allowed.database-size",
            title=f"Read `{sql}.databaseSize`",
            safety=Safety.SAFE,
            edits=_replace(stmt.call_file.path, data, read, f"{sql}.databaseSize"),
            review="databaseSize is the database size in bytes, what the query computed.",
        )
    if _PAGES.fullmatch(stmt.text) is not None:
        read = _read_of(stmt.call, data, "page_count")
        quote = node_text(data, stmt.literal)[0]
        page_size = (
            f"{sql}.exec<{{ page_size: number }}>({quote}PRAGMA page_size{quote}).one().page_size"
        )
        text = f"{sql}.databaseSize / {page_size}"
        parent = read.parent
        if parent is not None and parent.type not in {
            "variable_declarator",
            "arguments",
            "pair",
            "return_statement",
            "parenthesized_expression",
            "assignment_expression",
        }:
            text = f"({text})"
        return Fix(
            fix_id="sql-pragma-not-allowed.page-count",
            title=f"Derive the page count from `{sql}.databaseSize`",
            safety=Safety.UNSAFE,
            edits=_replace(stmt.call_file.path, data, read, text),
            review=(
                "databaseSize is in bytes; dividing by PRAGMA page_size (allowed) gives pages. "
                "If the page count was only used to estimate size, use databaseSize directly."
            ),
        )
    raise CannotFix("not a size read")


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "sql.databaseSize",
            SAFE,
            """
For the usual size read `exec("SELECT page_count * page_size AS size FROM pragma_page_count(),
pragma_page_size()").one().size`: it becomes `sql.databaseSize` (bytes, the same product).
""",
            why="""
Safe: the same number, and the PRAGMA form is refused at run time.
""",
        ),
        Offer(
            "pages from databaseSize",
            UNSAFE,
            """
For `exec("PRAGMA page_count").one().page_count` (a number of pages):
`sql.databaseSize / sql.exec("PRAGMA page_size").one().page_size`.
""",
            why="""
Unsafe: it assumes `databaseSize` is pages × page size.
""",
        ),
    ),
    review="""
Where a page count is compared, the divided size still means the same.
""",
    not_offered="""
`user_version` has no automatic fix: keep applied schema steps in a migrations table run in the
constructor's `blockConcurrencyWhile` (the unbounded-table-growth fix writes one: `SQL_MIGRATIONS`
and `runSqlMigrations()` recording steps in `_sql_schema_migrations`).
""",
    references=(REF_SQL + " (ctx.storage.sql.databaseSize)",),
)


SPEC = FixSpec("sql-pragma-not-allowed", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
