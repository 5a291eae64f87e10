"""sql-unbounded-read: every row of a growing table read into memory at once, or `one()` on a
query that can match many rows."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.model import ProjectModel, spliced_from
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import QUIET_CALLS, QuietCalls
from durable_harden.analyzers.rules._common import (
    REF_LIMITS,
    REF_RULES,
    REF_SQL,
    SQL_REACH,
    by_file,
)
from durable_harden.analyzers.rules._sql import (
    alias_map,
    delete_kinds_kept,
    insert_head_span,
    inserted_table,
    table_uses,
)
from durable_harden.analyzers.rules.unbounded_table_growth import (
    _add_cascades,
    _bounded_key_insert,
    _is_bookkeeping,
)
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import (
    SqlStatement,
    exp,  # sqlglot itself on first use
    find_first,
)
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, enclosing, node_text, walk_type

DOCS = RuleDocs(
    what="""
Reports a SELECT whose whole result is loaded at once — `.toArray()`, `for (… of cursor)`,
`[...cursor]`, `Array.from(cursor)`, or an Agents SDK `this.sql\\`…\\`` (which returns an array)
— when the query has no `LIMIT` and reads a table that receives INSERTs somewhere in the same
Worker project. Also reports `.one()` on such a query when it can match more than one row.

Not reported: a query that pins every table it reads to at most one row with an equality on the
primary key or a UNIQUE index (`WHERE id = ?`, also `IN (…)` lists), an aggregate without
`GROUP BY` (`COUNT(*)`, `MIN(expires_at)`: one row), a query with a `LIMIT`, tables only ever
written with a fixed key (a settings row), tables the project prunes by age, by count or
wholesale (any `DELETE` other than one of a single row by its key, or a `DROP TABLE`: such a
table does not keep growing), and bookkeeping tables (migrations, durable-harden's
`_alarm_schedule` with one row per alarm kind).
"""
    + SQL_REACH,
    why="""
A Durable Object's SQLite database grows to 10 GB, while the object's isolate has 128 MB of
memory. `toArray()` (and iterating a cursor into an array) materialises every matching row; what
works in tests with a dozen rows runs the object out of memory, or out of CPU time, once the
table has grown. Every row read is also billed (`rowsRead`). `one()` throws unless the query
returns exactly one row: without a key equality it fails as soon as a second row matches.
""",
    example="""
```ts
// Reported: every message of the room, forever growing
this.sql.exec("SELECT body FROM messages WHERE room = ? ORDER BY id", room).toArray();
// Reported: throws once two messages have the same author
this.sql.exec("SELECT body FROM messages WHERE author = ?", author).one();

// Fine: one page; a key lookup; an aggregate
this.sql.exec("SELECT body FROM messages WHERE room = ? ORDER BY id LIMIT ?", room, PAGE).toArray();
this.sql.exec("SELECT body FROM messages WHERE id = ?", id).one();
this.sql.exec("SELECT COUNT(*) AS n FROM messages").one();
```
""",
    references=(
        f"{REF_LIMITS} (10 GB per object; 128 MB memory per isolate)",
        f"{REF_SQL} (cursor: toArray(), one(), rowsRead)",
        f"{REF_RULES}",
    ),
)

KEY_COLUMNS = {"rowid", "oid", "_rowid_"}


@dataclass
class Consumer:
    """How a query's cursor is consumed (`toArray()`, iteration, spread …)."""

    kind: str  # "toArray", "iterate", "spread", "Array.from", "tagged", "one"
    node: Node  # the expression that consumes the cursor


def _unwrap_up(node: Node) -> Node:
    """Climb through `await`, parentheses, `as` / `!` wrappers around an expression."""
    while node.parent is not None and node.parent.type in {
        "parenthesized_expression",
        "await_expression",
        "as_expression",
        "non_null_expression",
        "satisfies_expression",
    }:
        node = node.parent
    return node


