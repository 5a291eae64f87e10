"""setalarm-without-handler: `setAlarm()` in a Durable Object class that has no `alarm()`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._alarms import has_alarm_handler, member_of, storage_calls
from durable_harden.analyzers.rules._common import REF_ALARMS, node_span

# Methods that look like the alarm's work under another name (`onAlarm`, `handleAlarm` …).
_HANDLER_NAME = re.compile(r"^(on|handle|run|process|do)?_?alarms?(handler|callback|fired)?$", re.I)

DOCS = RuleDocs(
    what="""
Reports `ctx.storage.setAlarm()` in a Durable Object class that has no `alarm()` handler, neither
its own nor inherited from a base class in the project (library bases such as `Agent`, `Server`,
`Container` and `Actor` implement `alarm()` themselves). Calls in the constructor are not
reported: the runtime only refuses `setAlarm()` outside it.

An `alarm` installed on the instance at run time counts as a handler (workerd calls it): `this.alarm
= async () => …` or `Object.defineProperty(this, "alarm", …)` in the class, or a function of the
same file the class hands `this` to that sets `<param>.alarm = …` (`installAlarm(this)`).
""",
    why="""
The runtime refuses to schedule an alarm it could never deliver: `setAlarm()` throws a TypeError
("Your Durable Object class must have an alarm() handler in order to call setAlarm()") when the
class has no `alarm()` method. The request that called it fails, and whatever it meant to
schedule (a cleanup, a retry, a flush) never happens. Often the handler exists under another
name (`onAlarm`, `handleAlarm`).
""",
    example="""
```ts
// Reported: throws TypeError, there is no alarm() to deliver to
export class Reminders extends DurableObject {
  async remindAt(at: number) {
    await this.ctx.storage.setAlarm(at);
  }
  async onAlarm() { /* send reminders */ }
}

// Production pattern
  async alarm(info?: AlarmInvocationInfo): Promise<void> {
    await this.onAlarm();
  }
```
""",
    references=(
        f"{REF_ALARMS} (setAlarm, alarm handler, AlarmInvocationInfo)",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/io/worker.c%2B%2B "
        "(setAlarm() without an alarm() handler throws, except in the constructor)",
    ),
)


def handler_candidates(cls_methods: dict[str, object]) -> list[str]:
    return [name for name in cls_methods if name != "alarm" and _HANDLER_NAME.match(name)]


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class HandlerState:
    """What the fix needs: the class that lacks `alarm()`."""

    cls: DurableObjectClass


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        if "alarm" in cls.methods:
            continue  # has_alarm_handler's first answer, before the calls are looked for
        calls = storage_calls(cls, "setAlarm")
        if not calls:
            continue
        has, _ = has_alarm_handler(cls, model)
        if has:
            continue
        candidates = handler_candidates(dict(cls.methods))
        for call in calls:
            name, _member = member_of(cls, call)
            if name == "constructor":
                continue
            hint = (
                f" `{candidates[0]}()` looks like the handler under another name."
                if len(candidates) == 1
                else ""
            )
            func = call.child_by_field_name("function") or call
            yield RULE.finding(
                "no-alarm-handler",
                f"`setAlarm()` in `{cls.name}`, which has no `alarm()` handler: the runtime throws "
                f"a TypeError here and nothing is scheduled.{hint}",
                node_span(cls.file, func),
                data={"class": cls.name, "call": [call.start_byte, call.end_byte]},
                state=HandlerState(cls),
            )


RULE = Rule(
    id="setalarm-without-handler",
    title="setAlarm() in a class with no alarm() handler throws",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "no-alarm-handler": "setAlarm() in a class with no alarm() handler",
    },
)
