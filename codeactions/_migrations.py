"""Writing schema migration steps for a Durable Object class, shared by the fixes that change a
deployed table (unbounded-table-growth's `expires_at`, schema-change-without-migration's missing
column).

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

Size (over 500 lines): writing a step in the fix's own list and in each recognised shape of a
project's list (`_migration_lists.py` recognises them) share the rendering helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, state_path
from durable_harden.analyzers.generated_names import MIGRATIONS_FIELD, MIGRATIONS_TABLE
from durable_harden.analyzers.generated_names import MIGRATIONS_RUNNER as RUNNER
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.tsutil import (
    contains,
    node_text,
    string_value,
    walk_type,
)
from durable_harden.codeactions._migration_lists import (
    _FUNCS,
    CannotMigrate,
    Mechanism,
    Step,
    StepSql,
    class_member,
    find_mechanism,
)
from durable_harden.codeactions._tsedit import (
    append_member,
    indent_at,
    indent_unit,
    line_start,
    quote_char,
    statement_of,
)
from durable_harden.codeactions.fix import Edit


def ctx_expr(cls: DurableObjectClass) -> str:
    """Source text reaching the object's state from inside the class (`this.ctx`, …): the
    strict form of `analyzers.classes.ctx_expression` (which falls back to `this.ctx`), for
    code that must not guess: CannotFix when the class has no such path."""
    expr = state_path(cls)
    if expr is None:
        raise CannotMigrate("no `this.…` path to the object's state")
    return expr


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
    hook = statement_of(create.call)
    # the class's own migration method run after the CREATE (`this.migrateSchema()`) may rebuild
    # the table: the steps run after it, or a rebuilt table would lose what they added
    sibling = hook.next_named_sibling
    while sibling is not None:
        for call in walk_type(sibling, "call_expression"):
            callee = call.child_by_field_name("function")
            text = node_text(cls.file.data, callee) if callee is not None else ""
            if re.fullmatch(r"this\.\w*migrat\w*", text, re.I) and text[5:] in cls.methods:
                hook = sibling
        sibling = sibling.next_named_sibling
    return hook


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


@dataclass
class PlannedStep:
    """The edits adding one migration step, and where they put it."""

    edits: list[Edit]
    where: str  # one or two sentences for the fix's review text


# -- writing a step ------------------------------------------------------------------------------


def sql_literal(sql: str, quote: str) -> str:
    """A TypeScript string holding sql, in the file's quote unless the SQL holds that quote."""
    if quote not in sql and "\\" not in sql and "\n" not in sql:
        return f"{quote}{sql}{quote}"
    if "`" not in sql and "${" not in sql and "\\" not in sql:
        return f"`{sql}`"
    escaped = sql.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")
    return f"{quote}{escaped}{quote}"


def _statement_text(stmt: StepSql, local: bool) -> tuple[str, tuple[str, ...]]:
    if local or not stmt.args:
        return stmt.sql, stmt.args
    if stmt.inline is None:
        raise CannotMigrate("a value of the step cannot be written in SQL")
    return stmt.inline, ()


def exec_lines(
    step: Step, receiver: str, quote: str, unit: str, *, guarded: bool, local: bool
) -> list[str]:
    """The step as `<receiver>.exec(…);` lines; `guarded` (a runner that re-runs every step)
    wraps each ADD COLUMN in a pragma_table_info check."""
    lines: list[str] = []
    for stmt in step.statements:
        text, args = _statement_text(stmt, local)
        call = f"{receiver}.exec({sql_literal(text, quote)}{''.join(', ' + a for a in args)});"
        if guarded and stmt.adds_column is not None:
            table, column = stmt.adds_column
            check = f"SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            lines.append(
                f"if ({receiver}.exec({sql_literal(check, quote)}).toArray().length === 0) {{"
            )
            lines.append(f"{unit}{call}")
            lines.append("}")
        elif guarded and not stmt.idempotent:
            raise CannotMigrate("a statement of the step cannot safely run on every start")
        else:
            lines.append(call)
    return lines


