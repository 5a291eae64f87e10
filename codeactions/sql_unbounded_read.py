"""Fix for sql-unbounded-read: a LIMIT on the query.

- a loaded result (`toArray()`, iteration, spread, `Array.from`, Agents SDK `this.sql`):
  ` LIMIT ?` appended to the statement, bound to `<TABLE>_READ_LIMIT` (declared once at the top
  of the file, after the imports, and documented there); in a tagged template `LIMIT ${…}`;
- `.one()`: ` LIMIT 1`.

Unsafe: callers that need every row must page, and `one()` then returns one of several rows
instead of throwing.
"""

from __future__ import annotations

import re

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._sqlexec import literal_is_inline, params_of
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.codeactions._execedit import CannotFix, insert_args
from durable_harden.codeactions._sqledit import find_statement
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import TIER_CORRECTNESS, FixSpec

READ_LIMIT = 1000


def after_imports(data: bytes) -> int:
    """Offset of the line after the last top-level import (0 when there is none)."""
    offset = 0
    for match in re.finditer(rb"^import\b[^;]*;[ \t]*(?://[^\n]*)?\n", data, re.M):
        offset = match.end()
    return offset


def _statement_end(stmt: SqlStatement) -> int:
    """Byte offset just after the statement's last non-space, non-`;` character."""
    end = len(stmt.text)
    while end > 0 and (stmt.text[end - 1].isspace() or stmt.text[end - 1] == ";"):
        end -= 1
    # a trailing `-- comment` would swallow what we append
    last_line = stmt.text[:end].rsplit("\n", 1)[-1]
    if "--" in last_line:
        raise CannotFix("the statement ends in a line comment")
    if end == 0:
        raise CannotFix("empty statement")
    return stmt.span(0, end).end


def _const_name(table: str) -> str:
    return re.sub(r"\W", "_", table).upper() + "_READ_LIMIT"


def _constant_edit(stmt: SqlStatement, name: str, table: str) -> Edit | None:
    data = stmt.call_file.data
    if re.search(rf"\b(?:const|let|var)\s+{name}\b".encode(), data):
        return None
    at = after_imports(data)
    text = (
        f"// At most this many rows of `{table}` are read at once: the table grows without a\n"
        "// bound and the object has 128 MB of memory. Callers needing more must page, e.g.\n"
        "// `WHERE id > ? ORDER BY id LIMIT ?` with the last id of the previous page.\n"
        f"const {name} = {READ_LIMIT};\n"
    )
    if at > 0:
        text = "\n" + text
        if data[at : at + 1] not in (b"\n", b""):
            text += "\n"
    elif data[:1] not in (b"\n", b""):
        text += "\n"
    return Edit(stmt.call_file.path, at, at, text)


def build(finding: Finding, model: ProjectModel) -> Fix:
    ref = finding.data["statement"]
    stmt = find_statement(model, ref[0], ref[1])
    if stmt is None:
        raise CannotFix("statement not found")
    if stmt.file is not stmt.call_file:
        raise CannotFix("the SQL text lives in another file and may be shared")
    path = stmt.file.path
    end = _statement_end(stmt)
    table = finding.data["tables"][0]
    if finding.data["consumer"] == "one":
        if not stmt.tagged and not literal_is_inline(stmt):
            raise CannotFix("the SQL text is a shared constant")
        return Fix(
            fix_id="sql-unbounded-read.limit-one",
            title="Add `LIMIT 1` to the query read with one()",
            safety=Safety.UNSAFE,
            edits=[Edit(path, end, end, " LIMIT 1")],
            review=(
                "one() used to throw when several rows matched; it now returns one of them. "
                "Add an ORDER BY that picks the right row, or look the row up by its key."
            ),
        )
    name = _const_name(table)
    edits: list[Edit] = []
    if stmt.tagged:
        edits.append(Edit(path, end, end, f" LIMIT ${{{name}}}"))
    else:
        if not literal_is_inline(stmt):
            raise CannotFix("the SQL text is a shared constant")
        params = params_of(stmt)
        if params is None or not params.countable or params.numbered:
            raise CannotFix("parameters we cannot count")
        if stmt.has_spread_binding or stmt.bindings != params.count:
            raise CannotFix("the bindings do not match the parameters")
        edits.append(Edit(path, end, end, " LIMIT ?"))
        edits.extend(insert_args(stmt, [(stmt.bindings, name)]))
    constant = _constant_edit(stmt, name, table)
    if constant is not None:
        edits.insert(0, constant)
    return Fix(
        fix_id="sql-unbounded-read.limit",
        title=f"Read at most {name} rows",
        safety=Safety.UNSAFE,
        edits=edits,
        review=(
            f"The query now returns at most {name} ({READ_LIMIT}) rows. Check the callers: where "
            "every row is really needed, page through them (keyset pagination: `WHERE id > ? "
            "ORDER BY id LIMIT ?` with the last id seen) instead of raising the limit; where "
            "the rows are shown, an ORDER BY decides which ones come first."
        ),
    )


SPEC = FixSpec("sql-unbounded-read", build, tier=TIER_CORRECTNESS)
