"""Helpers shared by the SQL rules: which table a statement writes, how a query filters a table,
and where in the statement to point.

Everything here reads the sqlglot tree (`SqlStatement.expression`) and falls back to a regular
expression over the statement text only where sqlglot gives up (`REPLACE INTO`, triggers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from durable_harden.analyzers.findings import Span
from durable_harden.analyzers.reuse import ContentMemo
from durable_harden.analyzers.schema import Schema, Table
from durable_harden.analyzers.sql import (
    SqlStatement,
    exp,  # sqlglot itself on first use
    find_all,
    find_first,
)

_IDENT = r"[\"`\[]?(\w+)[\"`\]]?"
_INSERT_HEAD = re.compile(
    rf"\b(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO\s+(?:\w+\s*\.\s*)?{_IDENT}", re.I
)
_DELETE_HEAD = re.compile(rf"\bDELETE\s+FROM\s+(?:\w+\s*\.\s*)?{_IDENT}", re.I)
_DROP_HEAD = re.compile(rf"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:\w+\s*\.\s*)?{_IDENT}", re.I)
_DYNAMIC_DELETE = re.compile(r"\bDELETE\s+FROM\s+\?", re.I)

QUERY_KINDS = frozenset({"SELECT", "UPDATE", "DELETE", "WITH"})
DATA_KINDS = frozenset({"SELECT", "UPDATE", "DELETE", "WITH", "INSERT", "REPLACE"})


def inserted_table(stmt: SqlStatement) -> str | None:
    """The table an INSERT / INSERT OR … / REPLACE / upsert writes rows into (memoised on the
    statement: a pure function of it)."""
    if "_inserted_table" not in stmt.__dict__:
        # a function of the text alone (its tree, kind and head): once per distinct text
        stmt.__dict__["_inserted_table"] = _INSERTED.get(stmt.text, lambda: _inserted_table(stmt))
    return stmt.__dict__["_inserted_table"]  # type: ignore[no-any-return]


_INSERTED = ContentMemo()


def _inserted_table(stmt: SqlStatement) -> str | None:
    expression = stmt.expression
    if isinstance(expression, exp.Insert):
        node = expression.this
        if isinstance(node, exp.Schema):
            node = node.this
        if isinstance(node, exp.Table) and re.fullmatch(r"\w+", node.name or ""):
            return node.name.lower()
        return None  # `INSERT INTO ${table}`: a name we cannot know
    if stmt.kind not in {"INSERT", "REPLACE", "WITH"}:
        return None
    match = _INSERT_HEAD.search(stmt.text)
    return match.group(1).lower() if match else None


def insert_head_span(stmt: SqlStatement) -> Span:
    """`INSERT INTO <table>` (or `REPLACE INTO t`, `INSERT OR REPLACE INTO t`)."""
    match = _INSERT_HEAD.search(stmt.text)
    if match is None:
        return stmt.span()
    return stmt.span(match.start(), match.end())


def pruned_tables(stmt: SqlStatement) -> set[str]:
    """Tables this statement deletes rows from or drops (including inside a trigger body)."""
    found: set[str] = set()
    for pattern in (_DELETE_HEAD, _DROP_HEAD):
        for match in pattern.finditer(stmt.text):
            found.add(match.group(1).lower())
    expression = stmt.expression
    if isinstance(expression, exp.Delete | exp.Drop):
        tables = [expression.this] if isinstance(expression, exp.Delete) else expression.expressions
        for table in tables:
            if isinstance(table, exp.Table) and table.name:
                found.add(table.name.lower())
    return found


def deletes_dynamic_table(stmt: SqlStatement) -> bool:
    """`DELETE FROM ${table}`: may prune any table (memoised on the statement: its text's)."""
    found = stmt.__dict__.get("_dynamic_delete")
    if found is None:
        found = stmt.__dict__["_dynamic_delete"] = bool(_DYNAMIC_DELETE.search(stmt.text))
    return found  # type: ignore[no-any-return]


_ALIASES = ContentMemo()


def alias_map(expression: exp.Expression) -> dict[str, str]:
    """alias (or bare name) -> table name, lower case, for every real table in the statement.
    Memoised on the expression (one per SQL text: analyzers.sql.parse_sql; the entry keeps it
    alive, so its id is not reused): the rules, their fixes and table_uses ask again."""
    entry = _ALIASES.get(id(expression), lambda: (expression, _alias_map(expression)))
    if entry[0] is not expression:  # cannot happen while the entry holds it; said plainly
        entry = (expression, _alias_map(expression))
    return dict(entry[1])


def _alias_map(expression: exp.Expression) -> dict[str, str]:
    ctes = {cte.alias_or_name.lower() for cte in find_all(expression, exp.CTE)}
    aliases: dict[str, str] = {}
    for table in find_all(expression, exp.Table):
        name = table.name.lower()
        if not name or name in ctes:
            continue
        aliases.setdefault(name, name)
        if table.alias:
            aliases[table.alias.lower()] = name
    return aliases


@dataclass
class TableUse:
    """How one statement uses one table: the columns it filters on and orders by."""

    table: str
    eq: list[str] = field(default_factory=list)  # `col = ?`, `col IN (…)`, `col IS ?`
    join: list[str] = field(default_factory=list)  # `col = other.col` (useful as inner loop)
    range: list[str] = field(default_factory=list)  # `<`, `<=`, `>`, `>=`, BETWEEN
    other: list[str] = field(default_factory=list)  # referenced in a condition we cannot index
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    order_unresolved: bool = False  # ORDER BY an expression / alias / other table

    @property
    def filtered(self) -> bool:
        return bool(self.eq or self.range or self.other)

    def index_columns(self, with_join: bool = False) -> list[str]:
        """Equality columns first, then one range column or the ORDER BY columns."""
        columns: list[str] = []
        for col in [*self.eq, *(self.join if with_join else [])]:
            if col not in columns:
                columns.append(col)
        tail: list[str] = []
        if self.range:
            tail = [self.range[0]]
        elif self.order and not self.order_unresolved:
            tail = [c for c, _ in self.order]
        for col in tail:
            if col not in columns:
                columns.append(col)
        return columns


def _conjuncts(node: Any) -> list[exp.Expression]:
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    return [node]


class ColumnResolver:
    def __init__(self, expression: exp.Expression, schema: Schema) -> None:
        self.aliases = alias_map(expression)
        self.schema = schema
        self.tables = sorted(set(self.aliases.values()))

    def table_of(self, column: exp.Column) -> str | None:
        qualifier = column.table.lower() if column.table else ""
        if qualifier:
            return self.aliases.get(qualifier)
        name = column.name.lower()
        owners = []
        for table_name in self.tables:
            table = self.schema.table(table_name)
            if table is not None and name in (c.lower() for c in table.columns):
                owners.append(table_name)
        if len(owners) == 1:
            return owners[0]
        if not owners and len(self.tables) == 1:
            return self.tables[0]
        return None

    def column_name(self, column: exp.Column, table: str) -> str:
        known = self.schema.table(table)
        if known is not None:
            for name in known.columns:
                if name.lower() == column.name.lower():
                    return name
        return column.name


_USES = ContentMemo()


def table_uses(expression: exp.Expression, schema: Schema) -> dict[str, TableUse]:
    """For each table of the statement, the columns its WHERE / JOIN ON / ORDER BY use.
    Memoised on the expression (one per SQL text: analyzers.sql.parse_sql) and the schema's
    catalogue's tables (`Schema.tables_key`: a copy of the schema with one more index shares
    the answers); the entry keeps the expression alive, so its id is not reused. The TableUses
    are shared: never change them."""
    key = (id(expression), schema.tables_key)
    entry = _USES.get(key, lambda: (expression, _shared_uses(expression, schema)))
    if entry[0] is not expression:  # cannot happen while the entry holds it; said plainly
        entry = (expression, _table_uses(expression, schema))
    return dict(entry[1])


def _shared_uses(expression: exp.Expression, schema: Schema) -> dict[str, TableUse]:
    """_table_uses, shared between schemas whose tables read by the statement have the same
    columns (the Worker projects of a monorepo often share their tables): the answer reads
    nothing else of the schema (ColumnResolver looks up only the statement's tables)."""
    tables = sorted(set(alias_map(expression).values()))
    columns = tuple(
        (name, tuple(known.columns) if (known := schema.table(name)) is not None else None)
        for name in tables
    )
    entry = _USES_BY_COLUMNS.get(
        (id(expression), columns), lambda: (expression, _table_uses(expression, schema))
    )
    if entry[0] is not expression:  # cannot happen while the entry holds it; said plainly
        return _table_uses(expression, schema)
    return entry[1]


_USES_BY_COLUMNS = ContentMemo()


def _table_uses(expression: exp.Expression, schema: Schema) -> dict[str, TableUse]:
    resolver = ColumnResolver(expression, schema)
    uses = {name: TableUse(name) for name in resolver.tables}
    conditions: list[exp.Expression] = []
    for where in find_all(expression, exp.Where):
        conditions.extend(_conjuncts(where.this))
    for join in find_all(expression, exp.Join):
        on = join.args.get("on")
        if isinstance(on, exp.Expression):
            conditions.extend(_conjuncts(on))
    for term in conditions:
        _classify(term, resolver, uses)
    order = expression.args.get("order")
    if isinstance(order, exp.Order):
        for ordered in order.expressions:
            inner = ordered.this if isinstance(ordered, exp.Ordered) else ordered
            desc = bool(ordered.args.get("desc")) if isinstance(ordered, exp.Ordered) else False
            if isinstance(inner, exp.Column):
                table = resolver.table_of(inner)
                if table in uses:
                    uses[table].order.append((resolver.column_name(inner, table), desc))
                    continue
            for use in uses.values():
                use.order_unresolved = True
    return uses


def _columns_of(node: exp.Expression) -> list[exp.Column]:
    return find_all(node, exp.Column)  # type: ignore[no-any-return]


def _classify(term: exp.Expression, resolver: ColumnResolver, uses: dict[str, TableUse]) -> None:
    sides: list[Any] = []  # sqlglot types operands as its `Expr` protocol
    bucket = "other"
    if isinstance(term, exp.EQ | exp.Is | exp.NullSafeEQ):
        sides, bucket = [term.left, term.right], "eq"
    elif isinstance(term, exp.In):
        sides, bucket = [term.this], "eq"
    elif isinstance(term, exp.GT | exp.GTE | exp.LT | exp.LTE):
        sides, bucket = [term.left, term.right], "range"
    elif isinstance(term, exp.Between):
        sides, bucket = [term.this], "range"
    if bucket != "other":
        placed = False
        for side in sides:
            if not isinstance(side, exp.Column):
                continue
            table = resolver.table_of(side)
            if table not in uses:
                continue
            others = [s for s in sides if s is not side]
            # `a.x = a.y` compares a table with itself: not usable to seek
            if any(resolver.table_of(c) == table for o in others for c in _columns_of(o)):
                continue
            joined = any(resolver.table_of(c) is not None for o in others for c in _columns_of(o))
            target = "join" if bucket == "eq" and joined else bucket
            getattr(uses[table], target).append(resolver.column_name(side, table))
            placed = True
        if placed:
            return
    for column in _columns_of(term):
        table = resolver.table_of(column)
        if table in uses:
            uses[table].other.append(resolver.column_name(column, table))


def table_reference_span(stmt: SqlStatement, table: str, alias: str | None = None) -> Span:
    """`FROM <table> [AS alias]`, `JOIN <table>`, `UPDATE <table>`; else the WHERE clause."""
    pattern = rf"\b(?:FROM|JOIN|UPDATE)\s+(?:\w+\s*\.\s*)?[\"`\[]?{re.escape(table)}[\"`\]]?\b"
    if alias and alias.lower() != table.lower():
        pattern += rf"(?:\s+(?:AS\s+)?{re.escape(alias)}\b)?"
    match = re.search(pattern, stmt.text, re.I)
    if match is not None:
        return stmt.span(match.start(), match.end())
    return stmt.find_span(r"\bWHERE\b.*", re.I | re.S)


def create_span(table: Table) -> Span | None:
    create = table.create
    if create is None:
        return None
    return create.find_span(r"CREATE\s+(?:TEMP\w*\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?\w+")


def words(text: str) -> str:
    """Comment-free, whitespace-collapsed statement text for messages."""
    text = re.sub(r"--[^\n]*", " ", text)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"\s+", " ", text).strip()


