"""Fix for websocket-manual-ping: `setWebSocketAutoResponse` in the constructor.

Safe only when the handler's ping branch comes first and only sends the pong (`only_answers` in
the finding): an exact ping then skips no code. Otherwise unsafe: exact pings no longer reach
`webSocketMessage`, so what else the handler did for them stops."""

from __future__ import annotations

import json

from durable_harden.analyzers.classes import ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules.websocket_manual_ping import PingState
from durable_harden.analyzers.tsutil import node_text
from durable_harden.codeactions._tsedit import (
    env_type,
    indent_at,
    indent_unit,
    line_end,
    member_indent,
    quote_char,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_HIBERNATION, FixSpec


def _quoted(value: str, quote: str) -> str:
    text = json.dumps(value)  # double-quoted, escaped
    if quote == "'" and '"' not in value and "'" not in value:
        return "'" + text[1:-1] + "'"
    return text


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    cls = state_of(finding, PingState).cls
    if cls.body is None:
        return []
    data = cls.file.data
    q = quote_char(data)
    pair = (
        f"new WebSocketRequestResponsePair({_quoted(finding.data['ping'], q)}, "
        f"{_quoted(finding.data['pong'], q)})"
    )
    unit = indent_unit(data)
    ctor = cls.constructor
    if ctor is None:
        if cls.reason not in {"extends", "subclass", "library"}:
            return []
        mind = member_indent(cls)
        text = (
            f"{mind}constructor(ctx: DurableObjectState, env: {env_type(cls)}) {{\n"
            f"{mind}{unit}super(ctx, env);\n"
            f"{mind}{unit}// Answered by the runtime without waking the object.\n"
            f"{mind}{unit}ctx.setWebSocketAutoResponse({pair});\n"
            f"{mind}}}\n\n"
        )
        first = next((m for m in cls.body.named_children if m.type != "comment"), None)
        if first is None:
            return []
        start = data.rfind(b"\n", 0, first.start_byte) + 1
        edit = Edit(cls.file.path, start, start, text)
    else:
        body = ctor.child_by_field_name("body")
        if body is None:
            return []
        statements = [c for c in body.named_children if c.type != "comment"]
        anchor = next((s for s in statements if node_text(data, s).startswith("super(")), None)
        ctx = ctx_expression(cls)
        if anchor is not None:
            indent = indent_at(data, anchor.start_byte)
            at = line_end(data, anchor.end_byte)
        elif statements:
            indent = indent_at(data, statements[0].start_byte)
            at = data.rfind(b"\n", 0, statements[0].start_byte) + 1
        else:
            return []
        line = f"{indent}{ctx}.setWebSocketAutoResponse({pair});\n"
        edit = Edit(cls.file.path, at, at, line)
    return [
        Fix(
            fix_id="websocket-manual-ping.auto-response",
            title="Let the runtime answer pings (setWebSocketAutoResponse)",
            safety=Safety.SAFE if finding.data.get("only_answers") else Safety.UNSAFE,
            edits=[edit],
            review="Exact ping messages are answered by the runtime without waking the object."
            + (
                ""
                if finding.data.get("only_answers")
                else " They no longer reach `webSocketMessage`: what else it does for a ping "
                "(before or inside the ping branch) no longer happens for them."
            ),
        )
    ]


SPEC = FixSpec("websocket-manual-ping", build, tier=TIER_HIBERNATION)
