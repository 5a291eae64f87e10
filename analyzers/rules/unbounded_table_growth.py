"""unbounded-table-growth: a table that receives INSERTs and is never pruned."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.generated_names import SCHEDULE_TABLE
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import SCOPE_INDEXES
from durable_harden.analyzers.rules._alarms import reached_from_constructor, this_calls
from durable_harden.analyzers.rules._common import (
    REF_ALARMS,
    REF_D1_FOREIGN_KEYS,
    REF_LIMITS,
    REF_RULES,
    REF_SQL,
    REF_SQLITE_ALTER,
    SQL_REACH,
)
from durable_harden.analyzers.rules._sql import (
    create_span,
    delete_kinds_kept,
    deletes_dynamic_table,
    insert_head_span,
    inserted_table,
    may_prune,
)
from durable_harden.analyzers.rules._sqlexec import binding_args
from durable_harden.analyzers.schema import Schema, is_reserved_table
from durable_harden.analyzers.splice import lineage, new_lineage
from durable_harden.analyzers.sql import (
    SqlStatement,
    exp,  # sqlglot itself on first use
)
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, callee_parts, walk_type

DOCS = RuleDocs(
    what="""
Reports a SQLite table that the project inserts rows into (`INSERT`, `INSERT OR REPLACE`,
`REPLACE`, upserts) but never prunes anywhere in the same Worker project. Pruning that bounds
the table counts: a `DELETE` by age or count (a comparison such as `created_at < ?`, a
`NOT IN (SELECT … LIMIT n)` subquery), a `DELETE` whose condition can remove many rows
(`WHERE status = 'done'`), a `DELETE` of every row (wherever it runs: the tool cannot tell a
new game's reset from a "clear all" button), a `DROP TABLE` in `alarm()` / `webSocketClose()` /
`webSocketError()`, `ctx.storage.deleteAll()` in the class that writes it, and the pruning of a
parent table whose rows the table references `ON DELETE CASCADE` (Cloudflare documents foreign
keys as enforced by default on D1, which is built on Durable Object SQLite storage; workerd
confirms it for a Durable Object: `PRAGMA foreign_keys` reads 1 and a cascade deletes the child
rows, checked by `tests/runtime/behaviour/rate-limiter/platform-facts.test.ts`). Pruning that does
not bound the table does not count: a `DELETE` of one row by its primary key or a UNIQUE column
(`WHERE id = ?`, an RPC removing one item) outside those handlers (in `alarm()` it drains a
queue of processed rows), and a `DROP TABLE` elsewhere (a reset path); the message then says
so rather than that nothing deletes from the table.
Soft deletes (`UPDATE … SET deleted_at`) are not deletes: such rows grow too. The diagnostic sits on the first
`INSERT INTO <table>`; the other INSERTs and the `CREATE TABLE` are related information.

Only INSERTs that run per request or event are growth paths. An INSERT that runs only while the
object starts (in the constructor, in a `blockConcurrencyWhile`/`transactionSync` callback there,
or in a private method only the constructor reaches, such as a `migrateSchema()` copying an old
table into a rebuilt one) writes a seed row or a copy: it is related information, never where the
diagnostic sits, and a table with no other INSERT is not reported.

Not reported: tables whose every INSERT writes a constant primary key (a bounded set of rows,
such as a singleton settings row; a literal in the SQL or a literal argument bound to its `?`,
as in `INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)` with `"schema_version", 1`), migration bookkeeping tables, durable-harden's own
`_alarm_schedule` (one row per alarm kind), and tables a `DELETE FROM ${name}` with a dynamic
table name may prune.
"""
    + SQL_REACH,
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
        f"{REF_D1_FOREIGN_KEYS} (foreign keys enforced by default, ON DELETE CASCADE)",
    ),
)


def _scope_key(model: ProjectModel, path: Path) -> Path:
    config = model.config_for_path(path)
    return config.root if config is not None else model.root


def _deletes_all(cls: DurableObjectClass) -> bool:
    data = cls.file.data
    for call in walk_type(cls.node, "call_expression", file=cls.file):
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
    """Every primary-key value of the INSERT is a literal: it can only ever write a fixed row.
    Memoised on the statement under the catalogue (`Schema.content_key`) and the table: a
    function of the SQL text and of the exec() call's arguments (a moved statement's call is
    the same text)."""
    memo = stmt.__dict__.get("_bounded_key_insert")
    key = (schema.content_key, table)
    if memo is None or memo[0] != key:
        memo = stmt.__dict__["_bounded_key_insert"] = (key, _bounded_key(stmt, schema, table))
    return memo[1]  # type: ignore[no-any-return]


def _bounded_key(stmt: SqlStatement, schema: Schema, table: str) -> bool:
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
    bound = _literal_bindings(stmt, values)
    for row in values.expressions:
        if not isinstance(row, exp.Tuple):
            return False
        for col in pk:
            value = row.expressions[columns.index(col)]
            if isinstance(value, exp.Literal):
                continue
            if not (isinstance(value, exp.Placeholder) and bound.get(id(value), False)):
                return False
    return True


_LITERAL_ARGS = frozenset({"string", "number"})


def _literal_bindings(stmt: SqlStatement, values: exp.Values) -> dict[int, bool]:
    """For each `?` of the VALUES rows, whether the argument bound to it is a literal
    (`exec("INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)", "schema_version", 1)`). Only when
    every `?` of the statement sits in those rows and the call's arguments are its bindings one
    for one; otherwise nothing is known."""
    if stmt.statements_in_call != 1 or stmt.has_spread_binding or stmt.binding_start is None:
        return {}
    expression = stmt.expression
    if expression is None:
        return {}
    in_rows = [
        node
        for row in values.expressions
        for node in row.find_all(exp.Placeholder, bfs=False)
        if node.name in {"", "?"}  # a bare `?`, not `:name` / `?NNN`
    ]
    everywhere = list(expression.find_all(exp.Placeholder, bfs=False))
    args = binding_args(stmt)
    if len(in_rows) != len(everywhere) or len(args) != len(in_rows):
        return {}
    return {id(node): _is_literal(arg) for node, arg in zip(in_rows, args, strict=True)}


def _is_literal(arg: Node) -> bool:
    if arg.type == "template_string":
        return not any(c.type == "template_substitution" for c in arg.children)
    return arg.type in _LITERAL_ARGS


def _private(cls: DurableObjectClass, name: str) -> bool:
    """A method no caller outside the class reaches (`private m()`, `#m()`): not an RPC entry."""
    if name.startswith("#"):
        return True
    node = cls.methods[name]
    return any(
        c.type == "accessibility_modifier"
        and cls.file.data[c.start_byte : c.end_byte] == b"private"
        for c in node.children
    )


def setup_methods(cls: DurableObjectClass) -> set[str]:
    """The constructor and the private methods only it reaches (a schema set-up or migration
    method such as `this.migrateSchema()`): code that runs once per start, never per request."""
    reached = reached_from_constructor(cls)
    setup = {n for n in reached if n == "constructor" or _private(cls, n)}
    changed = True
    while changed:
        changed = False
        for name, node in cls.methods.items():
            if name in setup:
                continue
            called = this_calls(cls, node) & setup - {"constructor"}
            if called:
                setup -= called
                changed = True
    return setup


# callbacks that run at once, inside the code that passes them
_RUN_NOW = frozenset({"blockConcurrencyWhile", "transactionSync", "transaction"})


def _run_in_method(cls: DurableObjectClass, node: Node) -> str | None:
    """The class method `node` runs in when that method runs (through callbacks run at once,
    such as `blockConcurrencyWhile(async () => …)`); None inside a callback that runs later."""
    data = cls.file.data
    current = node.parent
    while current is not None:
        if current.type == "method_definition":
            name = current.child_by_field_name("name")
            text = data[name.start_byte : name.end_byte].decode() if name is not None else ""
            return text if cls.methods.get(text) == current else None
        if current.type in FUNCTION_TYPES:
            args = current.parent
            call = args.parent if args is not None and args.type == "arguments" else None
            parts = callee_parts(data, call) if call is not None else None
            if parts is None or parts[1] not in _RUN_NOW:
                return None
        current = current.parent
    return None


def is_setup_insert(stmt: SqlStatement, setup: dict[int, set[str]]) -> bool:
    """An INSERT that runs only while the object starts (a seed row, a migration's copy of an
    old table): not a path by which the table grows."""
    cls = stmt.cls
    if cls is None or stmt.call_file is not cls.file:
        return False
    method = _run_in_method(cls, stmt.call)
    if method is None:
        return False
    if id(cls) not in setup:
        setup[id(cls)] = setup_methods(cls)
    return method in setup[id(cls)]


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


def _add_cascades(schema: Schema, pruned: set[str]) -> None:
    """A table whose rows reference a pruned table `ON DELETE CASCADE` is pruned with it
    (foreign keys: see DOCS)."""
    for _ in range(8):
        grown = {
            name
            for name in schema.tables
            if name not in pruned and schema.cascade_parents(name) & pruned
        }
        if not grown:
            return
        pruned |= grown


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class GrowthState:
    """What the fix needs: the INSERTs into the table (sorted by file and offset) and the class
    of the first one."""

    inserts: tuple[SqlStatement, ...]
    cls: DurableObjectClass | None


def check(model: ProjectModel) -> Iterator[Finding]:
    by_scope: dict[Path, list[SqlStatement]] = {}
    roots: dict[Path, Path] = {}  # scope root per file: one look-up per file, not per statement
    same: dict[Path, Path] = {}  # one object per root (config.root makes a new one per call)
    for stmt in model.statements:
        path = stmt.file.path
        root = roots.get(path)
        if root is None:
            root = _scope_key(model, path)
            root = roots[path] = same.setdefault(root, root)
        by_scope.setdefault(root, []).append(stmt)
    for statements in by_scope.values():
        pruned: set[str] = set()
        dynamic_delete = False
        schema = model.schema_for(statements[0].file.path)
        partial: dict[str, str] = {}  # table -> how it is deleted from without being bounded
        for stmt in statements:
            for deleted, kind in delete_kinds_kept(stmt, schema).items():
                if is_retention(kind, stmt):
                    pruned.add(deleted)
                else:
                    partial.setdefault(deleted, kind)
            dynamic_delete = dynamic_delete or deletes_dynamic_table(stmt)
        if dynamic_delete:
            continue
        _add_cascades(schema, pruned)
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
        setup: dict[int, set[str]] = {}
        for table, every in sorted(inserts.items()):
            every.sort(key=lambda s: (str(s.file.path), s.offsets[0] if s.offsets else 0))
            yield from _table_findings(table, every, schema, partial.get(table), setup)


def _table_findings(
    table: str,
    every: list[SqlStatement],
    schema: Schema,
    how: str | None,
    setup: dict[int, set[str]],
) -> Iterator[Finding]:
    """The finding about one table that is inserted into (`every` INSERT, sorted by file and
    offset) and not pruned; `how`: the first way it is deleted from without being bounded."""
    # the table grows through the INSERTs that run per request or event; a seed row or a
    # migration's copy written while the object starts is no growth path (the TTL fix
    # writes expires_at where the rows come from, and leaves those alone)
    writes = [s for s in every if not is_setup_insert(s, setup)]
    seeds = [s for s in every if is_setup_insert(s, setup)]
    if not writes:
        return
    if all(_bounded_key_insert(s, schema, table) for s in writes):
        return
    classes = {id(s.cls): s.cls for s in writes if s.cls is not None}
    if any(_deletes_all(cls) for cls in classes.values()):
        return
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
    for seed in seeds:
        related.append(
            Related(
                insert_head_span(seed),
                f"an INSERT into `{name}` run while the object starts (not a growth path)",
            )
        )
    message_id = (
        "no-retention" if how is None else "deletes-by-key" if how == "key" else "dropped-in-reset"
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


# -- the language server's path: the scope's facts kept across analyses ----------------------


@dataclass(eq=False)
class GrowthIndex:
    """What check() gathers over a scope's statements (which tables are pruned, how, the
    inserts per table, a dynamic DELETE), kept per scope by the language server and updated by
    the statements that changed between two analyses, so a keystroke costs the changed
    statements, not the scope's. `findings` answers for the tables some published file inserts
    into: a finding sits on a table's first INSERT, so no other table's can land in a published
    file.

    Statements are known by their lineage (`splice.lineage`): a statement the splice moved
    past an edit shares its origin's, and every fact gathered here is a function of what a move
    keeps (text, method, loose flag, file path, the content memos) and of the catalogue
    (`Schema.content_key`). So a moved statement is neither removed nor added; `members` then
    maps each lineage to the statement of the latest list (which `findings` reads: holding an
    older one would keep its version's tree alive)."""

    content_key: str
    members: dict[int, SqlStatement]  # lineage -> the statement of the latest list
    retention: dict[str, int]  # table -> retention deletes
    partial: dict[str, dict[int, str]]  # table -> other deletes (lineage -> their kind)
    dynamic: set[int]  # `DELETE FROM ${table}`
    inserts: dict[str, set[int]]  # table -> INSERTs (not loose)
    inserted_by_path: dict[Path, dict[str, int]]  # file -> tables its INSERTs write, how many
    # the statements whose text may prune a table (`_sql.may_prune`): the only ones whose facts
    # read the catalogue (`retention` and `partial`; every other fact is one of the content)
    pruners: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, statements: list[SqlStatement], schema: Schema) -> GrowthIndex:
        now = _by_lineage(statements)
        index = cls(schema.content_key, {}, {}, {}, set(), {}, {})
        for token, stmt in now.items():
            index.add(token, stmt, schema)
        GROWTH_COUNTS["added"] += len(now)
        return index

    def add(self, token: int, stmt: SqlStatement, schema: Schema | None) -> None:
        """`schema` None: the catalogue's facts of a pruner left to the caller."""
        self.members[token] = stmt
        if may_prune(stmt.text):
            self.pruners.add(token)
            if schema is not None:
                self._add_pruned(token, stmt, schema)
        if deletes_dynamic_table(stmt):
            self.dynamic.add(token)
        table = None if stmt.loose else inserted_table(stmt)
        if table is not None:
            self.inserts.setdefault(table, set()).add(token)
            counts = self.inserted_by_path.setdefault(stmt.file.path, {})
            counts[table] = counts.get(table, 0) + 1

    def _add_pruned(self, token: int, stmt: SqlStatement, schema: Schema) -> None:
        for deleted, kind in delete_kinds_kept(stmt, schema).items():
            if is_retention(kind, stmt):
                self.retention[deleted] = self.retention.get(deleted, 0) + 1
            else:
                self.partial.setdefault(deleted, {})[token] = kind

    def remove(self, token: int, schema: Schema | None) -> None:
        """`schema` None: the catalogue's facts are not kept (the caller reads them again)."""
        stmt = self.members.pop(token)
        if token in self.pruners:
            self.pruners.discard(token)
            for deleted, kind in delete_kinds_kept(stmt, schema).items() if schema else ():
                if is_retention(kind, stmt):
                    self.retention[deleted] -= 1
                    if not self.retention[deleted]:
                        del self.retention[deleted]
                else:
                    del self.partial[deleted][token]
                    if not self.partial[deleted]:
                        del self.partial[deleted]
        self.dynamic.discard(token)
        table = None if stmt.loose else inserted_table(stmt)
        if table is not None:
            self.inserts[table].discard(token)
            if not self.inserts[table]:
                del self.inserts[table]
            counts = self.inserted_by_path[stmt.file.path]
            counts[table] -= 1
            if not counts[table]:
                del counts[table]
                if not counts:
                    del self.inserted_by_path[stmt.file.path]

    def updated(self, statements: list[SqlStatement], schema: Schema) -> GrowthIndex:
        """This index for another list of the scope's statements (itself, changed in place).
        Under another catalogue (a schema typed in), the facts of its content are kept the same
        way and those that read the catalogue (the pruners' deletes) are read again."""
        other = schema.content_key != self.content_key
        if other:
            self.retention, self.partial = {}, {}
            self.content_key = schema.content_key
        by_catalogue = None if other else schema  # None: the pruners' deletes read below
        now = _by_lineage(statements)
        members = self.members
        # set differences of the lineages (at C speed): the moved statements are in neither
        gone = members.keys() - now.keys()
        for token in sorted(gone):
            self.remove(token, by_catalogue)
        joined = [token for token in now.keys() - members.keys()]
        for token in sorted(joined):
            self.add(token, now[token], by_catalogue)
        GROWTH_COUNTS["added"] += len(joined)
        GROWTH_COUNTS["removed"] += len(gone)
        GROWTH_COUNTS["kept"] += len(now) - len(joined)
        self.members = now  # the same lineages: the current statements
        if other:
            for token in sorted(self.pruners):
                self._add_pruned(token, now[token], schema)
            GROWTH_COUNTS["catalogue"] += len(self.pruners)
        return self

    def resolved(self) -> dict[str, Any]:
        """The index with each lineage replaced by the id of its current statement (tests
        compare a kept index with one built afresh)."""
        now = self.members
        return {
            "members": {id(now[t]) for t in self.members},
            "retention": dict(self.retention),
            "partial": {
                table: {id(now[t]): kind for t, kind in kinds.items()}
                for table, kinds in self.partial.items()
            },
            "dynamic": {id(now[t]) for t in self.dynamic},
            "inserts": {table: {id(now[t]) for t in ts} for table, ts in self.inserts.items()},
            "inserted_by_path": self.inserted_by_path,
        }

    def findings(
        self, statements: list[SqlStatement], schema: Schema, published: set[Path]
    ) -> Iterator[Finding]:
        """check()'s findings about the tables a published file inserts into (`statements`:
        the scope's, in model order, for the order of ties)."""
        if self.dynamic:
            return
        tables = {t for path in published for t in self.inserted_by_path.get(path, ())}
        base = set(self.retention)
        at = statements.index  # eq=False statements: by identity; few per table
        now = self.members
        setup: dict[int, set[str]] = {}
        for table in sorted(tables):
            if _is_bookkeeping(table) or self._pruned(table, base, schema):
                continue
            every = _in_check_order([now[t] for t in self.inserts[table]], at)
            deletes = [(now[t], kind) for t, kind in (self.partial.get(table) or {}).items()]
            how = None
            if deletes:
                kinds = {kind for _, kind in deletes}
                how = kinds.pop() if len(kinds) == 1 else min(deletes, key=lambda d: at(d[0]))[1]
            yield from _table_findings(table, every, schema, how, setup)

    @staticmethod
    def _pruned(table: str, base: set[str], schema: Schema) -> bool:
        """check()'s `pruned` for one table: pruned itself, or through a chain of at most 8
        ON DELETE CASCADE parents (the rounds of _add_cascades) to a pruned table."""
        if table in base:
            return True
        level = {table}
        seen = {table}
        for _ in range(8):
            parents: set[str] = set()
            for name in level:
                if schema.table(name) is not None:
                    parents |= schema.cascade_parents(name)
            if parents & base:
                return True
            level = parents - seen
            seen |= parents
            if not level:
                return False
        return False


