"""schema-change-without-migration: a query that the project's own schema cannot run, or an
`ALTER TABLE … ADD COLUMN … NOT NULL` without a DEFAULT."""

from __future__ import annotations

import re
from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import QUIET_CALLS, QuietCalls
from durable_harden.analyzers.rules._common import (
    REF_RULES,
    REF_SQL,
    REF_SQLITE_ALTER,
    by_file,
)
from durable_harden.analyzers.rules._sql import DATA_KINDS, alias_map, create_span
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import SqlStatement

DOCS = RuleDocs(
    what="""
Asks SQLite to plan every query of the project against the schema the project itself creates
(all `CREATE TABLE`, `CREATE INDEX` and `ALTER TABLE` statements found in any file of the same
Worker project) and reports the ones SQLite rejects with `no such column`, on the unknown name.
A `no such table` is reported only when the name is a near miss of a table the project does
create (a typo); a table whose DDL we cannot see (created by a library such as the Agents SDK, or
from a `.sql` file) is never reported, nor is a query of a table the project makes by renaming
another (`ALTER TABLE scores RENAME TO scores_legacy` then `SELECT old_column FROM
scores_legacy`): that is a migration reading the old shape, which the current CREATE no longer
shows. A migration that rebuilds a table (rename it aside, `CREATE TABLE` it anew, copy the rows
from the old name, `DROP TABLE` the old name) is read as its end state: the new shape, and no
"no such table" for the copy it reads from.

Also reports `ALTER TABLE … ADD COLUMN … NOT NULL` without a `DEFAULT`. SQLite's documentation
requires a non-NULL default for such a column; SQLite (3.37 and later) lets it through on an
empty table, which is why it passes in tests, and fails with `NOT NULL constraint failed` on
every table that already has rows, which is every deployed object that matters.
""",
    why="""
`CREATE TABLE IF NOT EXISTS` never changes a table that already exists. Adding a column to that
statement works on a fresh database (tests, `wrangler dev` with empty state) and fails in
production, where the table was created by an older version: every query using the new column
throws `no such column`. Existing objects need an `ALTER TABLE … ADD COLUMN` run once, from a
migrations table, inside `blockConcurrencyWhile` in the constructor.
""",
    example="""
```ts
// schema.ts: the column was added to the CREATE only
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT)
// Reported: no such column: edited_at
sql.exec("UPDATE messages SET edited_at = ? WHERE id = ?", now, id);

// Reported: fails on every existing table
ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL
// Works: ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0
```
""",
    references=(
        f"{REF_SQLITE_ALTER} (ADD COLUMN: NOT NULL needs a non-NULL DEFAULT)",
        f"{REF_SQL}",
        f"{REF_RULES} (schema migrations in the constructor)",
    ),
)

_NO_COLUMN = re.compile(r"no such column: (?:(\w+)\.)?(\w+)")
_NO_TABLE = later(r"no such table: (?:\w+\.)?(\w+)")
_ADD_COLUMN = re.compile(
    r"\bALTER\s+TABLE\s+[\"`\[]?(\w+)[\"`\]]?\s+ADD\s+(?:COLUMN\s+)?[\"`\[]?(\w+)[\"`\]]?([^;]*)",
    re.I | re.S,
)


def _word_span(stmt: SqlStatement, word: str, qualifier: str | None = None) -> Span:
    if qualifier:
        pattern = rf"\b{re.escape(qualifier)}\s*\.\s*[\"`\[]?{re.escape(word)}\b"
    else:
        pattern = rf"(?<![\w.]){re.escape(word)}\b"
    # skip string literals: blank them out before searching, keeping offsets
    blanked = re.sub(r"'(?:[^']|'')*'", lambda m: " " * len(m.group(0)), stmt.text)
    match = re.search(pattern, blanked, re.I)
    if match is None and qualifier:
        # INSERT column lists name the column bare while SQLite's message qualifies it
        match = re.search(rf"(?<![\w.]){re.escape(word)}\b", blanked, re.I)
    if match is None:
        return stmt.span()
    return stmt.span(match.start(), match.end())


def _table_ddl_failed(schema: Schema, table: str) -> bool:
    """The project's DDL for this table did not run (a `${}` in it, a syntax SQLite refuses):
    our picture of its columns is incomplete."""
    return any(re.search(rf"\b{re.escape(table)}\b", stmt.text, re.I) for stmt, _ in schema.errors)


_RENAME = later(r"\bALTER\s+TABLE\s+[\"`\[]?\w+[\"`\]]?\s+RENAME\s+TO\s+[\"`\[]?(\w+)", re.I)


def _renamed_tables(model: ProjectModel, stmt: SqlStatement) -> set[str]:
    """Tables the project creates by renaming another (`ALTER TABLE a RENAME TO b`)."""
    return {
        match.group(1).lower()
        for other in model.statements_in_scope(stmt.file.path)
        for match in _RENAME().finditer(other.text)
    }


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class SchemaState:
    """What the fixes need: the query that names the missing column, or the ALTER."""

    statement: SqlStatement