def _consumer_of(data: bytes, expr: Node) -> Consumer | None:
    """How the value of `expr` (a cursor) is consumed, right where it is produced."""
    node = _unwrap_up(expr)
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "member_expression" and parent.child_by_field_name("object") == node:
        prop = parent.child_by_field_name("property")
        call = parent.parent
        if prop is None or call is None or call.type != "call_expression":
            return None
        name = node_text(data, prop)
        if name == "raw":
            return _consumer_of(data, call)
        if name in {"toArray", "one"}:
            return Consumer(name, call)
        return None
    if parent.type == "for_in_statement" and parent.child_by_field_name("right") == node:
        if any(child.type == "of" for child in parent.children):
            return Consumer("iterate", parent)
        return None
    if parent.type == "spread_element":
        return Consumer("spread", parent)
    if parent.type == "arguments":
        call = parent.parent
        func = call.child_by_field_name("function") if call is not None else None
        if call is not None and func is not None and node_text(data, func) == "Array.from":
            return Consumer("Array.from", call)
        return None
    if parent.type == "variable_declarator" and parent.child_by_field_name("value") == node:
        target = parent.child_by_field_name("name")
        if target is None or target.type != "identifier":
            return None
        return _consumer_of_variable(data, parent, node_text(data, target))
    return None


def _consumer_of_variable(data: bytes, declarator: Node, name: str) -> Consumer | None:
    scope = enclosing(declarator, *FUNCTION_TYPES, "program")
    if scope is None:
        return None
    for ident in walk_type(scope, "identifier"):
        if ident.start_byte <= declarator.end_byte or node_text(data, ident) != name:
            continue
        found = _consumer_of(data, ident)
        if found is not None:
            return found
    return None


def _projections_aggregate(select: exp.Expression) -> bool:
    if not isinstance(select, exp.Select) or select.args.get("group"):
        return False
    projections = select.expressions
    return bool(projections) and all(find_first(p, exp.AggFunc) is not None for p in projections)


def _key_bounded(schema: Schema, table: str, eq: list[str]) -> bool:
    columns = {c.lower() for c in eq}
    if columns & KEY_COLUMNS:
        return True
    for index in schema.indexes_of(table):
        if index.unique and {c.lower() for c in index.columns} <= columns:
            return True
    known = schema.table(table)
    return bool(known and known.primary_key and {c.lower() for c in known.primary_key} <= columns)


def growing_tables(model: ProjectModel, path: Path) -> dict[str, SqlStatement]:
    """Tables that receive INSERTs with a key that is not fixed, in the project of `path`:
    table -> its first INSERT. Once per model and scope (the whole model's memo), carried over
    from the model this one was spliced from when the edited files' deletes and inserts are the
    same tables as before (a copy)."""
    whole = getattr(model, "whole", model)  # a rule's view: the same scopes and schemas
    schema = model.schema_for(path)
    root = model._scope_root(path)
    memo: dict[Path, tuple[str, dict[str, SqlStatement]]] = whole.memo.setdefault(
        "growing_tables", {}
    )
    kept = memo.get(root)
    if kept is None or kept[0] != schema.content_key:
        found = _carried_over(whole, root, schema)
        if found is None:
            found = _growing_tables(model, path, schema)
        kept = memo[root] = (schema.content_key, found)
    return dict(kept[1])


# a statement's part of _growth_facts under a catalogue, in its __dict__: (content key, tables
# it deletes from by more than a key, (table, key fixed) of its INSERT or None). A function of
# the statement's content and the catalogue: a moved statement keeps it (splice.CONTENT_MEMOS)
GROWTH_FACT = "_growth_fact"


def _statement_facts(
    stmt: SqlStatement, schema: Schema
) -> tuple[str, tuple[str, ...], tuple[str, bool] | None]:
    d = stmt.__dict__
    kept = d.get(GROWTH_FACT)
    if kept is not None and kept[0] == schema.content_key:
        return kept  # type: ignore[no-any-return]
    pruned = tuple(t for t, kind in delete_kinds_kept(stmt, schema).items() if kind != "key")
    table = None if stmt.loose else inserted_table(stmt)
    insert = None if table is None else (table, _bounded_key_insert(stmt, schema, table))
    kept = d[GROWTH_FACT] = (schema.content_key, pruned, insert)
    return kept


