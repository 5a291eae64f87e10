"""The class's one alarm, shared by several purposes: a reusable planner for fixes that need to
run work from `alarm()` (timer -> alarm, TTL cleanup, …).

One alarm per object: `setAlarm()` replaces the pending one. So:
- a class with no `alarm()` gets one whose body is the work (the simple case);
- a class whose `alarm()` already serves another purpose gets a schedule table
  `_alarm_schedule(kind TEXT PRIMARY KEY, due_at INTEGER NOT NULL, payload TEXT)` with its index
  on `due_at` (created together wherever the table is), a
  `scheduleAlarm(kind, at)` method that records the due time (earliest wins) and arms the alarm at
  MIN(due_at), and a dispatching `alarm()` that runs each due kind and re-arms at the next due
  time. The old `alarm()` body becomes the method `alarmDefault()` under kind "default", and every
  `setAlarm(x)` of the class becomes `this.scheduleAlarm("default", x)`;
- a class that already has that dispatcher gets one more `case`.

API (everything in byte-offset Edits of the class's file):

    work = plan_alarm_work(cls, model, AlarmWork(kind="presence", body="this.broadcastPresence();"))
    edits = work.edits                      # add/merge alarm(), helpers, schedule table
    call = work.schedule("Date.now() + 30_000")   # expression that arms this work (a Promise)

The body is plain statements (no indentation needed) that run inside an `async` method of the
class (`this` is the object; `await` is allowed). Its re-arming, if any, must use
`work.schedule(...)` text, which `plan_alarm_work` also puts in `AlarmWork.rearm_template`
substitution `{schedule:<expr>}`: write `{schedule:Date.now() + 30_000}` in the body.
Only SQLite-backed classes get the schedule table (it needs `ctx.storage.sql`);
`plan_alarm_work` raises `AlarmPlanError` otherwise.

Size (over 500 lines): the generated schedule code and the rewriting of the class's
`setAlarm()`/`alarm()` that must agree with it are one unit; split, each half would only be
readable with the other open.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.generated_names import (
    DEFAULT_KIND,
    DEFAULT_METHOD,
    SCHEDULE_METHOD,
    SCHEDULE_TABLE,
)
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._websocket import ctx_reachable
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.codeactions._tsedit import (
    append_member,
    body_indent,
    indent_unit,
    is_async,
    member_indent,
    quote_char,
    reindent,
)
from durable_harden.codeactions.fix import CannotFix, Edit

# The schedule's own index: alarm() selects due rows and MIN(due_at) on every run; without it
# sql-missing-index would flag the generated queries on the next harden round.
SCHEDULE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEDULE_TABLE} "
    "(kind TEXT PRIMARY KEY, due_at INTEGER NOT NULL, payload TEXT); "
    f"CREATE INDEX IF NOT EXISTS idx_{SCHEDULE_TABLE}_due_at ON {SCHEDULE_TABLE}(due_at)"
)
_SCHEDULE_RE = re.compile(r"\{schedule:(.+?)\}")


AlarmPlanError = CannotFix  # the one error a builder raises (codeactions/fix.py)


@dataclass
class AlarmWork:
    """One purpose's work in `alarm()`, with how it re-arms itself."""

    kind: str  # identifier-like name of the purpose, e.g. "presence", "ttlMessages"
    body: str  # statements; `{schedule:<ms expr>}` stands for the call that re-arms this work


@dataclass
class AlarmPlan:
    """How a fix schedules alarm work in a class: its edits and the schedule call."""

    edits: list[Edit] = field(default_factory=list)
    ctx: str = "this.ctx"
    kind: str = ""
    shared: bool = False  # True when it goes through the schedule table
    quote: str = '"'

    def schedule(self, at: str) -> str:
        """An expression (a Promise<void>) that arms this work at `at` (ms since epoch)."""
        if self.shared:
            return f"this.{SCHEDULE_METHOD}({self.quote}{self.kind}{self.quote}, {at})"
        return f"{self.ctx}.storage.setAlarm({at})"


