"""Fix for unbounded-table-growth: TTL cleanup through a migration, an `expires_at` written by
every INSERT, and a bounded cleanup in `alarm()` that shares the object's one alarm.

What the fix writes (for table `messages` in class `ChatRoom`):

- top of the file: `MESSAGES_TTL_MS` (30 days, documented as a product decision) and
  `MESSAGES_CLEANUP_BATCH`;
- in the class: a migrations list (`private static readonly SQL_MIGRATIONS`) and
  `runSqlMigrations()`, which records applied steps in `_sql_schema_migrations` (PRAGMA
  user_version is not allowed in Durable Objects) and runs each step once, in
  `transactionSync`. It is called right after the statement that creates the schema in the
  constructor. The step adds `expires_at INTEGER` with `ALTER TABLE … ADD COLUMN` (the
  `CREATE TABLE IF NOT EXISTS` is left alone: it never changes a deployed table), creates
  `idx_messages_expires_at`, and gives rows written before the step a full TTL from then;
  When the constructor already runs the project's own migrations list, the step is appended
  there instead, in its style (codeactions/_migrations.py decides; a step in another file or a
  list of SQL text writes the TTL of old rows as a number: `CAST(strftime('%s', 'now') AS
  INTEGER) * 1000 + 2592000000`);
- every INSERT into the table also writes `expires_at`, computed just before it;
- `armAlarmBy(time)`: keeps the earliest pending alarm time, so several purposes can share the
  one alarm; existing `setAlarm(x)` calls of the class go through it;
- `cleanupExpiredMessages(info)`: deletes one bounded batch of expired rows, re-arms at
  `MIN(expires_at)` only while rows remain (at once while a backlog remains), and on failure
  rethrows while `info.retryCount < 5` (the runtime retries with backoff) or else logs and
  re-arms in an hour: never both;
- `alarm(info?)` calls the cleanup first; an existing `alarm()` keeps its body after it.

Size (over 500 lines): one fix with four coordinated parts (migration, INSERT rewrites, cleanup,
alarm arming) that must agree on one column and one constant; the shared pieces already live in
`_alarm.py` and `_migrations.py`.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.generated_names import ARM_METHOD as ARM
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import (
    REF_ALARMS,
    REF_RULES,
    REF_SQLITE_ALTER,
    calls_mentioning,
)
from durable_harden.analyzers.rules.unbounded_table_growth import GrowthState
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import (
    call_args,
    callee_parts,
    contains,
    enclosing_function,
    node_text,
)
from durable_harden.codeactions._alarm import drop_pending_guard
from durable_harden.codeactions._migrations import (
    CannotMigrate,
    Step,
    StepSql,
    class_member,
    ctx_expr,
    plan_step,
)
from durable_harden.codeactions._tsedit import (
    append_member,
    identifiers_in,
    indent_at,
    indent_unit,
    is_async,
    line_start,
    member_indent,
    quote_char,
    statement_of,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import ttl_case
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def _camel(table: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\W]+", table) if part)


def _close_paren(text: str, open_index: int) -> int:
    depth = 0
    quote: str | None = None
    for index in range(open_index, len(text)):
        ch = text[index]
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return index
    raise CannotFix("unbalanced parentheses")


def _real_placeholders_before(stmt: SqlStatement, end: int) -> int:
    subs = {s.sql_offset for s in stmt.substitutions}
    count = 0
    quote: str | None = None
    for index, ch in enumerate(stmt.text[:end]):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "?" and index not in subs:
            count += 1
    return count


def _ts_at(stmt: SqlStatement, index: int) -> int:
    return stmt.offsets[index]


def _insert_edits(stmt: SqlStatement, var: str) -> list[Edit]:
    """Add `expires_at` to the column list, the value to the VALUES tuple, the binding to the
    exec call (or `${var}` to the tagged template), and refresh it in an upsert."""
    text = stmt.text
    path = stmt.file.path
    if stmt.statements_in_call - 1 != stmt.index_in_call:
        raise CannotFix("only the last statement of an exec() string takes bindings")
    if not contains(stmt.call, stmt.literal):
        raise CannotFix("the INSERT text is a constant shared elsewhere")
    head = re.search(r"\bINTO\s+[\"`\[]?\w+[\"`\]]?\s*", text, re.I)
    if head is None:
        raise CannotFix("no INTO")
    edits: list[Edit] = []
    after_head = head.end()
    has_columns = text[after_head : after_head + 1] == "("
    values = re.compile(r"\bVALUES\s*\(", re.I).search(text, after_head)
    if values is None:
        raise CannotFix("INSERT … SELECT / DEFAULT VALUES")
    if has_columns:
        close = _close_paren(text, after_head)
        if re.search(r"\bexpires_at\b", text[after_head:close], re.I):
            raise CannotFix("already writes expires_at")
        edits.append(Edit(path, _ts_at(stmt, close), _ts_at(stmt, close), ", expires_at"))
    values_close = _close_paren(text, values.end() - 1)
    if re.match(r"\s*,", text[values_close + 1 :]):
        raise CannotFix("multi-row VALUES")
    if stmt.tagged:
        value = "${" + var + "}"
    else:
        value = "?"
    at = _ts_at(stmt, values_close)
    edits.append(Edit(path, at, at, f", {value}"))
    upsert = re.search(r"\bDO\s+UPDATE\s+SET\b", text, re.I)
    if upsert is not None:
        tail = re.search(r"\b(WHERE|RETURNING)\b", text[upsert.end() :], re.I)
        end = upsert.end() + tail.start() if tail else len(text)
        while end > upsert.end() and text[end - 1].isspace():
            end -= 1
        ts = stmt.offsets[end - 1] + 1
        edits.append(Edit(path, ts, ts, ", expires_at = excluded.expires_at"))
    if not stmt.tagged:
        edits.append(_binding_edit(stmt, _real_placeholders_before(stmt, values_close), var))
    return edits


def _binding_edit(stmt: SqlStatement, position: int, var: str) -> Edit:
    data = stmt.call_file.data
    path = stmt.call_file.path
    args = call_args(stmt.call)
    if any(a.type == "spread_element" for a in args[1:]):
        raise CannotFix("spread bindings")
    bindings = args[1:]
    if len(bindings) != _real_placeholders_before(stmt, len(stmt.text)):
        raise CannotFix("bindings do not match the placeholders")
    multiline = (
        bool(bindings)
        and indent_at(data, bindings[-1].start_byte)
        == data[line_start(data, bindings[-1].start_byte) : bindings[-1].start_byte].decode()
    )
    if position < len(bindings):
        target = bindings[position]
        if multiline:
            indent = indent_at(data, target.start_byte)
            return Edit(path, target.start_byte, target.start_byte, f"{var},\n{indent}")
        return Edit(path, target.start_byte, target.start_byte, f"{var}, ")
    last = bindings[-1] if bindings else args[0]
    if multiline:
        indent = indent_at(data, last.start_byte)
        return Edit(path, last.end_byte, last.end_byte, f",\n{indent}{var}")
    return Edit(path, last.end_byte, last.end_byte, f", {var}")


def _top_insert_point(data: bytes, root: Node) -> int:
    last_import = None
    for child in root.named_children:
        if child.type == "import_statement":
            last_import = child
    if last_import is None:
        return 0
    end = data.find(b"\n", last_import.end_byte)
    return len(data) if end == -1 else end + 1


# the constant's value, for a step written as SQL text (30 days, as _constants_text says)
_TTL_MS = 30 * 24 * 60 * 60 * 1000


def _step(table: str, const: str) -> Step:
    update = f"UPDATE {table} SET expires_at = ? WHERE expires_at IS NULL"
    now_ms = "CAST(strftime('%s', 'now') AS INTEGER) * 1000"
    return Step(
        table=table,
        comments=(
            f"{table}: rows expire after {const}; rows written before this step get a full",
            "TTL from the time it runs.",
        ),
        statements=(
            StepSql(
                f"ALTER TABLE {table} ADD COLUMN expires_at INTEGER",
                adds_column=(table, "expires_at"),
            ),
            StepSql(
                f"CREATE INDEX IF NOT EXISTS idx_{table}_expires_at ON {table}(expires_at)",
                idempotent=True,
            ),
            StepSql(
                update,
                args=(f"Date.now() + {const}",),
                # {const} at the time the fix was written, for a step that is SQL text
                inline=update.replace("?", f"{now_ms} + {_TTL_MS}"),
                idempotent=True,
            ),
        ),
        slug=f"{table}_expires_at",
    )


def _arm_text(ctx: str, indent: str, unit: str) -> str:
    i2, i3 = indent + unit, indent + unit * 2
    return (
        f"{indent}// Arms the alarm for `time` unless it already fires earlier, so that no purpose\n"
        f"{indent}// sharing the object's one alarm is lost.\n"
        f"{indent}private async {ARM}(time: number): Promise<void> {{\n"
        f"{i2}const pending = await {ctx}.storage.getAlarm();\n"
        f"{i2}if (pending === null || pending <= Date.now() || pending > time) {{\n"
        f"{i3}await {ctx}.storage.setAlarm(time);\n"
        f"{i2}}}\n"
        f"{indent}}}"
    )


def _cleanup_text(
    table: str,
    method: str,
    const: str,
    batch: str,
    key: str,
    ctx: str,
    indent: str,
    unit: str,
    quote: str,
) -> str:
    q = quote
    i2, i3, i4 = indent + unit, indent + unit * 2, indent + unit * 3
    return (
        f"{indent}// Deletes one bounded batch of expired {table} rows, then re-arms for the next\n"
        f"{indent}// expiry while rows remain (at once while a backlog remains).\n"
        f"{indent}private async {method}(info?: AlarmInvocationInfo): Promise<void> {{\n"
        f"{i2}const sql = {ctx}.storage.sql;\n"
        f"{i2}let next: number | null;\n"
        f"{i2}try {{\n"
        f"{i3}sql.exec(\n"
        f"{i4}{q}DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires_at <= ? "
        f"ORDER BY expires_at LIMIT ?){q},\n"
        f"{i4}Date.now(),\n"
        f"{i4}{batch},\n"
        f"{i3});\n"
        f"{i3}next = sql\n"
        f"{i4}.exec<{{ next: number | null }}>({q}SELECT MIN(expires_at) AS next FROM {table}{q})\n"
        f"{i4}.one().next;\n"
        f"{i2}}} catch (error) {{\n"
        f"{i3}if ((info?.retryCount ?? 0) < 5) {{\n"
        f"{i4}throw error; // the runtime retries the alarm with backoff\n"
        f"{i3}}}\n"
        f"{i3}console.error({q}{table} cleanup failed, retrying in an hour{q}, error);\n"
        f"{i3}await this.{ARM}(Date.now() + 60 * 60 * 1000);\n"
        f"{i3}return;\n"
        f"{i2}}}\n"
        f"{i2}if (next !== null) {{\n"
        f"{i3}await this.{ARM}(next);\n"
        f"{i2}}}\n"
        f"{indent}}}"
    )


def _constants_text(table: str, const: str, batch: str) -> str:
    return (
        f"\n// How long a row of `{table}` is kept before the alarm deletes it: 30 days.\n"
        "// A product decision (retention, privacy rules): change it here; rows already written\n"
        "// keep the expiry they were given.\n"
        f"const {const} = 30 * 24 * 60 * 60 * 1000;\n"
        f"// Rows of `{table}` deleted per alarm run, so that one run stays short.\n"
        f"const {batch} = 500;\n"
    )


def _existing_set_alarms(cls: DurableObjectClass, ctx: str) -> list[Edit]:
    """`<storage>.setAlarm(x)` -> `this.armAlarmBy(x)`: existing schedules keep working. A
    "only while no alarm is pending" guard around one goes (the TTL's pending alarm would block
    it forever; armAlarmBy keeps the earliest time itself)."""
    data = cls.file.data
    edits: list[Edit] = []
    storages = set(cls.aliases.storage) | {f"{ctx}.storage"}
    # the calls whose callee names setAlarm (not a look at the callee of every call)
    for call in calls_mentioning(data, cls.node, "setAlarm", file=cls.file):
        parts = callee_parts(data, call)
        if parts is None or parts[1] != "setAlarm" or parts[0] not in storages:
            continue
        args = call_args(call)
        if len(args) != 1:
            continue
        unguarded = drop_pending_guard(cls.file.path, data, call, f"this.{ARM}")
        if unguarded is not None:
            edits.extend(unguarded)
            continue
        func = call.child_by_field_name("function")
        assert func is not None
        edits.append(Edit(cls.file.path, func.start_byte, func.end_byte, f"this.{ARM}"))
    return edits


def _alarm_edits(cls: DurableObjectClass, method: str, indent: str, unit: str) -> list[Edit]:
    data = cls.file.data
    alarm = cls.alarm
    if alarm is None:
        text = (
            f"{indent}async alarm(info?: AlarmInvocationInfo): Promise<void> {{\n"
            f"{indent}{unit}await this.{method}(info);\n"
            f"{indent}}}"
        )
        return [append_member(cls, text)]
    if alarm.type != "method_definition" or not is_async(data, alarm):
        raise CannotFix("alarm() is not an async method")
    params = alarm.child_by_field_name("parameters")
    body = alarm.child_by_field_name("body")
    if params is None or body is None:
        raise CannotFix("alarm() without parameters/body")
    named = [p for p in params.named_children if p.type != "comment"]
    edits: list[Edit] = []
    if named:
        pattern = named[0].child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            raise CannotFix("alarm() parameter is destructured")
        info = node_text(data, pattern)
    else:
        info = "info"
        edits.append(
            Edit(
                cls.file.path,
                params.start_byte + 1,
                params.end_byte - 1,
                "info?: AlarmInvocationInfo",
            )
        )
    inner = next((c for c in body.named_children if c.type != "comment"), None)
    body_indent = indent_at(data, inner.start_byte) if inner is not None else indent + unit
    brace = body.start_byte + 1
    edits.append(Edit(cls.file.path, brace, brace, f"\n{body_indent}await this.{method}({info});"))
    return edits


def build(finding: Finding, model: ProjectModel) -> Fix:
    data = finding.data
    table: str = data["table"]
    state = state_of(finding, GrowthState)
    statements = list(state.inserts)
    cls = state.cls
    if not statements or cls is None:
        raise CannotFix("the INSERT is not inside a Durable Object class")
    if any(s.cls is not cls for s in statements):
        raise CannotFix("INSERTs from several classes")
    file = cls.file
    src = file.data
    path = file.path
    ctx = ctx_expr(cls)  # CannotFix when the class has no `this.…` path to its state
    unit = indent_unit(src)
    indent = member_indent(cls)
    quote = quote_char(src)
    upper = re.sub(r"\W", "_", table).upper()
    const, batch = f"{upper}_TTL_MS", f"{upper}_CLEANUP_BATCH"
    method = f"cleanupExpired{_camel(table)}"
    if class_member(cls, method) is not None or const.encode() in src:
        raise CannotFix("already has a cleanup for this table")
    schema = model.schema_for(path)
    known = schema.table(table)
    if known is None:
        raise CannotFix("table not in the schema")
    if any(c.lower() == "expires_at" for c in known.columns):
        raise CannotFix("the table already has expires_at")
    key = "rowid" if not known.without_rowid else None
    if key is None:
        if len(known.primary_key) != 1:
            raise CannotFix("WITHOUT ROWID table with a composite key")
        key = known.primary_key[0]

    edits: list[Edit] = []
    # 1. constants at the top of the file
    top = _top_insert_point(src, file.root)
    edits.append(Edit(path, top, top, _constants_text(table, const, batch)))

    # 2. migrations: reuse the class's list, or create it and call it from the constructor
    try:
        planned = plan_step(cls, model, _step(table, const), indent, unit, quote)
    except CannotMigrate as exc:
        raise CannotFix(str(exc)) from exc
    edits.extend(planned.edits)

    # 3. every INSERT writes expires_at, and arms the alarm
    for stmt in statements:
        func = enclosing_function(stmt.call)
        if func is None or not contains(cls.node, func):
            raise CannotFix("INSERT outside a method")
        taken = identifiers_in(src, func)
        var = (
            "expiresAt"
            if "expiresAt" not in taken
            else f"{_camel(table)[:1].lower()}{_camel(table)[1:]}ExpiresAt"
        )
        if var in taken:
            raise CannotFix("no free name for the expiry")
        edits.extend(_insert_edits(stmt, var))
        holder = statement_of(stmt.call)
        if holder.type not in {
            "expression_statement",
            "lexical_declaration",
            "return_statement",
            "variable_declaration",
        }:
            raise CannotFix("INSERT inside an expression we cannot put a statement before")
        stmt_indent = indent_at(src, holder.start_byte)
        arm = (
            f"await this.{ARM}({var});"
            if is_async(src, func)
            else f"{ctx}.waitUntil(this.{ARM}({var}));"
        )
        before = line_start(src, holder.start_byte)
        if src[before : holder.start_byte].strip():
            raise CannotFix("statement shares its line")
        edits.append(
            Edit(
                path,
                before,
                before,
                f"{stmt_indent}const {var} = Date.now() + {const};\n{stmt_indent}{arm}\n",
            )
        )

    # 4. the alarm: earliest-time arming, cleanup, alarm() dispatch
    if class_member(cls, ARM) is None:
        edits.extend(_existing_set_alarms(cls, ctx))
        edits.append(append_member(cls, _arm_text(ctx, indent, unit)))
    edits.append(
        append_member(
            cls, _cleanup_text(table, method, const, batch, key, ctx, indent, unit, quote)
        )
    )
    edits.extend(_alarm_edits(cls, method, indent, unit))
    return Fix(
        fix_id="unbounded-table-growth.ttl-cleanup",
        title=f"Expire `{table}` rows after {const} (migration + alarm cleanup)",
        safety=Safety.UNSAFE,
        edits=_merge_appends(edits),
        review=(
            f"Choose the retention: {const} defaults to 30 days and rows written before the "
            f"migration get a full TTL from when it runs. Every INSERT into `{table}` now writes "
            "expires_at and arms the alarm; existing setAlarm() calls of the class keep the "
            "earliest pending time (a guard that armed only while no alarm was pending is "
            "removed: the cleanup's alarm is nearly always pending), so alarm() may now run "
            "earlier than another job expected: "
            "its body must tolerate early wake-ups. Check that nothing reads rows older than the "
            "TTL. " + planned.where
        ),
    )


def _merge_appends(edits: list[Edit]) -> list[Edit]:
    """Several members appended before the same `}`: one edit, in order."""
    merged: list[Edit] = []
    for edit in edits:
        previous = next(
            (
                m
                for m in merged
                if m.path == edit.path and m.start == m.end == edit.start == edit.end
            ),
            None,
        )
        if previous is None:
            merged.append(edit)
            continue
        index = merged.index(previous)
        merged[index] = Edit(edit.path, edit.start, edit.end, previous.new_text + edit.new_text)
    return merged


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "TTL cleanup by alarm",
            UNSAFE,
            """
