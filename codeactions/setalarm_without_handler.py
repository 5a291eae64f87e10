"""Fix for setalarm-without-handler (unsafe): add an `alarm()` that calls the one method that is
clearly the handler under another name (`onAlarm`, `handleAlarm` …). No fix when the purpose of
the alarm cannot be read from the code."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_ALARMS
from durable_harden.analyzers.rules.setalarm_without_handler import (
    HandlerState,
    handler_candidates,
)
from durable_harden.codeactions._tsedit import (
    append_member,
    indent_unit,
    is_async,
    member_indent,
    method_params,
)
from durable_harden.codeactions.fix import Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, HandlerState).cls
    if "alarm" in cls.methods:
        return []
    candidates = handler_candidates(dict(cls.methods))
    if len(candidates) != 1:
        return []
    name = candidates[0]
    target = cls.methods[name]
    data = cls.file.data
    params = target.child_by_field_name("parameters")
    required = [
        p
        for p in (params.named_children if params is not None else [])
        if p.type == "required_parameter"
    ]
    if len(required) > 0 and not (
        len(required) == 1
        and "AlarmInvocationInfo" in data[required[0].start_byte : required[0].end_byte].decode()
    ):
        return []
    args = "info" if method_params(data, target) else ""
    if len(required) == 1:
        args = "info!"  # the handler insists on an info object; the runtime always passes one
    call = f"this.{name}({args})"
    statement = f"await {call};" if is_async(data, target) else f"{call};"
    mind = member_indent(cls)
    unit = indent_unit(data)
    member = (
        f"{mind}async alarm(info?: AlarmInvocationInfo): Promise<void> {{\n"
        f"{mind}{unit}{statement}\n"
        f"{mind}}}"
    )
    return [
        Fix(
            fix_id="setalarm-without-handler.add-handler",
            title=f"Add `alarm()` that runs `{name}()`",
            safety=Safety.UNSAFE,
            edits=[append_member(cls, member)],
            review=(
                f"`{name}()` now runs whenever the alarm fires (at least once; retried with "
                "backoff only when it throws). Check it is the work the alarm was set for, and "
                "that it re-arms only while work remains."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "alarm() calling the handler",
            UNSAFE,
            """
When the class has exactly one method named like an alarm handler (`onAlarm`, `handleAlarm`,
`alarmHandler` …) that takes no required argument, an `async alarm(info?: AlarmInvocationInfo):
Promise<void>` is added that calls it (passing `info` when it takes a parameter).
""",
            why="""
Unsafe: the method chosen by its name now runs on every alarm.
""",
        ),
    ),
    review="""
The method is the alarm's work; an alarm does not repeat, and is retried only when `alarm()` throws.
""",
    not_offered="""
Any other class: write the handler yourself, and remember an alarm does not repeat (re-arm only
while work remains) and is retried only when `alarm()` throws.
""",
    references=(REF_ALARMS,),
)


SPEC = FixSpec("setalarm-without-handler", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
