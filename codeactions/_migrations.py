"""Schema migration steps for a Durable Object class, shared by the fixes that change a deployed
table (unbounded-table-growth's `expires_at`, schema-change-without-migration's missing column).

The mechanism the fixes write (or reuse when the class already has it):

- `private static readonly SQL_MIGRATIONS: ((sql: SqlStorage) => void)[]`, a list of steps;
- `runSqlMigrations()`, which records applied steps in `_sql_schema_migrations` (PRAGMA
  user_version is not allowed in Durable Objects) and runs each step once, in order, inside
  `transactionSync`;
- a call `this.runSqlMigrations();` right after the constructor statement that creates the table
  (inside `blockConcurrencyWhile` when the constructor uses it).

`CREATE TABLE IF NOT EXISTS` is never edited: it does nothing to a table that already exists, so
fresh and deployed databases only end with the same schema when the change is an `ALTER` step.
A new step is appended at the end of the list; deployed steps are never edited or reordered.
"""

from __future__ import annotations

from tree_sitter import Node

from analyzers.classes import DurableObjectClass
from analyzers.model import ProjectModel
from analyzers.tsutil import contains, node_text, walk_type
from codeactions._tsedit import append_member, indent_at, line_start, statement_of
from codeactions.fix import Edit

MIGRATIONS_FIELD = "SQL_MIGRATIONS"
RUNNER = "runSqlMigrations"
MIGRATIONS_TABLE = "_sql_schema_migrations"


class CannotMigrate(Exception):
    pass


def ctx_expr(cls: DurableObjectClass) -> str:
    """Source text reaching the object's state from inside the class (`this.ctx`, …)."""
    if "this.ctx" in cls.aliases.ctx:
        return "this.ctx"
    for alias in sorted(cls.aliases.ctx):
        if alias.startswith("this."):
            return alias
    raise CannotMigrate("no `this.…` path to the object's state")


def class_member(cls: DurableObjectClass, name: str) -> Node | None:
    body = cls.body
    if body is None:
        return None
    data = cls.file.data
    for member in body.named_children:
        field = member.child_by_field_name("name")
        if field is not None and node_text(data, field) == name:
            return member
    return None


def constructor_hook(cls: DurableObjectClass, model: ProjectModel, table: str) -> Node:
    """The constructor statement after which the migrations run: the one creating the table."""
    ctor = cls.constructor
    if ctor is None:
        raise CannotMigrate("no constructor")
    schema = model.schema_for(cls.file.path)
    known = schema.table(table)
    if known is None or known.create is None:
        raise CannotMigrate("no CREATE TABLE for the table")
    create = known.create
    if create.call_file is not cls.file or not contains(ctor, create.call):
        raise CannotMigrate("the table is not created in the constructor")
    return statement_of(create.call)


def step_text(comments: list[str], body: list[str], indent: str, unit: str) -> str:
    """One step of the list: `// comments`, then `(sql) => { body }`, at member indent + 1."""
    i2 = indent + unit
    i3 = i2 + unit
    lines = [f"{i2}// {c}\n" for c in comments]
    lines.append(f"{i2}(sql) => {{\n")
    lines.extend(f"{i3}{line}\n" for line in body)
    lines.append(f"{i2}}},\n")
    return "".join(lines)


def runner_text(cls: DurableObjectClass, ctx: str, indent: str, unit: str, quote: str) -> str:
    q = quote
    i2, i3, i4 = indent + unit, indent + unit * 2, indent + unit * 3
    return (
        f"{indent}private {RUNNER}(): void {{\n"
        f"{i2}const sql = {ctx}.storage.sql;\n"
        f"{i2}sql.exec(\n"
        f"{i3}{q}CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (id INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL){q},\n"
        f"{i2});\n"
        f"{i2}const applied = sql\n"
        f"{i3}.exec<{{ id: number }}>({q}SELECT COALESCE(MAX(id), 0) AS id FROM {MIGRATIONS_TABLE}{q})\n"
        f"{i3}.one().id;\n"
        f"{i2}{cls.name}.{MIGRATIONS_FIELD}.forEach((step, index) => {{\n"
        f"{i3}if (index < applied) {{\n"
        f"{i4}return;\n"
        f"{i3}}}\n"
        f"{i3}{ctx}.storage.transactionSync(() => {{\n"
        f"{i4}step(sql);\n"
        f"{i4}sql.exec({q}INSERT INTO {MIGRATIONS_TABLE} (id, applied_at) VALUES (?, ?){q}, index + 1, Date.now());\n"
        f"{i3}}});\n"
        f"{i2}}});\n"
        f"{indent}}}"
    )


def field_text(step: str, indent: str) -> str:
    return (
        f"{indent}// Schema changes of this object's SQLite database. Each step runs once, in order,\n"
        f"{indent}// from the constructor (inside blockConcurrencyWhile); applied steps are recorded in\n"
        f"{indent}// {MIGRATIONS_TABLE} (PRAGMA user_version is not available in Durable Objects).\n"
        f"{indent}// Append new steps; never edit or reorder one that has been deployed.\n"
        f"{indent}private static readonly {MIGRATIONS_FIELD}: ((sql: SqlStorage) => void)[] = [\n"
        f"{step}"
        f"{indent}];"
    )


def existing_steps_text(cls: DurableObjectClass) -> str | None:
    """The source of the class's SQL_MIGRATIONS list, when it has one."""
    member = class_member(cls, MIGRATIONS_FIELD)
    if member is None:
        return None
    return node_text(cls.file.data, member)


def add_step(
    cls: DurableObjectClass,
    model: ProjectModel,
    table: str,
    step: str,
    ctx: str,
    indent: str,
    unit: str,
    quote: str,
) -> list[Edit]:
    """Edits appending `step` (from step_text) to the class's migrations: the list's end when the
    class has SQL_MIGRATIONS, else the list, its runner and the constructor call, created."""
    src = cls.file.data
    path = cls.file.path
    migrations = class_member(cls, MIGRATIONS_FIELD)
    if migrations is not None:
        array = next(iter(walk_type(migrations, "array")), None)
        if array is None:
            raise CannotMigrate(f"{MIGRATIONS_FIELD} is not an array literal")
        close = array.end_byte - 1
        at = line_start(src, close)
        if src[at:close].strip():
            raise CannotMigrate(f"{MIGRATIONS_FIELD} ends on a line with other code")
        return [Edit(path, at, at, step)]
    foreign = [
        s for s in model.statements_in_scope(path) if MIGRATIONS_TABLE in s.text and s.cls is cls
    ]
    if foreign:
        # the class keeps its own migrations bookkeeping: a step belongs there, by hand
        raise CannotMigrate(f"the class already writes {MIGRATIONS_TABLE} its own way")
    hook = constructor_hook(cls, model, table)
    hook_indent = indent_at(src, hook.start_byte)
    return [
        Edit(path, hook.end_byte, hook.end_byte, f"\n{hook_indent}this.{RUNNER}();"),
        append_member(cls, field_text(step, indent)),
        append_member(cls, runner_text(cls, ctx, indent, unit, quote)),
    ]