def _string_quote(data: bytes, elements: list[Node], fallback: str) -> str:
    for element in reversed(elements):
        if element.type == "string":
            return chr(data[element.start_byte])
    if elements and all(e.type == "template_string" for e in elements):
        return "`"
    return fallback


def _slug_unique(slug: str, taken: set[str]) -> str:
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{slug}_{n}", n + 1
    return candidate


def _prop(data: bytes, obj: Node, key: str) -> Node | None:
    for prop in obj.named_children:
        name = prop.child_by_field_name("key") or prop.child_by_field_name("name")
        if name is not None and node_text(data, name).strip("\"'") == key:
            return prop
    return None


def _next_id(data: bytes, elements: list[Node], key: str, slug: str) -> str:
    """The id the next step gets: `4` after `3`, `"004"` after `"003"`, `"004_add_x"` after
    `"003_add_y"`; a free-form name (key `name`) gets the slug."""
    values = []
    for element in elements:
        prop = _prop(data, element, key)
        value = prop.child_by_field_name("value") if prop is not None else None
        if value is None:
            raise CannotMigrate(f"a migration object has no `{key}` value")
        values.append(value)
    if all(v.type == "number" for v in values):
        numbers = [node_text(data, v) for v in values]
        if not all(n.isdigit() for n in numbers):
            raise CannotMigrate(f"the `{key}` numbers are not plain integers")
        return str(max(int(n) for n in numbers) + 1)
    texts = [string_value(data, v) for v in values]
    if any(t is None for t in texts):
        raise CannotMigrate(f"the `{key}` values are not all plain strings")
    strings = [t for t in texts if t is not None]
    quote = chr(data[values[-1].start_byte])
    matches = [re.fullmatch(r"(\d+)(?:([_\-.])(\w[\w\-.]*))?", t) for t in strings]
    if all(m is not None for m in matches):
        numbered = [m for m in matches if m is not None]
        width = len(numbered[-1].group(1))
        number = max(int(m.group(1)) for m in numbered) + 1
        sep = numbered[-1].group(2)
        if sep is None:
            return f"{quote}{number:0{width}d}{quote}"
        tail = slug.replace("_", "-") if sep == "-" else slug
        return f"{quote}{number:0{width}d}{sep}{tail}{quote}"
    if key == "name" and all(re.fullmatch(r"[\w\-. ]+", t) for t in strings):
        return f"{quote}{_slug_unique(slug, set(strings))}{quote}"
    raise CannotMigrate(f"no numbering to continue in the `{key}` values")


def _function_head(data: bytes, func: Node) -> tuple[str, str]:
    """(text before the body, e.g. `(sql: SqlStorage) => `, the first parameter's name)."""
    body = func.child_by_field_name("body")
    params = func.child_by_field_name("parameters")
    if body is None or params is None:
        raise CannotMigrate("a migration function without parameters or body")
    named = [p for p in params.named_children if p.type != "comment"]
    pattern = named[0].child_by_field_name("pattern") if named else None
    if pattern is None or pattern.type != "identifier":
        raise CannotMigrate("the migration functions take no `sql` parameter we can use")
    return data[func.start_byte : body.start_byte].decode(), node_text(data, pattern)


def _block(head: str, lines: list[str], indent: str, unit: str) -> str:
    inner = "".join(f"{indent}{unit}{line}\n" for line in lines)
    return f"{head}{{\n{inner}{indent}}}"