def task_method(kind: str) -> str:
    return f"alarm{kind[0].upper()}{kind[1:]}"


def uses_schedule_table(cls: DurableObjectClass) -> bool:
    return SCHEDULE_METHOD in cls.methods


def _is_sqlite(cls: DurableObjectClass, model: ProjectModel) -> bool:
    if any(s.cls is cls for s in model.statements):
        return True
    for config in model.configs_binding(cls.name):
        for migration in config.migrations:
            if cls.name in getattr(migration, "new_sqlite_classes", []):
                return True
        for export in config.class_exports:
            if export.name == cls.name and export.storage in {None, "sqlite"}:
                return True
    return False


def _fill(body: str, plan: AlarmPlan) -> str:
    return _SCHEDULE_RE.sub(lambda m: plan.schedule(m.group(1)), body)


def set_alarm_calls(cls: DurableObjectClass) -> list[Node]:
    data = cls.file.data
    found: list[Node] = []
    storages = cls.aliases.storage
    for call in walk_type(cls.node, "call_expression"):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
        if obj is None or prop is None or node_text(data, prop) != "setAlarm":
            continue
        receiver = node_text(data, obj).replace("?.", ".").replace("!", "")
        if receiver in storages or receiver.endswith(".storage"):
            found.append(call)
    return found


def _statement(node: Node) -> Node:
    while node.parent is not None and node.type != "expression_statement":
        node = node.parent
    return node


def _sole_if(call: Node) -> Node | None:
    """The `if` (without `else`) whose body is only the call's statement, braced or not."""
    parent = _statement(call).parent
    if parent is not None and parent.type == "statement_block" and parent.named_child_count == 1:
        parent = parent.parent
    if parent is None or parent.type != "if_statement":
        return None
    if parent.child_by_field_name("alternative") is not None:
        return None
    return parent


def _getalarm_guard(data: bytes, call: Node) -> Node | None:
    """The `if` whose only job is to skip setAlarm when an alarm is pending."""
    parent = _sole_if(call)
    if parent is None:
        return None
    cond = parent.child_by_field_name("condition")
    text = node_text(data, cond).replace(" ", "") if cond is not None else ""
    if "getAlarm()" in text and text.endswith(("===null)", "==null)")) and "||" not in text:
        return parent
    return None


def _earliest_guard(data: bytes, call: Node) -> tuple[Node, Node | None] | None:
    """`const pending = await s.getAlarm(); if (pending === null || pending > t) setAlarm(t)`:
    an earliest-time helper (the TTL fix's `armAlarmBy`, hand-written `scheduleCleanup`). With
    the schedule table the `if` must go, or a purpose whose time is later than another kind's
    pending alarm would never get its row. Returns (the if, the declaration to drop or None)."""
    parent = _sole_if(call)
    if parent is None:
        return None
    cond = parent.child_by_field_name("condition")
    block = parent.parent
    if cond is None or block is None or block.type != "statement_block":
        return None
    used = {node_text(data, n) for n in walk_type(cond, "identifier")}
    for decl_stmt in block.named_children:
        if decl_stmt.start_byte >= parent.start_byte:
            break
        if decl_stmt.type != "lexical_declaration":
            continue
        for declarator in decl_stmt.named_children:
            name = declarator.child_by_field_name("name")
            value = declarator.child_by_field_name("value")
            if name is None or value is None or node_text(data, name) not in used:
                continue
            if "getAlarm(" not in node_text(data, value):
                continue
            var = node_text(data, name)
            elsewhere = [
                n
                for n in walk_type(block, "identifier")
                if node_text(data, n) == var
                and not (parent.start_byte <= n.start_byte < cond.end_byte)
                and not (decl_stmt.start_byte <= n.start_byte < decl_stmt.end_byte)
            ]
            only = len(decl_stmt.named_children) == 1 and not elsewhere
            return parent, decl_stmt if only else None
    return None