Adds a migration step (an `ALTER TABLE … ADD COLUMN expires_at INTEGER` plus `CREATE INDEX IF
NOT EXISTS idx_<table>_expires_at`, never an edit of `CREATE TABLE IF NOT EXISTS` alone, which
does nothing for objects already deployed), a `<TABLE>_TTL_MS` constant written by every INSERT,
and a cleanup in `alarm()` that deletes expired rows in bounded batches and re-arms at
`MIN(expires_at)` only while rows remain, merged into an existing `alarm()`. The alarm is armed
on insert when none is pending (or the pending one is later), not unconditionally in the
constructor. The step goes into the project's own migrations list when the constructor runs one
(appended in its style; see `schema-change-without-migration`), else into a `SQL_MIGRATIONS`
list the fix adds to the class, run right after the constructor statement creating the table, or
after the class's own migration method called after it (`this.migrateSchema()`, which may
rebuild the table and would drop a column added before it). Only the growth-path INSERTs write
`expires_at`: a seed row keeps no expiry (the cleanup never deletes it), and a migration's copy
is left as it is (the step's UPDATE gives the copied rows their expiry).
""",
            why="""
Unsafe: the retention period is a product decision, and rows older than it are deleted.
""",
        ),
    ),
    review="""
The TTL (`<TABLE>_TTL_MS`, 30 days by default) fits the data; rows written before the step get a
full TTL from when it runs.
""",
    references=(
        REF_ALARMS + " (one alarm per object; setAlarm replaces it)",
        REF_SQLITE_ALTER + " (CREATE TABLE IF NOT EXISTS never changes an existing table)",
        REF_RULES + " (schema versioning through a migrations table)",
    ),
)


SPEC = FixSpec(
    "unbounded-table-growth",
    build,
    tier=TIER_CORRECTNESS,
    label="TTL cleanup by alarm",
    test_case=ttl_case,
    docs=FIX_DOCS,
)
