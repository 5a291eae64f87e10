"""Fixes for schema-change-without-migration.

1. A query uses a column no CREATE/ALTER of the project defines (and no defined column is a near
   miss of its name, which would rather be a typo): a migration step
   `ALTER TABLE t ADD COLUMN c <type>` appended to the class's `SQL_MIGRATIONS` (created with
   its runner and the constructor call when the class has none: codeactions/_migrations.py, the
   same mechanism as the TTL fix), or to the project's own migrations list when the
   constructor runs one (in its style; guarded by pragma_table_info when the list is re-run on
   every start). One step adds every column of the table the class's queries
   use and the schema lacks, so the fixes of several findings are the same edit. The
   `CREATE TABLE IF NOT EXISTS` is never edited: it does nothing to deployed tables.

   The type comes from how the queries use the column: compared with or assigned a literal
   (`= 1`, `= 'x'`), `LIKE`, a bound argument whose TypeScript type is visible (`Date.now()`, a
   `string`/`number` parameter, a string literal …), or its value in an INSERT. A TypeScript
   `number` becomes INTEGER: INTEGER affinity keeps a non-integral value as REAL, nothing is lost.
   Uses that disagree, or none, leave the column untyped (BLOB affinity: values kept as given)
   with a comment asking for a type. The column is nullable without DEFAULT: existing rows get
   NULL.

2. `ALTER TABLE … ADD COLUMN … NOT NULL` without DEFAULT: a DEFAULT fitting the declared type is
   added in place (`0`, `''`, `x''`); there is no value to pick for an untyped column.

Both are unsafe: the type and the value existing rows get are product decisions.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_RULES, REF_SQL, REF_SQLITE_ALTER
from durable_harden.analyzers.rules._sql import DATA_KINDS, alias_map
from durable_harden.analyzers.rules._sqlexec import binding_args, params_of
from durable_harden.analyzers.rules.schema_change_without_migration import (
    _ADD_COLUMN,
    _NO_COLUMN,
    SchemaState,
)
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    callee_parts,
    enclosing_function,
    node_text,
    walk_type,
)
from durable_harden.codeactions._migrations import (
    Step,
    StepSql,
    migrations_text,
    plan_step,
)
from durable_harden.codeactions._tsedit import indent_unit, member_indent, quote_char
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    kind = finding.data.get("kind")
    if kind == "no-such-column":
        return [_add_column(finding, model)]
    if kind == "not-null-without-default":
        return [_add_default(finding, model)]
    return []


# -- 1. the missing column ---------------------------------------------------------------------


def _missing_columns(model: ProjectModel, cls: DurableObjectClass, table: str) -> list[str]:
    """Columns of `table` the class's queries use and the schema lacks, in order of first use;
    SQLite names one missing column per statement, so the search repeats with each found column
    added to a copy of the schema."""
    schema = model.schema_for(cls.file.path)
    known = schema.table(table)
    if known is None:
        raise CannotFix("table not in the schema")
    queries = [
        s
        for s in model.statements_in_scope(cls.file.path)
        if s.cls is cls
        and not s.loose
        and s.kind in DATA_KINDS
        and s.expression is not None
        and table in alias_map(s.expression).values()
    ]
    found: list[str] = []
    current: Schema = schema
    for _ in range(20):
        added = False
        for stmt in queries:
            error = current.plan(stmt.text).error
            if error is None:
                continue
            match = _NO_COLUMN.search(error)
            if match is None:
                continue
            name = match.group(2)
            aliases = alias_map(stmt.expression) if stmt.expression is not None else {}
            owner = aliases.get(match.group(1).lower()) if match.group(1) else None
            owners = {owner} if owner else set(aliases.values())
            if owners != {table} or name.lower() in (c.lower() for c in found):
                continue
            if _near_miss(name, current.table(table)):
                continue
            found.append(name)
            current = current.with_index(f'ALTER TABLE "{known.name}" ADD COLUMN "{name}"')
            added = True
        if not added:
            break
    return found


def _near_miss(name: str, table: object) -> bool:
    import difflib

    columns = list(getattr(table, "columns", []))
    return bool(difflib.get_close_matches(name, columns, n=1))


# the value side of `col <op> value` / `value <op> col`
_VALUE = r"(\?|'(?:[^']|'')*'|-?\d+(?:\.\d+)?\b|TRUE\b|FALSE\b)"
_OP = r"(?:==|=|!=|<>|<=|>=|<|>)"


def _blank_strings(text: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", text)


def _column_types(stmt: SqlStatement, column: str) -> list[str | None]:
    """Types suggested by each use of `column` in the statement (None: a use we cannot type)."""
    text = stmt.text
    blank = _blank_strings(text)
    col = rf"(?<![\w.])(?:\w+\s*\.\s*)?[\"`\[]?{re.escape(column)}[\"`\]]?(?!\w)"
    types: list[str | None] = []
    for match in re.finditer(rf"{col}\s*{_OP}\s*{_VALUE}", text, re.I):
        if blank[match.start()] == " ":
            continue  # inside a string literal
        types.append(_value_type(stmt, match.group(1), match.start(1)))
    for match in re.finditer(rf"{_VALUE}\s*{_OP}\s*{col}", text, re.I):
        if blank[match.end() - 1] == " ":
            continue
        types.append(_value_type(stmt, match.group(1), match.start(1)))
    for _like in re.finditer(rf"{col}\s+(?:NOT\s+)?(?:LIKE|GLOB)\b", blank, re.I):
        types.append("TEXT")
    types.extend(_insert_types(stmt, column))
    return types


def _insert_types(stmt: SqlStatement, column: str) -> list[str | None]:
    text = stmt.text
    head = re.search(r"\bINTO\s+[\"`\[]?\w+[\"`\]]?\s*\(([^)]*)\)\s*VALUES\s*\(", text, re.I)
    if head is None:
        return []
    names = [n.strip().strip('"`[]').lower() for n in head.group(1).split(",")]
    if column.lower() not in names:
        return []
    position = names.index(column.lower())
    # the VALUES tuple, split at top-level commas
    values: list[tuple[str, int]] = []
    depth, start, quote = 0, head.end(), False
    for index in range(head.end(), len(text)):
        ch = text[index]
        if ch == "'":
            quote = not quote
        if quote:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")" and depth == 0:
            values.append((text[start:index], start))
            break
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append((text[start:index], start))
            start = index + 1
    if len(values) != len(names):
        return [None]
    raw, at = values[position]
    stripped = raw.strip()
    if not re.fullmatch(_VALUE, stripped, re.I):
        return [None]
    return [_value_type(stmt, stripped, at + raw.index(stripped))]


def _value_type(stmt: SqlStatement, value: str, offset: int) -> str | None:
    if value.startswith("'"):
        return "TEXT"
    if value.upper() in {"TRUE", "FALSE"}:
        return "INTEGER"
    if value != "?":
        return "REAL" if "." in value else "INTEGER"
    return _placeholder_type(stmt, offset)


def _placeholder_type(stmt: SqlStatement, offset: int) -> str | None:
    for sub in stmt.substitutions:
        if sub.sql_offset == offset:
            node = stmt.file.root.descendant_for_byte_range(sub.ts_start, sub.ts_end)
            while node is not None and node.type != "template_substitution":
                node = node.parent
            if node is None or not node.named_children:
                return None
            return _ts_type(stmt.file.data, node.named_children[0])
    if stmt.tagged or stmt.index_in_call != stmt.statements_in_call - 1:
        return None
    params = params_of(stmt)
    if params is None or not params.countable or params.numbered:
        return None
    args = binding_args(stmt)
    if any(a.type == "spread_element" for a in args) or len(args) != params.count:
        return None
    if offset not in params.positional:
        return None
    return _ts_type(stmt.call_file.data, args[params.positional.index(offset)])


_ANNOTATION_TYPES = {
    "number": "INTEGER",
    "bigint": "INTEGER",
    "boolean": "INTEGER",
    "string": "TEXT",
    "ArrayBuffer": "BLOB",
    "Uint8Array": "BLOB",
}
_TEXT_CALLS = {"JSON.stringify", "String", "crypto.randomUUID", "encodeURIComponent"}
_TEXT_METHODS = {"toISOString", "toString", "join", "toUpperCase", "toLowerCase", "trim"}
_INT_CALLS = {"Date.now", "Math.floor", "Math.round", "Math.ceil", "Math.trunc", "parseInt"}


def _annotation_type(data: bytes, annotation: Node | None) -> str | None:
    if annotation is None:
        return None
    text = node_text(data, annotation).lstrip(":").strip()
    parts = {p.strip() for p in text.split("|")} - {"null", "undefined"}
    if len(parts) != 1:
        return None
    return _ANNOTATION_TYPES.get(parts.pop())


def _ts_type(data: bytes, node: Node, depth: int = 0) -> str | None:
    """The SQLite type a bound TypeScript expression suggests, when it is visible."""
    if depth > 3:
        return None
    kind = node.type
    if kind == "number":
        return "REAL" if re.search(r"[.eE]", node_text(data, node)) else "INTEGER"
    if kind in {"string", "template_string"}:
        return "TEXT"
    if kind in {"true", "false"}:
        return "INTEGER"
    if kind in {"parenthesized_expression", "non_null_expression"} and node.named_children:
        return _ts_type(data, node.named_children[0], depth + 1)
    if kind in {"as_expression", "satisfies_expression"} and len(node.named_children) == 2:
        return _ANNOTATION_TYPES.get(node_text(data, node.named_children[1]).strip())
    if kind == "call_expression":
        parts = callee_parts(data, node)
        if parts is None:
            return None
        full = f"{parts[0]}.{parts[1]}" if parts[0] else parts[1]
        if full in _TEXT_CALLS or (parts[0] and parts[1] in _TEXT_METHODS):
            return "TEXT"
        if full in _INT_CALLS:
            return "INTEGER"
        return None
    if kind == "member_expression":
        prop = node.child_by_field_name("property")
        if prop is not None and node_text(data, prop) == "length":
            return "INTEGER"
        return None
    if kind == "binary_expression":
        op = node.child_by_field_name("operator")
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if op is None or left is None or right is None:
            return None
        sides = {_ts_type(data, left, depth + 1), _ts_type(data, right, depth + 1)}
        operator = node_text(data, op)
        if operator == "+" and "TEXT" in sides:
            return "TEXT"
        if operator in {"+", "-", "*", "%"} and sides <= {"INTEGER"}:
            return "INTEGER"
        if operator in {"+", "-", "*", "/", "%"} and sides <= {"INTEGER", "REAL"}:
            return "REAL"
        return None
    if kind == "identifier":
        return _identifier_type(data, node, depth)
    return None


def _identifier_type(data: bytes, node: Node, depth: int) -> str | None:
    """A parameter with a type annotation, or a `const` declared in the same function."""
    name = node_text(data, node)
    func = enclosing_function(node)
    while func is not None:
        params = func.child_by_field_name("parameters")
        if params is not None:
            for param in params.named_children:
                pattern = param.child_by_field_name("pattern")
                if pattern is not None and node_text(data, pattern) == name:
                    return _annotation_type(data, param.child_by_field_name("type"))
        body = func.child_by_field_name("body")
        if body is not None:
            for declarator in walk_type(body, "variable_declarator"):
                if declarator.start_byte > node.start_byte:
                    break
                target = declarator.child_by_field_name("name")
                if target is None or node_text(data, target) != name:
                    continue
                inner = enclosing_function(declarator)
                if inner is not None and inner != func and inner.type in FUNCTION_TYPES:
                    continue
                declared = _annotation_type(data, declarator.child_by_field_name("type"))
                if declared is not None:
                    return declared
                value = declarator.child_by_field_name("value")
                return _ts_type(data, value, depth + 1) if value is not None else None
        func = enclosing_function(func)
    return None


def _infer_type(
    model: ProjectModel, cls: DurableObjectClass, table: str, column: str
) -> str | None:
    """One type agreed on by every typed use of the column in the class, else None."""
    seen: set[str] = set()
    for stmt in model.statements_in_scope(cls.file.path):
        if stmt.cls is not cls or stmt.kind not in DATA_KINDS or stmt.expression is None:
            continue
        if table not in alias_map(stmt.expression).values():
            continue
        if not re.search(rf"\b{re.escape(column)}\b", stmt.text, re.I):
            continue
        seen.update(t for t in _column_types(stmt, column) if t is not None)
    return seen.pop() if len(seen) == 1 else None


def _add_column(finding: Finding, model: ProjectModel) -> Fix:
    data = finding.data
    if data.get("near_miss") or len(data.get("tables", [])) != 1:
        raise CannotFix("a near miss or an ambiguous table: a typo is fixed by hand")
    stmt = state_of(finding, SchemaState).statement
    cls = stmt.cls
    if cls is None:
        raise CannotFix("the query is not inside a Durable Object class")
    table: str = data["tables"][0]
    columns = _missing_columns(model, cls, table)
    if data["column"].lower() not in (c.lower() for c in columns):
        raise CannotFix("the column is not one the step would add")
    existing = migrations_text(cls, model)
    for column in columns:
        if re.search(
            rf"ALTER\s+TABLE\s+[\"`\[]?{re.escape(table)}[\"`\]]?\s+ADD\s+(?:COLUMN\s+)?"
            rf"[\"`\[]?{re.escape(column)}\b",
            existing,
            re.I,
        ):
            raise CannotFix("a step already adds the column")
    src = cls.file.data
    q = quote_char(src)
    unit = indent_unit(src)
    indent = member_indent(cls)
    typed = {c: _infer_type(model, cls, table, c) for c in columns}
    untyped = [c for c in columns if typed[c] is None]
    comments = [
        f"{table}: columns the queries use ({', '.join(columns)}); CREATE TABLE IF NOT EXISTS",
        "never adds them to deployed tables. Rows that exist when this step runs get NULL.",
    ]
    if untyped:
        comments.append(
            f"No type could be read from how {', '.join(untyped)} "
            f"{'is' if len(untyped) == 1 else 'are'} used: untyped (values kept as given)."
        )
    step = Step(
        table=table,
        comments=tuple(comments),
        statements=tuple(
            StepSql(
                f"ALTER TABLE {table} ADD COLUMN {c}{f' {typed[c]}' if typed[c] else ''}",
                adds_column=(table, c),
            )
            for c in columns
        ),
        slug=f"add_{table}_{'_'.join(columns)}",
    )
    planned = plan_step(cls, model, step, indent, unit, q)
    described = ", ".join(f"{c} {typed[c] or '(untyped)'}" for c in columns)
    review = (
        f"Check the columns added to `{table}` ({described}): the types come from how the "
        "queries use them. Rows that exist when the step runs get NULL: make the queries "
        "tolerate NULL or add a DEFAULT to the step before it is deployed. Remove the column "
        "from `CREATE TABLE IF NOT EXISTS` if it was added there (the step would fail with "
        "`duplicate column` on fresh databases)."
    )
    if untyped:
        review += f" No type could be inferred for {', '.join(untyped)}: choose one."
    review += " " + planned.where
    return Fix(
        fix_id="schema-change-without-migration.add-column-step",
        title=f"Add {', '.join(columns)} to `{table}` with a migration step",
        safety=Safety.UNSAFE,
        edits=planned.edits,
        review=review,
    )


# -- 2. NOT NULL without DEFAULT ---------------------------------------------------------------


def _default_for(declared: str) -> str | None:
    """A value of the declared type's affinity (SQLite's rules, in their order)."""
    upper = declared.upper()
    if not upper:
        return None
    if "INT" in upper:
        return "0"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "''"
    if "BLOB" in upper:
        return "x''"
    return "0"  # REAL, FLOAT, DOUBLE, NUMERIC, BOOLEAN, DATE…: numeric affinity


def _add_default(finding: Finding, model: ProjectModel) -> Fix:
    stmt = state_of(finding, SchemaState).statement
    start, end = finding.data["definition"]
    match = next(
        (m for m in _ADD_COLUMN.finditer(stmt.text) if m.start(3) == start),
        None,
    )
    if match is None:
        raise CannotFix("the ALTER changed")
    definition = stmt.text[start:end]
    declared = re.match(
        r"\s*((?:(?!NOT\b|NULL\b|PRIMARY\b|UNIQUE\b|CHECK\b|DEFAULT\b|COLLATE\b|REFERENCES\b|"
        r"GENERATED\b|AS\b|CONSTRAINT\b)\w+\s*)*(?:\([^)]*\))?)",
        definition,
        re.I,
    )
    declared_type = declared.group(1).strip() if declared else ""
    value = _default_for(declared_type)
    if value is None:
        raise CannotFix("untyped column: no value to choose")
    literal = stmt.literal
    data = stmt.file.data
    if literal.type == "string" and data[literal.start_byte : literal.start_byte + 1] == b"'":
        value = value.replace("'", "\\'")
    at = stmt.offsets[end - 1] + 1
    table, column = finding.data["table"], finding.data["column"]
    return Fix(
        fix_id="schema-change-without-migration.not-null-default",
        title=f"Give `{table}.{column}` a DEFAULT {value}",
        safety=Safety.UNSAFE,
        edits=[Edit(stmt.file.path, at, at, f" DEFAULT {value}")],
        review=(
            f"Every row that exists when the step runs gets {value} in `{column}`, and so does "
            "every INSERT that leaves it out: check that this value means what the code expects "
            "(or drop NOT NULL). If this step was already deployed, it failed on every object "
            "with rows and was not recorded as applied there: the edited step runs next time."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "ADD COLUMN migration step",
            UNSAFE,
            """
