"""sql-missing-index: SQLite's own query planner says a query reads a whole table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import QUIET_CALLS, ContentMemo, QuietCalls
from durable_harden.analyzers.rules._common import (
    REF_LIMITS,
    REF_SQL,
    REF_SQLITE_EQP,
    SQL_REACH,
    by_file,
)
from durable_harden.analyzers.rules._sql import (
    QUERY_KINDS,
    TableUse,
    alias_map,
    create_span,
    table_reference_span,
    table_uses,
)
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import (
    SqlStatement,
    exp,  # sqlglot itself on first use
)

DOCS = RuleDocs(
    what="""
Runs every query the code sends to `sql.exec()` (and the Agents SDK `this.sql` tag) through
SQLite's `EXPLAIN QUERY PLAN`, on an in-memory database built from the project's own
`CREATE TABLE` / `CREATE INDEX` / `ALTER TABLE` statements, with every parameter bound to NULL.
It reports a query when the plan

- reads a table it filters (a `WHERE` or `JOIN … ON` condition on the table's columns) with a
  plain `SCAN <table>`;
- sorts with `USE TEMP B-TREE FOR ORDER BY` on a table's columns;
- builds an `AUTOMATIC … INDEX` (SQLite indexing a table on the fly, on every run).

A scan with no condition on the table (`SELECT … FROM events ORDER BY id DESC LIMIT ?` walks the
rowid and stops after LIMIT rows) is not reported, nor is a condition no index can serve (such
as `LIKE '%x%'` alone), nor a sort of a whole table with no condition and no `LIMIT`
(`SELECT * FROM uploads ORDER BY created_at`: every row is read anyway, and an index would not
remove the scan), nor a table whose name is built with `${…}` (its real name is unknown), nor a
query whose suggested index already exists (the primary key or an index with the same leading
columns: SQLite chose not to use it, and suggesting it again is wrong). When
the plan already seeks an index and only sorts, the message says it sorts, not that it reads all. Table aliases (`FROM messages m`) are resolved with sqlglot.
"""
    + SQL_REACH,
    why="""
Durable Object SQL is billed by rows read, and a full scan reads every row on every call, so
the cost of the query grows with the table. Each Durable Object is single-threaded: a slow query
delays every other request to the object.
""",
    example="""
```ts
// Reported: SCAN messages + USE TEMP B-TREE FOR ORDER BY
sql.exec("SELECT body FROM messages WHERE room = ? ORDER BY created_at DESC LIMIT 50", room);

// With this index the plan becomes SEARCH messages USING INDEX idx_messages_room_created_at
sql.exec("CREATE INDEX IF NOT EXISTS idx_messages_room_created_at ON messages(room, created_at)");
```
""",
    references=(
        f"{REF_SQL} (rows read and written are billed; indexes cost writes)",
        f"{REF_LIMITS}",
        f"{REF_SQLITE_EQP} (reading EXPLAIN QUERY PLAN output)",
    ),
)

_SCAN = re.compile(r"^SCAN (\w+)$")
_AUTOMATIC = re.compile(r"^SEARCH (\w+) USING AUTOMATIC (?:PARTIAL )?(?:COVERING )?INDEX")


def _real_name(alias: str, aliases: dict[str, str]) -> str | None:
    return aliases.get(alias.lower())


@dataclass
class Problem:
    """A table a query's plan reads badly, with the index columns that would serve it."""

    use: TableUse
    alias: str
    columns: list[str]
    reasons: list[str] = field(default_factory=list)


_TABLE_STEP = re.compile(r"^(?:SCAN|SEARCH) (\w+)")


_ANALYSES = ContentMemo()


def analyse(stmt: SqlStatement, schema: Schema) -> list[Problem]:
    """Each table the plan reads badly, with the index columns that would serve the query.
    A function of the statement's text and the schema's catalogue only: memoised on them, so
    an edit re-plans only the queries it changed (the Problems are shared: never change them)."""
    key = (stmt.text, schema.content_key)
    return list(_ANALYSES.get(key, lambda: _analyse(stmt, schema)))


def _analyse(stmt: SqlStatement, schema: Schema) -> list[Problem]:
    expression = stmt.expression
    if expression is None or stmt.kind not in QUERY_KINDS:
        return []
    if isinstance(expression, exp.Command):
        return []
    plan = schema.plan(stmt.text)
    if plan.error is not None or not plan.steps:
        return []
    aliases = alias_map(expression)
    uses = table_uses(expression, schema)
    problems: dict[str, Problem] = {}
    read: list[str] = []  # aliases in the order the plan loops over them (outermost first)
    for step in plan.steps:
        detail = step.detail
        scan = _SCAN.match(detail)
        auto = _AUTOMATIC.match(detail)
        outer = not read
        table_step = _TABLE_STEP.match(detail)
        if table_step is not None:
            read.append(table_step.group(1))
        if scan is not None:
            alias = scan.group(1)
            table = _real_name(alias, aliases)
            if table is None or schema.table(table) is None or table not in uses:
                continue
            use = uses[table]
            # the outer loop of a join is not narrowed by the join condition itself
            if not (use.eq or use.range or (use.join and not outer)):
                continue
            problem = problems.setdefault(
                table, Problem(use, alias, use.index_columns(with_join=not outer))
            )
            problem.reasons.append(f"`{detail}` reads every row to apply the condition")
        elif auto is not None:
            alias = auto.group(1)
            table = _real_name(alias, aliases)
            if table is None or schema.table(table) is None or table not in uses:
                continue
            use = uses[table]
            problem = problems.setdefault(
                table, Problem(use, alias, use.index_columns(with_join=True))
            )
            problem.reasons.append(f"`{detail}` builds a temporary index on every run")
        elif step.temp_btree_order:
            ordered = [t for t, use in uses.items() if use.order and not use.order_unresolved]
            limited = expression.args.get("limit") is not None
            for table in ordered:
                if schema.table(table) is None:
                    continue
                if not (uses[table].eq or uses[table].range or limited):
                    # every row is read anyway: an index on the ORDER BY columns would trade
                    # the sort for as many index look-ups and remove no scan
                    continue
                alias = next((a for a in read if aliases.get(a.lower()) == table), table)
                use = uses[table]
                problem = problems.setdefault(table, Problem(use, alias, use.index_columns()))
                problem.reasons.append("`USE TEMP B-TREE FOR ORDER BY` sorts the rows on every run")
    return [p for p in problems.values() if p.columns]


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class IndexState:
    """What the fix needs: the query that scans."""

    statement: SqlStatement


def check(model: ProjectModel) -> Iterator[Finding]:
    schema_of = by_file(model.schema_for)
    for stmt in model.statements:
        if stmt.loose or stmt.kind not in QUERY_KINDS:
            continue
        schema = schema_of(stmt.file)
        if not schema.tables:
            continue
        for problem in analyse(stmt, schema):
            use, columns = problem.use, problem.columns
            table = schema.table(use.table)
            if table is None or "?" in table.name:
                continue  # `"${prefix}events"`: the real table name is not known
            wanted = [c.lower() for c in columns]
            if wanted and any(
                [c.lower() for c in index.columns[: len(wanted)]] == wanted
                for index in schema.indexes_of(table.name)
            ):
                continue  # that index exists: SQLite chose not to use it, another one won't help
            related: list[Related] = []
            span = create_span(table)
            if span is not None:
                related.append(Related(span, f"`{table.name}` is created here"))
            cols = f" on ({', '.join(columns)})" if columns else ""
            sorts_only = all("ORDER BY" in reason for reason in problem.reasons)
            message = (
                f"Query sorts the rows of `{table.name}` on every run (`USE TEMP B-TREE FOR "
                f"ORDER BY`). An index{cols} lets SQLite read them in order instead."
                if sorts_only
                else f"Query reads all of `{table.name}`: {'; '.join(problem.reasons)}. "
                f"An index{cols} lets SQLite seek instead."
            )
            yield RULE.finding(
                "sorts-every-run" if sorts_only else "scans-table",
                message,
                table_reference_span(stmt, table.name, problem.alias),
                related,
                data={
                    "table": table.name,
                    "eq": list(dict.fromkeys(use.eq)),
                    "join": list(dict.fromkeys(use.join)),
                    "range": use.range[0] if use.range else None,
                    "order": [c for c, _ in use.order],
                    "columns": columns,
                    "query": stmt.text.strip(),
                    "statement": [str(stmt.file.path), stmt.offsets[0]],
                },
                state=IndexState(stmt),
            )


RULE = Rule(
    id="sql-missing-index",
    title="A query scans a whole table",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "sorts-every-run": "a query sorts the table's rows on every run (a temporary B-tree for ORDER BY)",
        "scans-table": "a query reads the whole table where an index would let SQLite seek",
    },
)


def _catalogue(model: ProjectModel, file: SourceFile) -> str:
    return model.schema_for(file.path).content_key


# the language server keeps, per exec() call, whether the rule finds nothing there: that is a
# function of the statements' text and the catalogue (analyse's memo key)
QUIET_CALLS[RULE.id] = QuietCalls(
    context=_catalogue,
    unsettled=None,
    reason="whether a query scans is its text against the catalogue (`analyse`); findings lie "
    "in the statement (the table's name in it)",
)
