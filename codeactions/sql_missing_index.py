"""Fix for sql-missing-index: `CREATE INDEX IF NOT EXISTS` next to the table's CREATE TABLE,
offered only when SQLite then uses it."""

from __future__ import annotations

import re
from pathlib import Path

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_SQL, REF_SQLITE_EQP
from durable_harden.analyzers.rules.sql_missing_index import IndexState, Problem, analyse
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.codeactions._sqledit import (
    append_after,
    is_idempotent_ddl,
    siblings,
)
from durable_harden.codeactions.fix import Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import index_case
from durable_harden.codeactions.spec import SAFE_OR_UNSAFE, TIER_INDEXES, FixDocs, FixSpec, Offer

_CREATE_INDEX_ON = re.compile(
    r"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b.*?\bON\s+[\"`\[]?(\w+)", re.I | re.S
)


def index_name(table: str, columns: list[str]) -> str:
    return "idx_" + "_".join([table, *columns]).lower()


def index_sql(table: str, columns: list[str]) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(table, columns)} ON {table}({', '.join(columns)})"
    )


def provided(schema: Schema, table: str, columns: list[str]) -> bool:
    """An existing index (or the primary key) already starts with these columns."""
    wanted = [c.lower() for c in columns]
    for index in schema.indexes_of(table):
        have = [c.lower() for c in index.columns]
        if have[: len(wanted)] == wanted:
            return True
    return False


def serves(schema: Schema, stmt: SqlStatement, table: str, columns: list[str]) -> bool:
    """Re-plan the query with the index: SQLite must use it and the problem must be gone."""
    try:
        trial = schema.with_index(index_sql(table, columns))
    except Exception:
        return False
    plan = trial.plan(stmt.text)
    if plan.error is not None:
        return False
    name = index_name(table, columns)
    if not any(name in step.detail for step in plan.steps):
        return False
    return all(p.use.table != table.lower() for p in analyse(stmt, trial))


def reordered_queries(
    model: ProjectModel, schema: Schema, path: object, table: str, columns: list[str]
) -> list[str]:
    """SELECTs without ORDER BY on `table` whose rows may come back in another order once the
    index exists: SQLite returns rows in the order of the index it reads, so a query that went
    from a table scan (rowid order) to the index, other than one fixing every index column with
    `=` (equal keys keep rowid order), may return the same rows in a different order."""
    from sqlglot import exp

    from durable_harden.analyzers.rules._sql import table_uses

    try:
        trial = schema.with_index(index_sql(table, columns))
    except Exception:
        return []
    name = index_name(table, columns)
    wanted = {c.lower() for c in columns}
    # a query reads the table only if its text names it (or through a view): the others'
    # plans cannot use the index, and re-planning every query of the scope for each index
    # tried was most of a report's fixes (issue 14)
    named = None if schema.has_views else table.lower()
    found: list[str] = []
    for stmt, lowered in _unordered_selects(model, path):  # type: ignore[arg-type]
        if named is not None and named not in lowered:
            continue
        expression = stmt.expression
        assert isinstance(expression, exp.Select)
        if not any(name in step.detail for step in trial.plan(stmt.text).steps):
            continue
        before = schema.plan(stmt.text)
        if any(name in step.detail for step in before.steps):
            continue
        uses = table_uses(expression, schema)
        use = uses.get(table.lower()) or uses.get(table)
        eq = {c.lower() for c in use.eq} if use is not None else set()
        if wanted <= eq:
            # (the IN lists read only then: a search of the whole expression)
            in_lists = {
                node.this.name.lower()
                for node in expression.find_all(exp.In)
                if isinstance(node.this, exp.Column)
            }
            if not (wanted & in_lists):
                continue
        found.append(stmt.text.strip())
    return found


def _unordered_selects(model: ProjectModel, path: Path) -> list[tuple[SqlStatement, str]]:
    """The scope's statements an index may reorder (not loose, a SELECT without ORDER BY), in
    scope order, each with its text in lower case: once per scope for all of this model's
    fixes (each index tried went through every statement of the scope)."""
    from sqlglot import exp

    memo: dict[Path, tuple[list[SqlStatement], list[tuple[SqlStatement, str]]]] = (
        model.memo.setdefault("sql-missing-index:selects", {})
    )
    root = model._scope_root(path)
    statements = model._statements_by_scope.get(root, [])
    entry = memo.get(root)
    if entry is None or entry[0] is not statements:
        selects: list[tuple[SqlStatement, str]] = []
        for stmt in statements:
            if stmt.loose:
                continue
            expression = stmt.expression
            if expression is None or not isinstance(expression, exp.Select):
                continue
            if expression.args.get("order") is not None:
                continue
            selects.append((stmt, stmt.text.lower()))
        entry = memo[root] = (statements, selects)
    return entry[1]


def _reordered_in_scope(
    model: ProjectModel, schema: Schema, path: Path, table: str, columns: list[str]
) -> list[str]:
    """reordered_queries, once per (scope, table, columns) for all of this model's fixes: the
    findings of one table and index share the answer (a report builds every finding's fixes;
    each re-planned every query of the scope, issue 14)."""
    memo: dict[tuple[object, ...], tuple[Schema, list[str]]] = model.memo.setdefault(
        "sql-missing-index:reordered", {}
    )
    key = (id(schema), model._scope_root(path), table, tuple(columns))
    entry = memo.get(key)
    if entry is None or entry[0] is not schema:
        entry = memo[key] = (schema, reordered_queries(model, schema, path, table, columns))
    return list(entry[1])