# -- how a DELETE prunes a table ----------------------------------------------------------------
# "key": one row (or a few) by its key (`WHERE id = ?`, `IN (…)`): an RPC deleting one item;
# "all": every row (`DELETE FROM t`); "drop": `DROP TABLE`; "range": by age or count (a
# comparison, `NOT IN (SELECT … LIMIT n)`, a subquery); "filter": another condition that can
# remove many rows (`WHERE status = 'done'`, `WHERE build != ?`); "unknown": text sqlglot could
# not parse (a trigger body), counted as pruning.
_ROW_KEYS = frozenset({"rowid", "oid", "_rowid_"})


def _pins_key(schema: Schema, table: str, eq: list[str]) -> bool:
    columns = {c.lower() for c in eq}
    if columns & _ROW_KEYS:
        return True
    known = schema.table(table)
    if known is not None and known.primary_key:
        if {c.lower() for c in known.primary_key} <= columns:
            return True
    return any(
        index.unique and {c.lower() for c in index.columns} <= columns
        for index in schema.indexes_of(table)
    )


def delete_kinds(stmt: SqlStatement, schema: Schema) -> dict[str, str]:
    """Tables this statement prunes, each with how (see above). Memoised on the statement
    under the schema's catalogue (`Schema.content_key`): an unchanged file's statements are the
    same objects in the next model, and scope-wide questions ask about every statement."""
    return dict(delete_kinds_kept(stmt, schema))