def _check_query(model: ProjectModel, stmt: SqlStatement, schema: Schema) -> Finding | None:
    plan = schema.plan(stmt.text)
    if plan.error is None:
        return None
    expression = stmt.expression
    aliases = alias_map(expression) if expression is not None else {}
    column = _NO_COLUMN.search(plan.error)
    if column is not None:
        qualifier, name = column.group(1), column.group(2)
        tables = sorted(set(aliases.values()))
        if qualifier:
            owner = aliases.get(qualifier.lower())
            candidates = [owner] if owner else []
        else:
            candidates = tables
        known = [schema.table(t) for t in candidates]
        # only when every table it might belong to is one whose DDL we fully see
        if not known or any(t is None or _table_ddl_failed(schema, t.name) for t in known):
            return None
        # `ALTER TABLE t RENAME TO t_legacy`, then reading t_legacy: a migration reading the old
        # shape of t, which the current CREATE no longer shows
        renamed = _renamed_tables(model, stmt)
        if any(t is not None and t.name.lower() in renamed for t in known):
            return None
        related = [
            Related(span, f"`{t.name}` is created here")
            for t in known
            if t is not None and (span := create_span(t)) is not None
        ]
        columns = sorted({c for t in known if t is not None for c in t.columns})
        import difflib  # (here: a check without SQL, which imports no sqlglot, need not)

        close = difflib.get_close_matches(name, columns, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        owners = ", ".join(f"`{t.name}`" for t in known if t is not None)
        return RULE.finding(
            "no-such-column",
            f"No column `{name}` in {owners} as the project's CREATE/ALTER statements define "
            f"it{hint}. A column added to `CREATE TABLE IF NOT EXISTS` never reaches "
            "deployed objects: add it with a migration step (`ALTER TABLE … ADD COLUMN`).",
            _word_span(stmt, name, qualifier),
            related,
            data={
                "kind": "no-such-column",
                "column": name,
                "tables": [t.name for t in known if t is not None],
                "near_miss": close[0] if close else None,
                "statement": [str(stmt.file.path), stmt.offsets[0]],
            },
            state=SchemaState(stmt),
        )
    missing = _NO_TABLE().search(plan.error)
    if missing is not None:
        name = missing.group(1)
        created = list(schema.tables)
        if _table_ddl_failed(schema, name):
            return None
        if name.lower() in _renamed_tables(model, stmt):
            # a migration copying rows out of the table it renamed aside (and then drops)
            return None
        import difflib

        close = difflib.get_close_matches(name.lower(), created, n=1, cutoff=0.8)
        if not close:
            return None  # a table whose DDL we cannot see: not ours to judge
        table = schema.table(close[0])
        related = []
        if table is not None and (span := create_span(table)) is not None:
            related.append(Related(span, f"`{table.name}` is created here"))
        return RULE.finding(
            "no-such-table",
            f"No table `{name}` in the project's schema (did you mean `{close[0]}`?).",
            _word_span(stmt, name),
            related,
            data={"kind": "no-such-table", "table": name, "suggestion": close[0]},
        )
    return None


def _check_alter(stmt: SqlStatement) -> Iterator[Finding]:
    for match in _ADD_COLUMN.finditer(stmt.text):
        definition = match.group(3)
        if not re.search(r"\bNOT\s+NULL\b", definition, re.I):
            continue
        if re.search(r"\bDEFAULT\b", definition, re.I):
            continue
        end = match.end(3)
        while end > match.start(3) and stmt.text[end - 1] in " \t\r\n;":
            end -= 1
        yield RULE.finding(
            "not-null-without-default",
            f"`ALTER TABLE {match.group(1)} ADD COLUMN {match.group(2)} … NOT NULL` has no "
            "DEFAULT: it passes on an empty table and fails on every table that has rows, so "
            "this migration breaks deployed objects. Add a DEFAULT (or drop NOT NULL).",
            stmt.span(match.start(), end),
            data={
                "kind": "not-null-without-default",
                "table": match.group(1),
                "column": match.group(2),
                "statement": [str(stmt.file.path), stmt.offsets[0]],
                "definition": [match.start(3), end],
            },
            state=SchemaState(stmt),
        )


def check(model: ProjectModel) -> Iterator[Finding]:
    schema_of = by_file(model.schema_for)
    for stmt in model.statements:
        kind = stmt.kind
        if kind == "ALTER":
            yield from _check_alter(stmt)
            continue
        if stmt.loose or kind not in DATA_KINDS:
            continue
        schema = schema_of(stmt.file)
        if not schema.tables:
            continue  # no DDL in view: nothing to judge against
        finding = _check_query(model, stmt, schema)
        if finding is not None:
            yield finding


RULE = Rule(
    id="schema-change-without-migration",
    title="A query or migration does not match the schema deployed objects have",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "no-such-column": "a column the project's CREATE/ALTER statements do not define",
        "no-such-table": "a table the project's schema does not have (with the closest name)",
        "not-null-without-default": "ALTER TABLE … ADD COLUMN … NOT NULL without a DEFAULT",
    },
)


def _catalogue(model: ProjectModel, file: SourceFile) -> str:
    return model.schema_for(file.path).content_key


def _plan_fails(model: ProjectModel, stmt: SqlStatement) -> bool:
    """A query SQLite cannot plan against the catalogue: whether that is a finding reads more
    than the statement (the scope's renames, where a table is created)."""
    if stmt.loose or stmt.kind not in DATA_KINDS:
        return False
    schema = model.schema_for(stmt.file.path)
    return bool(schema.tables) and schema.plan(stmt.text).error is not None


# the language server keeps, per exec() call, whether the rule finds nothing there: a query
# that plans is a function of its text and the catalogue, an ALTER's check of its text
QUIET_CALLS[RULE.id] = QuietCalls(
    context=_catalogue,
    unsettled=_plan_fails,
    reason="a query that SQLite plans against the catalogue has no finding; an ALTER is "
    "judged on its text; findings lie in the statement",
)
