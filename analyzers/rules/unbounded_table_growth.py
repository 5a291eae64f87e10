"""unbounded-table-growth: a table that receives INSERTs and is never pruned."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.generated_names import SCHEDULE_TABLE
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import (
    REF_ALARMS,
    REF_LIMITS,
    REF_RULES,
    REF_SQL,
    REF_SQLITE_ALTER,
)
from durable_harden.analyzers.rules._sql import (
    create_span,
    delete_kinds,
    deletes_dynamic_table,
    insert_head_span,
    inserted_table,
)
from durable_harden.analyzers.schema import Schema, is_reserved_table
from durable_harden.analyzers.sql import (
    SqlStatement,
    exp,  # sqlglot itself on first use
)
from durable_harden.analyzers.tsutil import callee_parts, walk_type

DOCS = RuleDocs(
    what="""
Reports a SQLite table that the project inserts rows into (`INSERT`, `INSERT OR REPLACE`,
`REPLACE`, upserts) but never prunes anywhere in the same Worker project. Pruning that bounds
the table counts: a `DELETE` by age or count (a comparison such as `created_at < ?`, a
`NOT IN (SELECT … LIMIT n)` subquery), a `DELETE` whose condition can remove many rows
(`WHERE status = 'done'`), a `DELETE` of every row (wherever it runs: the tool cannot tell a
new game's reset from a "clear all" button), a `DROP TABLE` in `alarm()` / `webSocketClose()` /
`webSocketError()`, and `ctx.storage.deleteAll()` in the class that writes it. Pruning that does
not bound the table does not count: a `DELETE` of one row by its primary key or a UNIQUE column
(`WHERE id = ?`, an RPC removing one item) outside those handlers (in `alarm()` it drains a
queue of processed rows), and a `DROP TABLE` elsewhere (a reset path); the message then says
so rather than that nothing deletes from the table.
Soft deletes (`UPDATE … SET deleted_at`) are not deletes: such rows grow too. The diagnostic sits on the first
`INSERT INTO <table>`; the other INSERTs and the `CREATE TABLE` are related information.

Not reported: tables whose every INSERT writes a constant primary key (a bounded set of rows,
such as a singleton settings row), migration bookkeeping tables, durable-harden's own
`_alarm_schedule` (one row per alarm kind), and tables a `DELETE FROM ${name}` with a dynamic
table name may prune.
""",
    why="""
A SQLite-backed Durable Object stores at most 10 GB, and every row read or written is billed.
A table that only grows (chat history, events, sessions) eventually makes queries slower and more
expensive and, at the limit, makes writes fail for that object. Durable Objects have no
built-in TTL: rows are deleted only by code the object runs, usually from `alarm()`.
""",
    example="""
```ts
// Reported: messages only ever grows
this.ctx.storage.sql.exec("INSERT INTO messages (room, body, created_at) VALUES (?, ?, ?)", …);

// Not reported: an alarm deletes expired rows and re-arms while rows remain
async alarm() {
  this.ctx.storage.sql.exec("DELETE FROM messages WHERE expires_at <= ?", Date.now());
  …
}
```
""",
    references=(
        f"{REF_LIMITS} (10 GB per SQLite-backed object)",
        f"{REF_SQL} (rows read/written are billed)",
        f"{REF_ALARMS} (one alarm per object; setAlarm replaces it)",
        f"{REF_RULES}",
        f"{REF_SQLITE_ALTER} (CREATE TABLE IF NOT EXISTS never changes an existing table)",
    ),
)


def _scope_key(model: ProjectModel, path: Path) -> Path:
    config = model.config_for_path(path)
    return config.root if config is not None else model.root


def _deletes_all(cls: DurableObjectClass) -> bool:
    data = cls.file.data
    for call in walk_type(cls.node, "call_expression"):
        parts = callee_parts(data, call)
        if parts is None or parts[1] != "deleteAll":
            continue
        receiver = parts[0]
        if (
            receiver in cls.aliases.storage
            or receiver.endswith(".storage")
            or receiver == "storage"
        ):
            return True
    return False


def _bounded_key_insert(stmt: SqlStatement, schema: Schema, table: str) -> bool:
    """Every primary-key value of the INSERT is a literal: it can only ever write a fixed row."""
    known = schema.table(table)
    expression = stmt.expression
    if known is None or not known.primary_key or not isinstance(expression, exp.Insert):
        return False
    target = expression.this
    if not isinstance(target, exp.Schema):
        return False
    columns = [c.name.lower() for c in target.expressions if isinstance(c, exp.Identifier)]
    values = expression.expression
    if not isinstance(values, exp.Values):
        return False
    pk = [c.lower() for c in known.primary_key]
    if not all(c in columns for c in pk):
        return False
    for row in values.expressions:
        if not isinstance(row, exp.Tuple):
            return False
        for col in pk:
            value = row.expressions[columns.index(col)]
            if not isinstance(value, exp.Literal):
                return False
    return True


# durable-harden's own alarm schedule (SCHEDULE_TABLE, codeactions/_alarm.py): one row per kind
# (its PRIMARY KEY), and the kinds are the fixed cases of the generated alarm() dispatcher, so it
# never grows


def _is_bookkeeping(table: str) -> bool:
    return (
        "migration" in table
        or table == SCHEDULE_TABLE
        or is_reserved_table(table)
        or table.startswith("sqlite_")
    )


# handlers the runtime calls on an object's own lifecycle: a DROP there is retention
LIFECYCLE_METHODS = frozenset({"alarm", "webSocketClose", "webSocketError"})


def is_retention(kind: str, stmt: SqlStatement) -> bool:
    """Does a delete of this kind bound the table? A delete by age or count, by a condition
    that removes many rows, or of every row does; a delete of one row by its key (an RPC
    removing one item) does not, nor does a `DROP TABLE` outside the object's lifecycle
    handlers (a reset path)."""
    if kind == "key":
        # one row by its key: an RPC removing one item does not bound the table; in alarm()
        # it is a queue drained of the rows it processed
        return stmt.method in LIFECYCLE_METHODS
    if kind == "drop":
        return stmt.method in LIFECYCLE_METHODS
    return True


@dataclass(frozen=True)
class GrowthState:
    """What the fix needs: the INSERTs into the table (sorted by file and offset) and the class
    of the first one."""

    inserts: tuple[SqlStatement, ...]
    cls: DurableObjectClass | None


def check(model: ProjectModel) -> Iterator[Finding]:
    by_scope: dict[Path, list[SqlStatement]] = {}
    for stmt in model.statements:
        by_scope.setdefault(_scope_key(model, stmt.file.path), []).append(stmt)
    for statements in by_scope.values():
        pruned: set[str] = set()
        dynamic_delete = False
        schema = model.schema_for(statements[0].file.path)
        partial: dict[str, str] = {}  # table -> how it is deleted from without being bounded
        for stmt in statements:
            for deleted, kind in delete_kinds(stmt, schema).items():
                if is_retention(kind, stmt):
                    pruned.add(deleted)
                else:
                    partial.setdefault(deleted, kind)
            dynamic_delete = dynamic_delete or deletes_dynamic_table(stmt)
        if dynamic_delete:
            continue
        inserts: dict[str, list[SqlStatement]] = {}
        for stmt in statements:
            if stmt.loose:
                continue  # a literal we cannot see run against this object's storage
            table = inserted_table(stmt)
            if table is None or table in pruned or _is_bookkeeping(table):
                continue
            inserts.setdefault(table, []).append(stmt)
        if not inserts:
            continue
        for table, writes in sorted(inserts.items()):
            writes.sort(key=lambda s: (str(s.file.path), s.offsets[0] if s.offsets else 0))
            if all(_bounded_key_insert(s, schema, table) for s in writes):
                continue
            classes = {id(s.cls): s.cls for s in writes if s.cls is not None}
            if any(_deletes_all(cls) for cls in classes.values()):
                continue
            first = writes[0]
            known = schema.table(table)
            name = known.name if known is not None else table
            related: list[Related] = []
            if known is not None:
                span = create_span(known)
                if span is not None:
                    related.append(Related(span, f"`{name}` is created here"))
            for other in writes[1:]:
                related.append(Related(insert_head_span(other), f"another INSERT into `{name}`"))
            how = partial.get(table)
            message_id = (
                "no-retention"
                if how is None
                else "deletes-by-key"
                if how == "key"
                else "dropped-in-reset"
            )
            never = (
                "nothing ever deletes from it"
                if how is None
                else "its only DELETEs remove one row by its key"
                if how == "key"
                else "it is only dropped in a reset path"
            )
            yield RULE.finding(
                message_id,
                f"Table `{name}` receives INSERTs but {never}: it grows "
                "until the object's 10 GB limit. Give rows an expiry and delete expired rows "
                "from `alarm()`.",
                insert_head_span(first),
                related,
                data={
                    "table": name,
                    "class": first.cls.name if first.cls is not None else None,
                    "inserts": [[str(s.file.path), s.offsets[0], s.offsets[-1]] for s in writes],
                    "create": (
                        [str(known.create.file.path), known.create.offsets[0]]
                        if known is not None and known.create is not None
                        else None
                    ),
                },
                state=GrowthState(tuple(writes), first.cls),
            )


RULE = Rule(
    id="unbounded-table-growth",
    title="A table grows without bound",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "no-retention": "a table receives INSERTs and nothing ever deletes from it",
        "deletes-by-key": "a table receives INSERTs and its only DELETEs remove one row by its key",
        "dropped-in-reset": "a table receives INSERTs and is only dropped in a reset path",
    },
)