def _then_guard(data: bytes, call: Node) -> tuple[Node, bool] | None:
    """`void s.getAlarm().then(async (pending) => { if (pending === null) await setAlarm(t); })`
    (the form the timer and constructor-guard fixes write where `await` is not available).
    Returns (the whole statement, whether it was awaited), or None."""
    guard = _sole_if(call)
    if guard is None:
        return None
    body = guard.parent
    arrow = body.parent if body is not None and body.type == "statement_block" else body
    if arrow is None or arrow.type not in {"arrow_function", "function_expression"}:
        return None
    if body is not None and body.type == "statement_block" and body.named_child_count != 1:
        return None
    param = arrow.child_by_field_name("parameter")
    if param is None:
        params = arrow.child_by_field_name("parameters")
        named = [p for p in params.named_children if p.type != "comment"] if params else []
        pattern = named[0].child_by_field_name("pattern") if len(named) == 1 else None
        param = pattern
    if param is None or param.type != "identifier":
        return None
    var = node_text(data, param)
    cond = guard.child_by_field_name("condition")
    text = node_text(data, cond).replace(" ", "") if cond is not None else ""
    if text not in {f"({var}===null)", f"({var}==null)"}:
        return None
    args = call.child_by_field_name("arguments")
    if args is None or any(node_text(data, n) == var for n in walk_type(args, "identifier")):
        return None
    then_args = arrow.parent
    then_call = then_args.parent if then_args is not None else None
    if then_call is None or then_call.type != "call_expression" or then_args is None:
        return None
    if [c for c in then_args.named_children if c.type != "comment"] != [arrow]:
        return None
    callee = then_call.child_by_field_name("function")
    if callee is None or not node_text(data, callee).replace(" ", "").endswith(".getAlarm().then"):
        return None
    outer = then_call.parent
    awaited = outer is not None and outer.type == "await_expression"
    if outer is not None and outer.type in {"await_expression", "unary_expression"}:
        outer = outer.parent
    if outer is None or outer.type != "expression_statement":
        return None
    return outer, awaited


def drop_pending_guard(path: Path, data: bytes, call: Node, callee: str) -> list[Edit] | None:
    """When the `setAlarm(x)` call sits in a guard that only arms while no alarm is pending
    (`if ((await getAlarm()) === null)`, an earliest-time `if (pending === null || pending > x)`,
    or `getAlarm().then((pending) => { if (pending === null) … })`), edits that replace the
    guard by the bare call with `callee` instead of `….setAlarm` (a helper that keeps the
    earliest due time itself, where another purpose's pending alarm must not block this one).
    None when the call is not guarded that way."""
    args = call.child_by_field_name("arguments")
    if args is None:
        return None
    then = _then_guard(data, call)
    if then is not None:
        outer, awaited = then
        text = f"{'await' if awaited else 'void'} {callee}{node_text(data, args)};"
        return [Edit(path, outer.start_byte, outer.end_byte, text)]
    edits: list[Edit] = []
    guard = _getalarm_guard(data, call)
    if guard is None:
        earliest = _earliest_guard(data, call)
        if earliest is None:
            return None
        guard, declaration = earliest
        if declaration is not None:
            start = data.rfind(b"\n", 0, declaration.start_byte) + 1
            end = data.find(b"\n", declaration.end_byte)
            edits.append(Edit(path, start, len(data) if end == -1 else end + 1, ""))
    stmt = _statement(call)
    indent = data[data.rfind(b"\n", 0, guard.start_byte) + 1 : guard.start_byte].decode()
    text = data[stmt.start_byte : call.start_byte].decode() + callee
    text += data[args.start_byte : stmt.end_byte].decode()
    edits.append(Edit(path, guard.start_byte, guard.end_byte, text.replace("\n", "\n" + indent)))
    return edits