def delete_kinds_kept(stmt: SqlStatement, schema: Schema) -> dict[str, str]:
    """delete_kinds without the copy: the memo itself, never to be changed (the scope-wide
    passes over every statement on each keystroke only read it)."""
    memo = stmt.__dict__.get("_delete_kinds")
    key = schema.content_key
    if memo is None or memo[0] != key:
        if _may_prune(stmt.text):
            memo = stmt.__dict__["_delete_kinds"] = (key, _delete_kinds(stmt, schema))
        else:
            memo = stmt.__dict__["_delete_kinds"] = (key, {})
    return memo[1]  # type: ignore[no-any-return]


_PRUNE_WORDS = re.compile(r"delete|drop", re.I)


def may_prune(text: str) -> bool:
    """Whether a statement of this text may prune a table: delete_kinds_kept answers {} for
    any other, whatever the catalogue."""
    return _may_prune(text)


def _may_prune(text: str) -> bool:
    """Only a text with DELETE or DROP in it prunes a table (pruned_tables' patterns need the
    word, and sqlglot reads a Delete or a Drop only from it): every other statement (most of a
    project's) answers {} without its tree being walked. Once per text (a project repeats its
    statements' texts: a search per statement was most of the scope-wide pass of a cold check)."""
    found = _MAY_PRUNE.get(text)
    if found is None:
        if len(_MAY_PRUNE) >= _MAY_PRUNE_MAX:
            _MAY_PRUNE.clear()
        found = _MAY_PRUNE[text] = _PRUNE_WORDS.search(text) is not None
    return found


_MAY_PRUNE: dict[str, bool] = {}
_MAY_PRUNE_MAX = 65536


def _delete_kinds(stmt: SqlStatement, schema: Schema) -> dict[str, str]:
    found = {table: "unknown" for table in pruned_tables(stmt)}
    expression = stmt.expression
    if isinstance(expression, exp.Drop):
        for table in expression.args.get("tables") or expression.expressions or [expression.this]:
            if isinstance(table, exp.Table) and table.name:
                found[table.name.lower()] = "drop"
    elif isinstance(expression, exp.Delete) and isinstance(expression.this, exp.Table):
        table = expression.this.name.lower()
        where = expression.args.get("where")
        if where is None:
            found[table] = "all"
            return found
        if find_first(where, exp.Select, exp.Limit) is not None:
            found[table] = "range"  # `key IN (SELECT key … WHERE at < ? LIMIT n)`: a batch
            return found
        uses = table_uses(expression, schema)
        eq = uses[table].eq if table in uses else []
        if _pins_key(schema, table, eq):
            found[table] = "key"
        elif find_first(where, exp.LT, exp.LTE, exp.GT, exp.GTE) is not None:
            found[table] = "range"
        else:
            found[table] = "filter"
    return found
