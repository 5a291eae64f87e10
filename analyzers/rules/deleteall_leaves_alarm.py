"""deleteall-leaves-alarm: `deleteAll()` keeps the pending alarm before compatibility_date
2026-02-24 (or the `delete_all_deletes_alarm` flag)."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._alarms import has_alarm_handler, member_of, storage_calls
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_STATE, node_span
from durable_harden.analyzers.tsutil import contains

DELETE_ALL_DATE = "2026-02-24"
DELETE_ALL_FLAG = "delete_all_deletes_alarm"

DOCS = RuleDocs(
    what=f"""
Reports `ctx.storage.deleteAll()` in a Durable Object class that uses alarms (it has an `alarm()`
handler, its own or inherited from a project class, or calls `setAlarm()`), when the wrangler
config binding the class has a compatibility_date before {DELETE_ALL_DATE} and no
`{DELETE_ALL_FLAG}` flag. With no config found, the rule assumes an old date and says so.
Not reported: a `deleteAlarm()` earlier in the same method, and `deleteAll()` inside `alarm()`
when no `setAlarm()` earlier in that handler can reach it (the alarm that is running is the one
that would be left, and it is finishing).
""",
    why=f"""
Before compatibility_date {DELETE_ALL_DATE}, `deleteAll()` deletes every key and SQL table but
not the alarm. An object wiped to "start over" or to stop costing storage still wakes up later,
runs `alarm()` against empty storage (often recreating state, or throwing and being retried six
times), and keeps being billed. From {DELETE_ALL_DATE} (`{DELETE_ALL_FLAG}`) `deleteAll()` also
deletes the alarm.
""",
    example="""
```ts
// Reported (compatibility_date before 2026-02-24): the alarm survives the wipe
async reset() {
  await this.ctx.storage.deleteAll();
}

// Production pattern
async reset() {
  await this.ctx.storage.deleteAlarm();
  await this.ctx.storage.deleteAll();
}
```
""",
    references=(
        f"{REF_STATE} (deleteAll() and the alarm)",
        f"{REF_ALARMS}",
        f"https://developers.cloudflare.com/workers/configuration/compatibility-flags/ "
        f"({DELETE_ALL_FLAG}, {DELETE_ALL_DATE})",
    ),
)


def _uses_alarms(cls: DurableObjectClass, model: ProjectModel) -> bool:
    if "alarm" in cls.methods or storage_calls(cls, "setAlarm"):
        return True
    has, origin = has_alarm_handler(cls, model)
    return has and origin is not None and bool(model.classes_named(origin))


def _ends_flow(block: Node) -> bool:
    named = [c for c in block.named_children if c.type != "comment"]
    return bool(named) and named[-1].type in {"return_statement", "throw_statement"}


def _reaches(set_call: Node, delete_call: Node, handler: Node) -> bool:
    """Whether a setAlarm earlier in the handler can still be pending when deleteAll runs: not
    when it sits in a block that returns/throws without reaching the deleteAll."""
    if set_call.start_byte >= delete_call.start_byte:
        return False
    node = set_call.parent
    while node is not None and node != handler:
        if node.type == "statement_block" and not contains(node, delete_call) and _ends_flow(node):
            return False
        node = node.parent
    return True


def _exempt(cls: DurableObjectClass, call: Node) -> bool:
    name, member = member_of(cls, call)
    if member is None:
        return False
    earlier = [
        c for c in storage_calls(cls, "deleteAlarm", member) if c.end_byte <= call.start_byte
    ]
    if earlier:
        return True
    if name == "alarm":
        sets = storage_calls(cls, "setAlarm", member)
        return not any(_reaches(s, call, member) for s in sets)
    return False


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class DeleteAllState:
    """What the fix needs: the class and the `deleteAll()` call."""

    cls: DurableObjectClass
    call: Node


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        calls = storage_calls(cls, "deleteAll")
        if not calls or not _uses_alarms(cls, model):
            continue
        config = model.config_for_class(cls)
        decided = config.compat_at_least(DELETE_ALL_DATE, DELETE_ALL_FLAG) if config else None
        if decided:
            continue
        if decided is None:
            note = (
                " No wrangler config with a compatibility_date binds this class, so the rule "
                f"assumes a date before {DELETE_ALL_DATE}."
            )
        else:
            date = config.compatibility_date if config is not None else "?"
            note = f" (compatibility_date {date})"
        for call in calls:
            if _exempt(cls, call):
                continue
            func = call.child_by_field_name("function") or call
            yield RULE.finding(
                "alarm-left",
                f"`deleteAll()` in `{cls.name}` leaves the pending alarm in place before "
                f"compatibility_date {DELETE_ALL_DATE}: call `deleteAlarm()` too.{note}",
                node_span(cls.file, func),
                data={"class": cls.name, "call": [call.start_byte, call.end_byte]},
                state=DeleteAllState(cls, call),
            )


RULE = Rule(
    id="deleteall-leaves-alarm",
    title="deleteAll() leaves the alarm behind (compatibility_date before 2026-02-24)",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "alarm-left": "deleteAll() leaves the pending alarm before compatibility_date 2026-02-24",
    },
)
