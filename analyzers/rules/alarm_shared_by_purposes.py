"""alarm-shared-by-purposes: unrelated `setAlarm()` sites that overwrite each other's alarm."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.generated_names import SCHEDULERS
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._alarms import (
    getalarm_guarded,
    member_of,
    storage_calls,
    this_calls,
)
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_RULES, node_span
from durable_harden.analyzers.tsutil import (
    call_args,
    callee_parts,
    node_text,
    normalize_expr,
    walk_type,
)

# SCHEDULERS: methods written by our own fixes (and the usual hand-written equivalent) that arm
# the alarm for every purpose at the earliest due time: they are the cure, not a purpose.
# `setAlarm(Date.now())`: run alarm() right away (it then re-plans); it cannot lose a purpose
RUN_NOW = frozenset({"Date.now()", "0", "Date.now()+0", "Date.now() + 0"})

DOCS = RuleDocs(
    what="""
Reports a Durable Object class whose alarm is set from two or more methods for different times
(different `setAlarm()` arguments), where at least one of them sets it without looking at the
pending alarm (`getAlarm()`). Re-arming inside `alarm()` itself or in a method it calls
(directly or through others), and helpers that keep the earliest time (`scheduleAlarm`,
`armAlarmBy`), are not purposes of their own. Not reported either: a class whose `alarm()` only
deletes the object's storage (`deleteAll()`, never re-arming): every `setAlarm()` then arms the
one expiry of the object, moved earlier or later as its state changes. A `setAlarm(Date.now())`
(run `alarm()` now) is no purpose either: it postpones nothing.
""",
    why="""
An object has exactly one alarm and `setAlarm()` replaces it. When a reminder method sets the
alarm for 09:00 and a cleanup method later sets it for tomorrow, the 09:00 alarm is silently
gone: whichever purpose armed last wins and the others never run (or run late, only if `alarm()`
happens to check for them). Several purposes sharing the one alarm need a schedule: each
purpose's next due time stored, the alarm armed at the earliest of them, and an `alarm()` that
runs what is due and re-arms at the next due time.
""",
    example="""
```ts
// Reported: each call cancels the other's alarm
async remindAt(at: number) { await this.ctx.storage.setAlarm(at); }
async touch() { await this.ctx.storage.setAlarm(Date.now() + IDLE_MS); }

// Production pattern: one schedule table, one dispatching alarm()
async remindAt(at: number) { await this.scheduleAlarm("remindAt", at); }
async touch() { await this.scheduleAlarm("touch", Date.now() + IDLE_MS); }
```
""",
    references=(
        f"{REF_ALARMS} (one alarm per object; setAlarm replaces it)",
        f"{REF_RULES} (several purposes need a schedule)",
    ),
)


def _purpose(name: str | None) -> str:
    return (name or "unnamed").lstrip("#")


def reached_from_alarm(cls: DurableObjectClass) -> set[str]:
    """alarm() and the methods it calls (transitively): re-arming there is the handler's own."""
    handler = cls.alarm
    if handler is None:
        return set()
    reached = {"alarm"}
    frontier = [handler]
    while frontier:
        scope = frontier.pop()
        for name in this_calls(cls, scope):
            if name not in reached:
                reached.add(name)
                frontier.append(cls.methods[name])
    return reached


def expires_the_object(cls: DurableObjectClass) -> bool:
    """alarm() only deletes the object's storage (a self-destruct after a deadline) and never
    re-arms: every `setAlarm()` arms that one expiry, earlier or later as the object's state
    changes, and the handler re-checks the state when it runs."""
    handler = cls.alarm
    if handler is None:
        return False
    data = cls.file.data
    methods = {
        (callee_parts(data, call) or ("", ""))[1] for call in walk_type(handler, "call_expression")
    }
    return "deleteAll" in methods and "setAlarm" not in methods


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class SharedAlarmState:
    """What the fix needs: the class."""

    cls: DurableObjectClass


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        calls = storage_calls(cls, "setAlarm")
        if len(calls) < 2:
            continue  # one purpose at most (the handler walks below need not run)
        own = reached_from_alarm(cls)
        found: list[tuple[Node, str, Node, str]] = []  # call, purpose, member, argument
        for call in calls:
            name, member = member_of(cls, call)
            if member is None or name in own or name in SCHEDULERS:
                continue
            args = call_args(call)
            arg = normalize_expr(node_text(data, args[0])) if args else ""
            if arg in RUN_NOW:
                continue  # fires at once: nothing armed earlier is postponed or lost
            found.append((call, _purpose(name), member, arg))
        purposes = {purpose for _, purpose, _, _ in found}
        arguments = {arg for _, _, _, arg in found}
        # the purposes first; the handler's and each site's guard walks only when they matter
        if len(purposes) < 2 or len(arguments) < 2 or expires_the_object(cls):
            continue
        sites: list[tuple[Node, str, bool, str]] = [  # call, purpose, guarded, argument
            (call, purpose, getalarm_guarded(cls, call, member), arg)
            for call, purpose, member, arg in found
        ]
        unguarded = [s for s in sites if not s[2]]
        if not unguarded:
            continue
        first = unguarded[0][0]
        others = [s for s in sites if s[0] != first]
        listed = ", ".join(f"`{p}()`" for p in sorted(purposes))
        yield RULE.finding(
            "purposes-share-alarm",
            f"`{cls.name}` sets its one alarm for unrelated purposes ({listed}); each "
            "`setAlarm()` replaces the pending alarm, so a purpose armed earlier is lost. Keep "
            "the due times in a schedule and arm the earliest.",
            node_span(cls.file, first.child_by_field_name("function") or first),
            related=[
                Related(
                    node_span(cls.file, call.child_by_field_name("function") or call),
                    f"also sets the alarm (`{purpose}`)",
                )
                for call, purpose, _, _ in others
            ],
            data={
                "class": cls.name,
                "sites": [[call.start_byte, purpose] for call, purpose, _, _ in sites],
            },
            state=SharedAlarmState(cls),
        )


RULE = Rule(
    id="alarm-shared-by-purposes",
    title="Unrelated purposes overwrite each other's alarm",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "purposes-share-alarm": "unrelated purposes set the one alarm, each replacing the other",
    },
)
