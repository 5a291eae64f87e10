"""Fix for sql-unbounded-read: a LIMIT on the query.

- a loaded result (`toArray()`, iteration, spread, `Array.from`, Agents SDK `this.sql`):
  ` LIMIT ?` appended to the statement, bound to `<TABLE>_READ_LIMIT` (declared once at the top
  of the file, after the imports, and documented there); in a tagged template `LIMIT ${…}`;
- `.one()`: ` LIMIT 1`.

Which rows the LIMIT keeps is decided by the query's ORDER BY, so it must keep the rows the code
wants or not be offered:
- no ORDER BY: not offered (SQLite would keep arbitrary rows, in practice the oldest);
- ORDER BY … DESC: ` LIMIT ?` keeps the first rows of that order (the newest first);
- ORDER BY <time or sequence column> (ascending, read with `toArray()`): a history that wants
  the newest rows: the order is flipped to DESC, ` LIMIT ?` appended, and `.reverse()` after
  `toArray()` gives the code the rows in the order it had (oldest of the newest first);
  ascending by a time column read any other way: not offered;
- ORDER BY another column, ascending: ` LIMIT ?` keeps the first rows of that order.

Unsafe: callers that need every row must page, and `one()` then returns one of several rows
instead of throwing.
"""

from __future__ import annotations

import re

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIMITS, REF_SQL
from durable_harden.analyzers.rules._sqlexec import literal_is_inline, params_of
from durable_harden.analyzers.rules.sql_unbounded_read import ReadState
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.codeactions._execedit import CannotFix, insert_args
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer

READ_LIMIT = 1000
# columns whose ascending order is time order: a read ordered by them wants the newest rows
_TIME_LIKE = re.compile(
    r"^(?:id|rowid|ts|time|timestamp|date|seq|sequence|created|updated|sent|at"
    r"|\w+_(?:at|ts|time|timestamp|date|on|seq))$",
    re.I,
)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+(.+?)\s*(?=\bLIMIT\b|\bOFFSET\b|$)", re.I | re.S)
_TERM = re.compile(r"^\s*([\w.\"`\[\]]+?)(?:\s+(ASC|DESC))?\s*$", re.I)


def _order_terms(text: str) -> tuple[int, int, list[tuple[str, str]]] | None:
    """The top-level ORDER BY of the statement: (start, end) of its terms in the text and
    (column, direction) per term; None without one. Raises CannotFix for terms we cannot flip."""
    matches = list(_ORDER_BY.finditer(text))
    if not matches:
        return None
    match = matches[-1]
    if text[: match.start()].count("(") != text[: match.start()].count(")"):
        return None  # the ORDER BY of a subquery
    terms: list[tuple[str, str]] = []
    for raw in match.group(1).rstrip().rstrip(";").split(","):
        term = _TERM.match(raw)
        if term is None:
            raise CannotFix(f"ORDER BY term `{raw.strip()}` is not a plain column")
        terms.append((term.group(1), (term.group(2) or "ASC").upper()))
    return match.start(1), match.start(1) + len(match.group(1).rstrip().rstrip(";")), terms


def after_imports(file: SourceFile) -> int:
    """Offset of the line after the last top-level import (0 when there is none), from the
    parse tree: a text search for `import …;` runs into the code of files written without
    semicolons (found on corpus-dev: the constant landed inside a SQL template literal)."""
    data = file.data
    imports = [n for n in file.root.named_children if n.type == "import_statement"]
    if not imports:
        return 0
    end = imports[-1].end_byte
    newline = data.find(b"\n", end)
    return len(data) if newline == -1 else newline + 1


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
    at = after_imports(stmt.call_file)
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
    stmt = state_of(finding, ReadState).statement
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
    order = _order_terms(stmt.text)
    if order is None:
        raise CannotFix(
            "no ORDER BY: a LIMIT would keep arbitrary rows, not the ones the code wants"
        )
    first_column = order[2][0][0].strip('"`[]').rsplit(".", 1)[-1]
    newest = order[2][0][1] == "ASC" and _TIME_LIKE.match(first_column) is not None
    kept = f"the first {READ_LIMIT} rows in the query's order (ORDER BY {stmt.text[order[0] : order[1]]})"
    if newest:
        # a history read oldest-first wants its newest rows: DESC LIMIT, then reverse
        from durable_harden.analyzers.rules.sql_unbounded_read import _consumer_of

        # the Agents SDK's tagged `this.sql` returns an array itself
        loaded = stmt.call if stmt.tagged else None
        consumer = _consumer_of(stmt.call_file.data, stmt.call) if not stmt.tagged else None
        if consumer is not None and consumer.kind == "toArray":
            loaded = consumer.node
        if loaded is None:
            raise CannotFix("an oldest-first read that is not loaded with toArray()")
        flipped = ", ".join(f"{col} {'DESC' if way == 'ASC' else 'ASC'}" for col, way in order[2])
        span = stmt.span(order[0], order[1])
        edits.append(Edit(path, span.start, span.end, flipped))
        edits.append(Edit(path, loaded.end_byte, loaded.end_byte, ".reverse()"))
        kept = (
            f"the newest {READ_LIMIT} rows by `{first_column}` (read with ORDER BY {flipped} and "
            "reversed, so the code still sees them oldest first)"
        )
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
            f"The query now returns at most {name} ({READ_LIMIT}) rows: {kept}. Check the "
            "callers: where every row is really needed, page through them (keyset pagination: "
            "`WHERE id > ? ORDER BY id LIMIT ?` with the last id seen) instead of raising the "
            "limit."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "LIMIT bound to a constant",
            UNSAFE,
            """
For a loaded result: ` LIMIT ?` is appended to the query, bound to a named constant
`<TABLE>_READ_LIMIT` (1000, documented at the top of the file). The LIMIT must keep the rows the
code wants, and the query's `ORDER BY` is what says which: `ORDER BY … DESC` keeps its first
rows. An ascending read by a time or sequence column (`id`, `ts`, `*_at`, …) is a history that
wants its newest rows: the order is flipped to `DESC`, the LIMIT added, and `.reverse()` follows
`toArray()` (or the Agents SDK's `this.sql` template), so the code still sees oldest first.
Ascending by another column keeps the first rows of that order. The review note says which rows
are kept.
""",
            why="""
Unsafe: rows beyond the limit are no longer read.
""",
        ),
        Offer(
            "LIMIT 1 for .one()",
            UNSAFE,
            """
For `.one()`: ` LIMIT 1`.
""",
            why="""
Unsafe: it then returns one of the matching rows instead of throwing.
""",
        ),
    ),
    review="""
Callers that need more rows must page (`WHERE id > ? ORDER BY id LIMIT ?`, keyset pagination):
add that where every row really is needed. For `.one()`, add an `ORDER BY` that picks the right
row.
""",
    not_offered="""
When the SQL text is shared by several calls (a constant in another file). Without an `ORDER BY`
no LIMIT is added (it would keep arbitrary rows; a sum or an export over all rows would silently
lose some). An ascending history read any other way than `toArray()` (iteration, a spread).
""",
    references=(
        REF_SQL + " (rows read are billed)",
        REF_LIMITS,
    ),
)


SPEC = FixSpec("sql-unbounded-read", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