For a missing column (not a near miss of an existing one, which is a typo to correct by hand): a
step `ALTER TABLE t ADD COLUMN c <type>` appended to the class's `SQL_MIGRATIONS`, the list of
steps that `runSqlMigrations()` runs once each from the constructor (inside
`blockConcurrencyWhile`), recording them in `_sql_schema_migrations`; the list, its runner and
the constructor call are created when the class has none (the same mechanism as the
`unbounded-table-growth` fix). One step adds every column of the table the class's queries lack.
The type is read from how the queries use the column (a literal it is compared with or set to,
`LIKE`, the TypeScript type of the bound argument: `Date.now()`, a `string` parameter…); a
TypeScript `number` becomes `INTEGER`, whose affinity still keeps 2.5 as a REAL. Without a
visible type the column is left untyped, with a comment. The column is nullable: rows that exist
when the step runs get NULL. `CREATE TABLE IF NOT EXISTS` is never edited. When the constructor
already runs the project's own list of steps (strings, objects `{ id|version|name, sql | up }`,
or functions, often in `migrations.ts`), the step is appended there in its style instead (next
id, quotes, indentation, trailing commas); a list re-run on every start gets an `ADD COLUMN`
guarded by `pragma_table_info('<table>')` (an allowed PRAGMA).
""",
            why="""
Unsafe: the column's type is inferred, and existing rows get NULL.
""",
        ),
        Offer(
            "DEFAULT for ADD COLUMN … NOT NULL",
            UNSAFE,
            """
A DEFAULT of the declared type's affinity is added in place (`0`, `''`, `x''`).
""",
            why="""
Unsafe: every existing row gets that value.
""",
        ),
    ),
    review="""
The inferred column type, and the value existing rows get (NULL, or the DEFAULT).
""",
    not_offered="""
When the table is not created in the class's constructor (or by an earlier step of the list), the
class keeps migrations bookkeeping we do not recognise, or a re-run list of plain strings (SQL
cannot make `ADD COLUMN` conditional). No DEFAULT for an untyped column.
""",
    references=(
        REF_SQLITE_ALTER + " (ADD COLUMN … NOT NULL needs a DEFAULT)",
        REF_RULES + " (a migrations table run in the constructor)",
        REF_SQL + " (allowed PRAGMAs, no user_version)",
    ),
)


SPEC = FixSpec("schema-change-without-migration", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