def _render(mech: Mechanism, cls: DurableObjectClass, step: Step, sep: str) -> str:
    data = mech.file.data
    elements = mech.elements
    last = elements[-1]
    indent = indent_at(data, last.start_byte)
    unit = indent_unit(data)
    local = mech.file is cls.file
    quote = _string_quote(data, elements, quote_char(data))
    comments = "".join(f"{indent}// {c}\n" for c in step.comments)
    if mech.kind == "strings":
        if not mech.records:
            broken = any(
                re.search(r"\bALTER\s+TABLE\b.*\bADD\b", node_text(data, e), re.I | re.S)
                for e in elements
            )
            raise CannotMigrate(
                f"{mech.name} is re-run in full on every start and holds plain SQL strings: "
                "SQL cannot make ALTER TABLE … ADD COLUMN conditional, so a step there would "
                "fail with `duplicate column` from the second start on"
                + (
                    " (its ALTER steps already do: the runner should record applied steps)"
                    if broken
                    else ""
                )
            )
        items = [sql_literal(_statement_text(s, local)[0], quote) for s in step.statements]
        return comments + ",\n".join(f"{indent}{item}" for item in items) + sep + "\n"
    if mech.kind == "functions":
        head, receiver = _function_head(data, last)
        lines = exec_lines(step, receiver, quote, unit, guarded=not mech.records, local=local)
        return comments + indent + _block(head, lines, indent, unit) + sep + "\n"
    return comments + _render_object(mech, step, local, quote, indent, unit) + sep + "\n"


def _render_object(
    mech: Mechanism, step: Step, local: bool, quote: str, indent: str, unit: str
) -> str:
    data = mech.file.data
    elements = mech.elements
    last = elements[-1]
    props = [p for p in last.named_children if p.type != "comment"]
    one_line = b"\n" not in data[last.start_byte : last.end_byte]
    inner_indent = indent_at(data, props[0].start_byte) if not one_line else indent + unit
    rendered: list[str] = []
    multiline = False
    for prop in props:
        key_node = prop.child_by_field_name("key") or prop.child_by_field_name("name")
        assert key_node is not None
        key_text = node_text(data, key_node)
        key = key_text.strip("\"'")
        value = prop.child_by_field_name("value")
        colon = data[key_node.end_byte : value.start_byte].decode() if value is not None else ": "
        if key == mech.id_key:
            rendered.append(f"{key_text}{colon}{_next_id(data, elements, key, step.slug)}")
        elif key == "name":
            names = {string_value(data, v) or "" for v in _values(data, elements, "name")}
            rendered.append(f"{key_text}{colon}{quote}{_slug_unique(step.slug, names)}{quote}")
        elif key == "description":
            rendered.append(f"{key_text}{colon}{sql_literal(step.comments[0], quote)}")
        elif key == "sql":
            if not mech.records:
                raise CannotMigrate(
                    f"{mech.name} is re-run in full on every start and its steps are SQL text: "
                    "SQL cannot make ALTER TABLE … ADD COLUMN conditional"
                )
            texts = [_statement_text(s, local)[0] for s in step.statements]
            if len(texts) == 1:
                rendered.append(f"{key_text}{colon}{sql_literal(texts[0], quote)}")
            else:
                # several statements in one exec() string: allowed, none takes a `?` here
                body = "".join(f"{inner_indent}{unit}{t};\n" for t in texts)
                rendered.append(f"{key_text}{colon}`\n{body}{inner_indent}`")
                multiline = True
        elif key == "up":
            func = value if prop.type == "pair" else prop
            if func is None or func.type not in _FUNCS | {"method_definition"}:
                raise CannotMigrate("`up` is not a function written in the list")
            head, receiver = _function_head(data, func)
            lines = exec_lines(step, receiver, quote, unit, guarded=not mech.records, local=local)
            prefix = f"{key_text}{colon}" if prop.type == "pair" else ""
            rendered.append(prefix + _block(head, lines, inner_indent, unit))
            multiline = True
    if one_line and not multiline:
        text = node_text(data, last)
        pad = " " if text.startswith("{ ") else ""
        return f"{indent}{{{pad}{', '.join(rendered)}{pad}}}"
    trailing = "," if data[props[-1].end_byte : last.end_byte - 1].strip().startswith(b",") else ""
    if one_line:
        trailing = ","
    body = ",\n".join(f"{inner_indent}{r}" for r in rendered)
    return f"{indent}{{\n{body}{trailing}\n{indent}}}"


def _values(data: bytes, elements: list[Node], key: str) -> list[Node]:
    found = []
    for element in elements:
        prop = _prop(data, element, key)
        value = prop.child_by_field_name("value") if prop is not None else None
        if value is not None:
            found.append(value)
    return found