def _growth_facts(
    statements: list[SqlStatement], schema: Schema
) -> tuple[frozenset[str], list[tuple[str, bool]]]:
    """What growing_tables reads of some statements: the tables deleted from by more than a
    key, and each INSERT's table and whether its key is fixed, in order."""
    facts = [_statement_facts(stmt, schema) for stmt in statements]
    pruned = frozenset(table for _, tables, _ in facts if tables for table in tables)
    return pruned, [insert for _, _, insert in facts if insert is not None]


def _carried_over(
    model: ProjectModel, root: Path, schema: Schema
) -> dict[str, SqlStatement] | None:
    found = spliced_from(model)
    if found is None:
        return None
    previous, splice = found
    kept = previous.memo.get("growing_tables", {}).get(root)
    if kept is None or kept[0] != schema.content_key:
        return None
    growing = dict(kept[1])
    for (old, new), (_, file) in zip(splice.statements, splice.files, strict=True):
        if not _same_growth(old, new, file, schema):
            return None
        # the same INSERTs in the same places: the first of a table may be one of them
        firsts = {id(stmt) for stmt in growing.values()}
        if not firsts.isdisjoint(map(id, old)):
            renamed = {id(a): b for a, b in zip(_inserts(old), _inserts(new), strict=True)}
            for table, stmt in growing.items():
                if id(stmt) in renamed:
                    growing[table] = renamed[id(stmt)]
    return growing


def _same_growth(
    old: list[SqlStatement], new: list[SqlStatement], file: SourceFile, schema: Schema
) -> bool:
    """A file's statements say the same of the growing tables before and after an edit. The
    statements the file's splice moved (analyzers.splice: `origin`) say what they said (their
    part is a content memo they carry), in the same order: when those of the edited region
    say the same one by one, so do all (an edit of a 5,000-line file then reads the region's
    statements, not all ~300 twice); otherwise all are compared."""
    moved = file.memo.get("splice")
    if moved is not None:
        was = list(map(moved.origin.get, map(id, new)))
        origins = list(filter(None, was))
        fresh_count = len(new) - len(origins)
        gone_count = len(old) - len(origins)
        at = was.index(None) if fresh_count else len(was)
        # the region's statements one run of each list (the fresh ones of new, the gone ones
        # of old): not always so (a file's loose statements follow its executed ones, so a
        # region with an executed and a loose statement is two runs; without these checks the
        # runs compared held moved statements: tests/test_speed_guards.py)
        if (
            gone_count >= 0
            and was[at : at + fresh_count].count(None) == fresh_count
            and old[:at] == origins[:at]
            and old[at + gone_count :] == origins[at:]
        ):
            # the common case, found with slices: the region's statements in one run, at the
            # same place of both lists, the moved ones around them in order. Then the moved
            # statements' origins are old's others, in order (the lists below: `kept`), and
            # `gone` and `fresh` are those runs (the same answer as the general check below)
            if [_statement_facts(s, schema)[1:] for s in old[at : at + gone_count]] == [
                _statement_facts(s, schema)[1:] for s in new[at : at + fresh_count]
            ]:
                SAME_GROWTH_COUNTS["region"] += 1
                return True
            SAME_GROWTH_COUNTS["all"] += 1
            return _growth_facts(old, schema) == _growth_facts(new, schema)
        carried = set(map(id, origins))
        kept = list(itertools.compress(old, map(carried.__contains__, map(id, old))))
        if kept == origins:  # the same objects in the same order (eq=False: identity)
            fresh = itertools.compress(new, map(operator.is_, was, itertools.repeat(None)))
            gone = itertools.compress(
                old, map(operator.not_, map(carried.__contains__, map(id, old)))
            )
            if [_statement_facts(s, schema)[1:] for s in gone] == [
                _statement_facts(s, schema)[1:] for s in fresh
            ]:
                SAME_GROWTH_COUNTS["region"] += 1
                return True
    SAME_GROWTH_COUNTS["all"] += 1
    return _growth_facts(old, schema) == _growth_facts(new, schema)