def plan_alarm_work(cls: DurableObjectClass, model: ProjectModel, work: AlarmWork) -> AlarmPlan:
    data = cls.file.data
    path = cls.file.path
    unit = indent_unit(data)
    mind = member_indent(cls)
    inner = mind + unit
    q = quote_char(data)
    if not ctx_reachable(cls):
        raise AlarmPlanError("the class keeps no DurableObjectState to reach its storage through")
    ctx = ctx_expression(cls)
    plan = AlarmPlan(ctx=ctx, kind=work.kind, quote=q)
    existing = cls.alarm
    if task_method(work.kind) in cls.methods:
        raise AlarmPlanError(f"`{task_method(work.kind)}` already exists")
    if existing is None:
        body = reindent(_fill(work.body, plan), inner)
        plan.edits.append(
            append_member(
                cls,
                f"{mind}async alarm(): Promise<void> {{\n{body}\n{mind}}}",
            )
        )
        return plan
    if not _is_sqlite(cls, model):
        raise AlarmPlanError("the schedule table needs a SQLite-backed class")
    plan.shared = True
    task_body = reindent(_fill(work.body, plan), inner)
    task = (
        f"{mind}private async {task_method(work.kind)}(): Promise<void> {{\n{task_body}\n{mind}}}"
    )
    if uses_schedule_table(cls):
        # our dispatcher exists: add a case before its `default:`
        switch = next(iter(walk_type(existing, "switch_statement")), None)
        if switch is None:
            raise AlarmPlanError("alarm() has no dispatching switch")
        default = next(iter(walk_type(switch, "switch_default")), None)
        anchor = default if default is not None else switch
        case_indent = body_indent(data, switch.child_by_field_name("body") or switch)
        at = anchor.start_byte if default is not None else switch.end_byte - 1
        line = data.rfind(b"\n", 0, at) + 1
        plan.edits.append(
            Edit(
                path,
                line,
                line,
                f"{case_indent}case {q}{work.kind}{q}:\n"
                f"{case_indent}{unit}await this.{task_method(work.kind)}();\n"
                f"{case_indent}{unit}break;\n",
            )
        )
        plan.edits.append(append_member(cls, task))
        return plan
    # first sharing: the old alarm() becomes alarmDefault(), every setAlarm goes through the table
    name = existing.child_by_field_name("name")
    if existing.type != "method_definition" or name is None:
        raise AlarmPlanError("alarm is not a plain method")
    if not is_async(data, existing):
        raise AlarmPlanError("alarm() is not async")
    params = existing.child_by_field_name("parameters")
    param_text = node_text(data, params) if params is not None else "()"
    info_param = "info?: AlarmInvocationInfo" if param_text.strip("() ") else ""
    plan.edits.append(Edit(path, name.start_byte, name.end_byte, DEFAULT_METHOD))
    # keep the old signature's return type; make it private
    start_line = data.rfind(b"\n", 0, existing.start_byte) + 1
    if b"private" not in data[start_line : name.start_byte]:
        plan.edits.append(Edit(path, existing.start_byte, existing.start_byte, "private "))
    default_call_args = "info" if info_param else ""
    plan.edits.extend(_route_set_alarms(cls, q, lambda call: DEFAULT_KIND))
    u3 = inner + unit + unit
    cases = (
        f"{u3}case {q}{DEFAULT_KIND}{q}:\n"
        f"{u3}{unit}await this.{DEFAULT_METHOD}({default_call_args});\n"
        f"{u3}{unit}break;\n"
        f"{u3}case {q}{work.kind}{q}:\n"
        f"{u3}{unit}await this.{task_method(work.kind)}();\n"
        f"{u3}{unit}break;\n"
    )
    members = [*_schedule_members(cls, info_param, cases), task]
    plan.edits.append(append_member(cls, "\n\n".join(members)))
    return plan