def _check_order(mech: Mechanism, cls: DurableObjectClass, model: ProjectModel, table: str) -> None:
    """The table must exist when the new step runs: created by an earlier step of the list, or
    by a constructor statement before the runner."""
    known = model.schema_for(cls.file.path).table(table)
    create = known.create if known is not None else None
    if create is None:
        raise CannotMigrate(f"no CREATE TABLE for `{table}`")
    if create.file is mech.file and contains(mech.array, create.literal):
        return
    ctor = cls.constructor
    entry = mech.entry
    if (
        ctor is not None
        and entry is not None
        and create.call_file is cls.file
        and contains(ctor, create.call)
        and create.call.end_byte <= entry.start_byte
    ):
        return
    func = mech.loop_function
    if (
        func is not None
        and create.call_file.path == mech.file.path
        and contains(func, create.call)
        and create.call.end_byte <= mech.array.start_byte
    ):
        return
    raise CannotMigrate(f"`{table}` is created outside {mech.name}, not visibly before it runs")


def _append(
    mech: Mechanism, cls: DurableObjectClass, model: ProjectModel, step: Step
) -> PlannedStep:
    data = mech.file.data
    path = mech.file.path
    elements = mech.elements
    if not elements:
        raise CannotMigrate(f"{mech.name} is empty: no style to follow")
    _check_order(mech, cls, model, step.table)
    last = elements[-1]
    close = mech.array.end_byte - 1
    at = line_start(data, close)
    if data[at:close].strip() or data[line_start(data, last.start_byte) : last.start_byte].strip():
        raise CannotMigrate(f"{mech.name} is not laid out one step per line")
    between = data[last.end_byte : close]
    trailing = between.lstrip().startswith(b",")
    edits: list[Edit] = []
    if not trailing:
        edits.append(Edit(path, last.end_byte, last.end_byte, ","))
    edits.append(Edit(path, at, at, _render(mech, cls, step, "," if trailing else "")))
    rel = mech.describe(model.root)
    if mech.records:
        recorded = f" in `{mech.record_table}`" if mech.record_table else ""
        where = (
            f"The step is appended to the project's migrations list {rel}: {mech.runner} "
            f"records applied steps{recorded}, so it runs once on each object, after the steps "
            "already there."
        )
    else:
        where = (
            f"The step is appended to the project's migrations list {rel}: {mech.runner} "
            "re-runs every step on each start (it records nothing), so the step checks "
            "pragma_table_info before ALTER TABLE … ADD COLUMN and must stay idempotent if "
            "edited."
        )
    if mech.file is not cls.file and any(s.args for s in step.statements):
        where += " Values the class file names are written as numbers in the step (it lives in another file)."
    return PlannedStep(edits, where)


def plan_step(
    cls: DurableObjectClass,
    model: ProjectModel,
    step: Step,
    indent: str,
    unit: str,
    quote: str,
) -> PlannedStep:
    """Where the step goes, and the edits: the project's own migrations list when the
    constructor runs one (in its style), else the class's SQL_MIGRATIONS (created with its
    runner when missing). The one place deciding it for every fix that adds a step."""
    mech = find_mechanism(cls, model)
    if mech is not None:
        return _append(mech, cls, model, step)
    had = class_member(cls, MIGRATIONS_FIELD) is not None
    body = exec_lines(step, "sql", quote, unit, guarded=False, local=True)
    text = step_text(list(step.comments), body, indent, unit)
    edits = add_step(cls, model, step.table, text, ctx_expr(cls), indent, unit, quote)
    where = (
        f"The step is appended to {MIGRATIONS_FIELD}."
        if had
        else (
            "The project has no migrations list run from the constructor that we could see: "
            f"the fix adds {MIGRATIONS_FIELD} and {RUNNER}() to the class."
        )
    )
    return PlannedStep(edits, where)


def migrations_text(cls: DurableObjectClass, model: ProjectModel) -> str:
    """The source of the steps a new one would join (SQL_MIGRATIONS or the project's list)."""
    own = existing_steps_text(cls)
    if own is not None:
        return own
    mech = find_mechanism(cls, model)
    if mech is None:
        return ""
    return node_text(mech.file.data, mech.array)