SAME_GROWTH_COUNTS = {"region": 0, "all": 0}  # how _same_growth decided (tests read it)


def _inserts(statements: list[SqlStatement]) -> list[SqlStatement]:
    return [s for s in statements if not s.loose and inserted_table(s) is not None]


def _growing_tables(model: ProjectModel, path: Path, schema: Schema) -> dict[str, SqlStatement]:
    root = model._scope_root(path)
    scope = model.statements_in_scope(path)
    # a table pruned by age, by count or wholesale does not keep growing; deleting one row by
    # its key does not bound it. What each file's statements say is kept between analyses
    # (`_file_facts`): a keystroke recomputes the edited file's, not the scope's 10,000
    runs: list[tuple[set[str], list[tuple[str, SqlStatement]]]] = []
    ordinal: dict[Path, int] = {}
    for file, group in itertools.groupby(scope, key=_file_of):
        number = ordinal[file.path] = ordinal.get(file.path, -1) + 1
        runs.append(_file_facts(file, (root, number), tuple(group), schema))
    pruned: set[str] = set().union(*(run[0] for run in runs))
    _add_cascades(schema, pruned)  # rows deleted with their parent `ON DELETE CASCADE`
    found: dict[str, SqlStatement] = {}
    for _, candidates in runs:
        for table, stmt in candidates:
            if table not in found and table not in pruned:
                found[table] = stmt
    return found


def _file_of(stmt: SqlStatement) -> SourceFile:
    return stmt.file


def _file_facts(
    file: SourceFile, slot: tuple[Path, int], stmts: tuple[SqlStatement, ...], schema: Schema
) -> tuple[set[str], list[tuple[str, SqlStatement]]]:
    """What one file's statements (one run of them in the scope's list) say: the tables they
    prune, and per table their first INSERT that may grow it. Kept in the file's memo (a new
    parse drops it) under (scope root, which run), keyed by the statements (identity) and the
    schema's content."""
    memo: dict[tuple[Path, int], Any] = file.memo.setdefault("sql-unbounded-read:facts", {})
    known = memo.get(slot)
    key = (stmts, schema.content_key)
    if known is not None and known[0] == key:
        return known[1]
    pruned = {
        table
        for stmt in stmts
        for table, kind in delete_kinds_kept(stmt, schema).items()
        if kind != "key"
    }
    candidates: list[tuple[str, SqlStatement]] = []
    seen: set[str] = set()
    for stmt in stmts:
        if stmt.loose:
            continue
        table = inserted_table(stmt)
        if table is None or _is_bookkeeping(table) or table in seen:
            continue
        if _bounded_key_insert(stmt, schema, table):
            continue
        seen.add(table)
        candidates.append((table, stmt))
    facts = (pruned, candidates)
    memo[slot] = (key, facts)
    return facts


def unbounded_tables(
    stmt: SqlStatement, schema: Schema, growing: dict[str, SqlStatement]
) -> list[str]:
    """Growing tables the query reads without a LIMIT, aggregate or key equality."""
    expression = stmt.expression
    if expression is None or stmt.kind not in {"SELECT", "WITH"}:
        return []
    if not isinstance(expression, exp.Select | exp.Union):
        return []
    if expression.args.get("limit") is not None:
        return []
    if _projections_aggregate(expression):
        return []
    tables = sorted(set(alias_map(expression).values()) & set(growing))
    if not tables:
        return []
    uses = table_uses(expression, schema)
    return [t for t in tables if not _key_bounded(schema, t, uses[t].eq if t in uses else [])]