def _candidates(model: ProjectModel, stmt: SqlStatement, table: str) -> list[list[str]]:
    """Index column lists other queries of the same project want on this table (once per
    scope and table for all of this model's fixes)."""
    schema = model.schema_for(stmt.file.path)
    memo: dict[tuple[object, ...], tuple[Schema, dict[str, list[list[str]]]]] = (
        model.memo.setdefault("sql-missing-index:candidates", {})
    )
    key = (id(schema), model._scope_root(stmt.file.path))
    entry = memo.get(key)
    if entry is None or entry[0] is not schema:
        entry = memo[key] = (schema, _wanted_in_scope(model, schema, stmt.file.path))
    return [list(columns) for columns in entry[1].get(table.lower(), ())]


def _wanted_in_scope(model: ProjectModel, schema: Schema, path: Path) -> dict[str, list[list[str]]]:
    """For each table (lower case), the index column lists the scope's queries want on it, in
    statement order: one pass over the scope for all its tables (a pass per table cost
    tables x statements)."""
    wanted: dict[str, list[list[str]]] = {}
    # one analysis per (statement, schema) for all of this model's fixes: building each fix
    # afresh re-analysed every statement in scope (13,539 analyses for 50 fixes; issue 14)
    memo: dict[tuple[int, int], tuple[SqlStatement, Schema, list[Problem]]] = model.memo.setdefault(
        "sql-missing-index:analyse", {}
    )
    for other in model.statements_in_scope(path):
        if other.loose:
            continue
        key = (id(other), id(schema))
        entry = memo.get(key)
        if entry is None or entry[0] is not other or entry[1] is not schema:
            entry = memo[key] = (other, schema, analyse(other, schema))
        for problem in entry[2]:
            lists = wanted.setdefault(problem.use.table, [])
            if problem.columns not in lists:
                lists.append(problem.columns)
    return wanted


def _anchor(model: ProjectModel, create: SqlStatement, table: str) -> SqlStatement:
    """Insert after the CREATE TABLE, or after the CREATE INDEX statements that follow it."""
    anchor = create
    group = siblings(model, create)
    for stmt in group[group.index(create) + 1 :] if create in group else []:
        match = _CREATE_INDEX_ON.match(stmt.text)
        if match is None or match.group(1).lower() != table.lower():
            break
        anchor = stmt
    return anchor


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    data = finding.data
    stmt = state_of(finding, IndexState).statement
    schema = model.schema_for(stmt.file.path)
    table = schema.table(data["table"])
    if table is None or table.create is None:
        return []
    create = table.create
    # only a CREATE that runs on every start reaches deployed objects this way
    if create.loose or not is_idempotent_ddl(create):
        return []
    columns: list[str] = list(data["columns"])
    if not columns or provided(schema, table.name, columns):
        return []
    # one index for several queries: prefer the longest wanted index this one is a prefix of
    lowered = [c.lower() for c in columns]
    longer = [
        cand
        for cand in _candidates(model, stmt, table.name)
        if len(cand) > len(columns) and [c.lower() for c in cand[: len(columns)]] == lowered
    ]
    for cand in sorted(longer, key=lambda c: (-len(c), [x.lower() for x in c])):
        if not provided(schema, table.name, cand) and serves(schema, stmt, table.name, cand):
            columns = cand
            break
    if not serves(schema, stmt, table.name, columns):
        return []
    edit = append_after(model, _anchor(model, create, table.name), index_sql(table.name, columns))
    if edit is None:
        return []
    name = index_name(table.name, columns)
    reordered = _reordered_in_scope(model, schema, stmt.file.path, table.name, columns)
    return [
        Fix(
            fix_id="sql-missing-index.create-index",
            title=f"Add index `{name}` on {table.name}({', '.join(columns)})",
            safety=Safety.UNSAFE if reordered else Safety.SAFE,
            edits=[edit],
            facts={"indexes": [(name, table.name)]},
            review=(
                f"SQLite's plan for the query uses `{name}` once it exists. Each index adds a "
                f"row write to every INSERT/UPDATE of `{table.name}`: keep it if the query runs "
                "often."
            )
            + (
                " These queries have no ORDER BY and will read the index, so their rows may "
                "come back in index order instead of insertion order: "
                + "; ".join(f"`{q}`" for q in reordered[:3])
                + ". Add an ORDER BY where the order matters."
                if reordered
                else ""
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "index for the query",
            SAFE_OR_UNSAFE,
            """
`CREATE INDEX IF NOT EXISTS idx_<table>_<cols> ON <table>(<equality columns…>, <range or
ORDER BY column>)`, inserted next to the table's `CREATE TABLE` in the same SQL string. It is
offered only when SQLite, re-planning the query with the index, then uses it, and never when
the primary key or an existing index already has the same leading columns.
""",
            why="""
Safe when no query's result changes: an index changes no query's rows, but SQLite returns rows in
the order of the index it reads, so a `SELECT` without `ORDER BY` that moves from a table scan
(rowid order, usually insertion order) to the new index may return the same rows in another
order. When some query of the project does that (other than fixing every index column with `=`,
where equal keys keep rowid order), the fix is unsafe and the review note names the queries.
""",
        ),
    ),
    review="""
Every index costs a row write on each INSERT/UPDATE of the table; check the query is frequent
enough to pay for it.
""",
    references=(
        REF_SQL + " (index maintenance is billed as rows written)",
        REF_SQLITE_EQP + " (SEARCH … USING INDEX)",
    ),
)


SPEC = FixSpec(
    "sql-missing-index",
    build,
    tier=TIER_INDEXES,
    label="index for a scanning query",
    test_case=index_case,
    docs=FIX_DOCS,
)