def _schedule_members(
    cls: DurableObjectClass,
    info_param: str,
    cases: str,
    prelude: str = "",
    replace: bool = False,
) -> list[str]:
    """The `scheduleAlarm()` method and the dispatching `alarm()` (the schedule table's code).
    `cases`: the switch's case clauses, indented for it; `prelude`: lines before the loop.
    `replace`: a kind's new due time replaces its old one (what `setAlarm()` did for it) instead
    of the earliest winning; an alarm that finds nothing due then only re-arms, and the old
    handler runs on an empty schedule only (an alarm armed before the table existed)."""
    data = cls.file.data
    unit = indent_unit(data)
    mind = member_indent(cls)
    inner = mind + unit
    q = quote_char(data)
    ctx = ctx_expression(cls)
    t = SCHEDULE_TABLE
    u2 = inner + unit
    upsert = "excluded.due_at" if replace else "min(due_at, excluded.due_at)"
    fallback = "due.length === 0"
    if replace:
        fallback += f" && sql.exec({q}SELECT kind FROM {t} LIMIT 1{q}).toArray().length === 0"
    return [
        f"{mind}// One alarm, several purposes: each kind's next due time lives in {t}.\n"
        f"{mind}private async {SCHEDULE_METHOD}(kind: string, at: number): Promise<void> {{\n"
        f"{inner}const sql = {ctx}.storage.sql;\n"
        f"{inner}sql.exec(\n"
        f"{u2}{q}{SCHEDULE_DDL}{q},\n"
        f"{inner});\n"
        f"{inner}sql.exec(\n"
        f"{u2}{q}INSERT INTO {t} (kind, due_at) VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET due_at = {upsert}{q},\n"
        f"{u2}kind,\n{u2}at,\n"
        f"{inner});\n"
        f"{inner}const current = await {ctx}.storage.getAlarm();\n"
        f"{inner}if (current === null || current > at) {{\n"
        f"{u2}await {ctx}.storage.setAlarm(at);\n"
        f"{inner}}}\n"
        f"{mind}}}",
        f"{mind}async alarm({info_param}): Promise<void> {{\n"
        f"{inner}const sql = {ctx}.storage.sql;\n"
        f"{inner}sql.exec(\n"
        f"{u2}{q}{SCHEDULE_DDL}{q},\n"
        f"{inner});\n"
        f"{inner}const due = sql\n"
        f"{u2}.exec<{{ kind: string }}>({q}SELECT kind FROM {t} WHERE due_at <= ? ORDER BY due_at{q}, Date.now())\n"
        f"{u2}.toArray();\n"
        f"{inner}if ({fallback}) {{\n"
        f"{u2}// an alarm armed before the schedule table existed belongs to the old handler\n"
        f"{u2}due.push({{ kind: {q}{DEFAULT_KIND}{q} }});\n"
        f"{inner}}}\n"
        f"{prelude}"
        f"{inner}for (const {{ kind }} of due) {{\n"
        f"{u2}// removed first: a task that re-arms itself writes a fresh row\n"
        f"{u2}sql.exec({q}DELETE FROM {t} WHERE kind = ?{q}, kind);\n"
        f"{u2}switch (kind) {{\n"
        f"{cases}"
        f"{u2}}}\n"
        f"{inner}}}\n"
        f"{inner}const next = sql\n"
        f"{u2}.exec<{{ next: number | null }}>({q}SELECT MIN(due_at) AS next FROM {t}{q})\n"
        f"{u2}.one().next;\n"
        f"{inner}if (next !== null) {{\n"
        f"{u2}await {ctx}.storage.setAlarm(next);\n"
        f"{inner}}}\n"
        f"{mind}}}",
    ]