_VERB = {
    "toArray": "`.toArray()` loads",
    "iterate": "Iterating the cursor reads",
    "spread": "Spreading the cursor loads",
    "Array.from": "`Array.from()` loads",
    "tagged": "`this.sql` returns",
}


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class ReadState:
    """What the fix needs: the query that reads every row."""

    statement: SqlStatement


def check(model: ProjectModel) -> Iterator[Finding]:
    growing_by_scope: dict[int, dict[str, SqlStatement]] = {}
    config_of, schema_of = by_file(model.config_for_path), by_file(model.schema_for)
    for stmt in model.statements:
        if stmt.loose or stmt.kind not in {"SELECT", "WITH"}:
            continue
        if stmt.statements_in_call - 1 != stmt.index_in_call:
            continue  # only the last statement's rows come back
        # the tables first (memoised per statement tree and scope), the consumer (a climb from
        # the call through the tree) only for a query that reads a growing table unbounded
        config = config_of(stmt.file)
        key = id(config)  # the scope (its root: config.root is a new Path at each call)
        if key not in growing_by_scope:
            growing_by_scope[key] = growing_tables(model, stmt.file.path)
        growing = growing_by_scope[key]
        if not growing:
            continue
        schema = schema_of(stmt.file)
        tables = unbounded_tables(stmt, schema, growing)
        if not tables:
            continue
        data = stmt.call_file.data
        consumer = Consumer("tagged", stmt.call) if stmt.tagged else None
        if consumer is None and stmt.call.type == "call_expression":
            consumer = _consumer_of(data, stmt.call)
        if consumer is None:
            continue
        names = ", ".join(f"`{t}`" for t in tables)
        related = [Related(insert_head_span(growing[t]), f"`{t}` grows here") for t in tables]
        if consumer.kind == "one":
            message = (
                f"`.one()` on a query that can match many rows of {names}: it throws as soon "
                "as a second row matches. Look up by a key (primary key / UNIQUE column), or "
                "add `LIMIT 1` with an `ORDER BY` that picks the row."
            )
        else:
            message = (
                f"{_VERB[consumer.kind]} every matching row of {names} at once, and the table "
                "keeps growing (10 GB per object, 128 MB of memory): read a page with "
                "`LIMIT ?` and page through the rest."
            )
        yield RULE.finding(
            "one-of-many" if consumer.kind == "one" else "reads-every-row",
            message,
            stmt.span(),
            related,
            data={
                "consumer": consumer.kind,
                "tables": tables,
                "statement": [str(stmt.file.path), stmt.offsets[0]],
            },
            state=ReadState(stmt),
        )


RULE = Rule(
    id="sql-unbounded-read",
    title="A growing table read without a LIMIT",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "one-of-many": "`.one()` on a query that can match many rows of a growing table",
        "reads-every-row": "every matching row of a growing table read at once",
    },
)


def _growing_context(model: ProjectModel, file: SourceFile) -> tuple[str, tuple[str, ...]]:
    """What a query's being unbounded reads besides its text: the catalogue and the names of
    the scope's growing tables."""
    return (
        model.schema_for(file.path).content_key,
        tuple(sorted(growing_tables(model, file.path))),
    )


def _reads_growing(model: ProjectModel, stmt: SqlStatement) -> bool:
    """A query that reads a growing table unbounded: whether that is a finding reads how the
    code around its call consumes the cursor."""
    if stmt.loose or stmt.kind not in {"SELECT", "WITH"}:
        return False
    if stmt.statements_in_call - 1 != stmt.index_in_call:
        return False
    growing = growing_tables(model, stmt.file.path)
    return bool(growing) and bool(unbounded_tables(stmt, model.schema_for(stmt.file.path), growing))


# the language server keeps, per exec() call, whether the rule finds nothing there
QUIET_CALLS[RULE.id] = QuietCalls(
    context=_growing_context,
    unsettled=_reads_growing,
    reason="a query that reads no growing table unbounded (its text, the catalogue, the growing "
    "tables' names) has no finding; the others depend on the code consuming the cursor",
)


__all__ = ["RULE", "Span", "growing_tables", "unbounded_tables"]
