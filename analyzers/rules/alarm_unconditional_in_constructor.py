"""alarm-unconditional-in-constructor: the constructor (or what it calls) sets the alarm on every
wake without looking at the one already pending."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._alarms import (
    getalarm_guarded,
    reached_from_constructor,
    storage_calls,
)
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_LIFECYCLE, REF_RULES, node_span
from durable_harden.analyzers.tsutil import call_args, node_text, walk_type

DOCS = RuleDocs(
    what="""
Reports `ctx.storage.setAlarm()` reached from a Durable Object's constructor (directly, inside its
`blockConcurrencyWhile` callback, or in a method the constructor calls) that does not first check
`getAlarm()`.

Not reported: an alarm re-armed from durable state, whose time is read from what the object
stored rather than computed from the clock (`setAlarm(await this.nextDueTime())` where the
method reads storage, `setAlarm(stored.dueAt)`): setting the same time again on every wake is
idempotent. A time computed from `Date.now()` / `new Date()` is reported.
""",
    why="""
The constructor runs again on every wake: after hibernation, after eviction, after each deploy.
An object has one alarm and `setAlarm()` replaces it, so an unconditional `setAlarm(Date.now() + x)`
in the constructor pushes the pending alarm back every time the object wakes: a busy object may
never reach its alarm at all, and an object woken only by its alarm re-arms itself forever (each
run billed). Set the alarm when there is work, or only when none is pending.
""",
    example="""
```ts
// Reported: every wake postpones the cleanup by an hour
constructor(ctx: DurableObjectState, env: Env) {
  super(ctx, env);
  ctx.blockConcurrencyWhile(async () => {
    await ctx.storage.setAlarm(Date.now() + 60 * 60 * 1000);
  });
}

// Production pattern
  ctx.blockConcurrencyWhile(async () => {
    if ((await ctx.storage.getAlarm()) === null) {
      await ctx.storage.setAlarm(Date.now() + 60 * 60 * 1000);
    }
  });
```
""",
    references=(
        f"{REF_ALARMS} (one alarm per object; setAlarm replaces it)",
        f"{REF_LIFECYCLE} (the constructor runs on every wake)",
        f"{REF_RULES}",
    ),
)


_CLOCK = later(r"\bDate\.now\(|\bnew Date\(|performance\.now\(")
_STORAGE_READ = later(r"\.(?:get|list|getAlarm)\b\s*[<(]|\.sql\b|\bsql\.exec\(|\.exec\(")


def _this_method_bodies(cls: DurableObjectClass, expr: Node) -> list[Node]:
    data = cls.file.data
    found: list[Node] = []
    for call in walk_type(expr, "call_expression"):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
        if obj is not None and prop is not None and node_text(data, obj) == "this":
            method = cls.methods.get(node_text(data, prop))
            if method is not None:
                found.append(method)
    return found


def from_durable_state(cls: DurableObjectClass, call: Node, scope: Node) -> bool:
    """The alarm time is read from what the object stored (`setAlarm(await this.nextDue())`
    where nextDue reads storage, or a stored timestamp), not computed from the clock: setting it
    on every wake sets the same time again, which is idempotent."""
    data = cls.file.data
    args = call_args(call)
    if not args:
        return False
    expr = args[0]
    text = node_text(data, expr)
    if expr.type == "identifier":
        for decl in walk_type(scope, "variable_declarator"):
            name, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
            if name is not None and value is not None and node_text(data, name) == text:
                expr, text = value, node_text(data, value)
                break
    if _CLOCK().search(text):
        return False
    if _STORAGE_READ().search(text):
        return True
    # follow `this.m()` calls a few levels: nextDue() -> listTasks() -> storage.list()
    frontier, seen = _this_method_bodies(cls, expr), set()
    for _ in range(3):
        following: list[Node] = []
        for body in frontier:
            if body.start_byte in seen:
                continue
            seen.add(body.start_byte)
            if _STORAGE_READ().search(node_text(data, body)):
                return True
            following.extend(_this_method_bodies(cls, body))
        frontier = following
    return False


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class ConstructorAlarmState:
    """What the fix needs: the class and the `setAlarm()` call."""

    cls: DurableObjectClass
    call: Node


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        reached = reached_from_constructor(cls)
        for name, method in reached.items():
            for call in storage_calls(cls, "setAlarm", method):
                if getalarm_guarded(cls, call, method) or from_durable_state(cls, call, method):
                    continue
                where = "the constructor" if name == "constructor" else f"`{name}()`"
                via = "" if name == "constructor" else ", which the constructor calls"
                func = call.child_by_field_name("function") or call
                yield RULE.finding(
                    "set-on-every-wake",
                    f"`setAlarm()` in {where}{via} runs on every wake of `{cls.name}` and "
                    "replaces the pending alarm; check `getAlarm()` first.",
                    node_span(cls.file, func),
                    data={
                        "class": cls.name,
                        "method": name,
                        "call": [call.start_byte, call.end_byte],
                    },
                    state=ConstructorAlarmState(cls, call),
                )


RULE = Rule(
    id="alarm-unconditional-in-constructor",
    title="The constructor re-arms the alarm on every wake",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "set-on-every-wake": "setAlarm() on the constructor path replaces the pending alarm on every wake",
    },
)