def _in_check_order(
    inserts: list[SqlStatement], at: Callable[[SqlStatement], int]
) -> list[SqlStatement]:
    """The INSERTs sorted by (path, first offset, place in the scope's list): `at` (a search of
    the scope's list, thousands of statements at 1,000 files) is asked only when two INSERTs
    share a path and offset."""
    keys = [(str(s.file.path), s.offsets[0] if s.offsets else 0) for s in inserts]
    if len(set(keys)) == len(keys):
        return [s for _, s in sorted(zip(keys, inserts, strict=True), key=_first)]
    return sorted(
        inserts, key=lambda s: (str(s.file.path), s.offsets[0] if s.offsets else 0, at(s))
    )


_first = operator.itemgetter(0)


# how GrowthIndex found the statements of its updates (tests read them; never reset)
GROWTH_COUNTS = {"added": 0, "removed": 0, "kept": 0, "catalogue": 0}


_LINEAGE_OF = operator.attrgetter("_lineage")


def _by_lineage(statements: list[SqlStatement]) -> dict[int, SqlStatement]:
    """The statements by lineage, in order. Two statements of one list never share one (the
    splice moves each statement once per model); if they did, the later one is given a new
    lineage (its facts are then read afresh)."""
    tokens = list(map(_LINEAGE_OF, statements))  # at C speed; None where never asked
    if None in tokens:
        at = tokens.index(None)
        while True:
            tokens[at] = lineage(statements[at])
            try:
                at = tokens.index(None, at + 1)
            except ValueError:
                break
    now = dict(zip(tokens, statements, strict=True))
    if len(now) != len(statements):
        now = {}
        for stmt in statements:
            token = lineage(stmt)
            if token in now:
                token = new_lineage(stmt)
            now[token] = stmt
    return now


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

SCOPE_INDEXES[RULE.id] = GrowthIndex  # the language server keeps it per scope (incremental.py)