def _route_set_alarms(
    cls: DurableObjectClass, q: str, kind_of: Callable[[Node], str]
) -> list[Edit]:
    """Every `setAlarm(x)` of the class becomes `this.scheduleAlarm(<kind>, x)`; a
    `getAlarm() === null` guard around one goes (scheduleAlarm keeps the earliest time itself)."""
    data = cls.file.data
    path = cls.file.path
    edits: list[Edit] = []
    for call in set_alarm_calls(cls):
        args = call.child_by_field_name("arguments")
        kind = kind_of(call)
        if args is None:
            continue
        guard = _getalarm_guard(data, call)
        earliest = _earliest_guard(data, call) if guard is None else None
        if earliest is not None:
            guard, declaration = earliest
            if declaration is not None:
                start = data.rfind(b"\n", 0, declaration.start_byte) + 1
                end = data.find(b"\n", declaration.end_byte)
                edits.append(Edit(path, start, len(data) if end == -1 else end + 1, ""))
        if guard is not None:
            # `if ((await getAlarm()) === null) setAlarm(x)`: with a shared alarm some other kind
            # is usually pending; scheduleAlarm() keeps the earliest due time itself
            stmt = _statement(call)
            indent = data[data.rfind(b"\n", 0, guard.start_byte) + 1 : guard.start_byte].decode()
            text = data[stmt.start_byte : call.start_byte].decode() + f"this.{SCHEDULE_METHOD}("
            text += f"{q}{kind}{q}, " + data[args.start_byte + 1 : stmt.end_byte].decode()
            edits.append(
                Edit(path, guard.start_byte, guard.end_byte, text.replace("\n", "\n" + indent))
            )
            continue
        edits.append(
            Edit(
                path,
                call.start_byte,
                args.start_byte,
                f"this.{SCHEDULE_METHOD}",
            )
        )
        edits.append(Edit(path, args.start_byte + 1, args.start_byte + 1, f"{q}{kind}{q}, "))
    return edits


def plan_shared_purposes(
    cls: DurableObjectClass, model: ProjectModel, kind_of: Callable[[Node], str], kinds: list[str]
) -> AlarmPlan:
    """Several purposes already set the one alarm (and overwrite each other): each `setAlarm()`
    site gets its own kind (`kind_of(call)`; calls in `alarm()` are "default") in the schedule
    table, so no due time replaces another. The old `alarm()` becomes `alarmDefault()`, run once
    per alarm whichever kinds are due: it still decides from its own state what to do."""
    data = cls.file.data
    path = cls.file.path
    existing = cls.alarm
    if existing is None or uses_schedule_table(cls):
        raise AlarmPlanError("no alarm() to share, or the schedule table exists already")
    if not _is_sqlite(cls, model):
        raise AlarmPlanError("the schedule table needs a SQLite-backed class")
    name = existing.child_by_field_name("name")
    if existing.type != "method_definition" or name is None or not is_async(data, existing):
        raise AlarmPlanError("alarm() is not a plain async method")
    if DEFAULT_METHOD in cls.methods:
        raise AlarmPlanError(f"`{DEFAULT_METHOD}` already exists")
    q = quote_char(data)
    unit = indent_unit(data)
    inner = member_indent(cls) + unit
    u3 = inner + unit + unit
    plan = AlarmPlan(ctx=ctx_expression(cls), kind=DEFAULT_KIND, shared=True, quote=q)
    params = existing.child_by_field_name("parameters")
    param_text = node_text(data, params) if params is not None else "()"
    info_param = "info?: AlarmInvocationInfo" if param_text.strip("() ") else ""
    plan.edits.append(Edit(path, name.start_byte, name.end_byte, DEFAULT_METHOD))
    start_line = data.rfind(b"\n", 0, existing.start_byte) + 1
    if b"private" not in data[start_line : name.start_byte]:
        plan.edits.append(Edit(path, existing.start_byte, existing.start_byte, "private "))
    plan.edits.extend(_route_set_alarms(cls, q, kind_of))
    labels = "".join(f"{u3}case {q}{k}{q}:\n" for k in [DEFAULT_KIND, *kinds] if k)
    cases = (
        f"{labels}"
        f"{u3}{unit}if (!ranDefault) {{\n"
        f"{u3}{unit}{unit}ranDefault = true;\n"
        f"{u3}{unit}{unit}await this.{DEFAULT_METHOD}({'info' if info_param else ''});\n"
        f"{u3}{unit}}}\n"
        f"{u3}{unit}break;\n"
    )
    prelude = (
        f"{inner}// the old handler serves every purpose below: run it once per alarm\n"
        f"{inner}let ranDefault = false;\n"
    )
    members = _schedule_members(cls, info_param, cases, prelude, replace=True)
    plan.edits.append(append_member(cls, "\n\n".join(members)))
    return plan
