"""Fix for websocket-manual-ping: `setWebSocketAutoResponse` in the constructor.

Safe only when the handler's ping branch comes first and only sends the pong (`only_answers` in
the finding): an exact ping then skips no code. Otherwise unsafe: exact pings no longer reach
`webSocketMessage`, so what else the handler did for them stops."""

from __future__ import annotations

import json

from durable_harden.analyzers.classes import ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_STATE
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
from durable_harden.codeactions.spec import (
    SAFE_OR_UNSAFE,
    TIER_HIBERNATION,
    FixDocs,
    FixSpec,
    Offer,
)


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


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "setWebSocketAutoResponse",
            SAFE_OR_UNSAFE,
            """
`this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("<ping>", "<pong>"))` is added
to the constructor (after `super(…)`; a constructor is added when the class has none). The
handler's branch is kept: it still answers pings that are not an exact match (and pings of
sockets accepted with `accept()`, which auto-response does not cover).
""",
            why="""
Safe when the ping branch is the first statement of `webSocketMessage` and does nothing but send
the pong (and return): an exact ping then gets the same answer and skips no code. Otherwise
unsafe: an exact ping no longer reaches the handler at all, so whatever else it did for a ping (a
"last seen" time, a log line, a statement before the branch) stops happening.
""",
        ),
    ),
    review="""
For an unsafe fix: move what the handler did for a ping to
`ctx.getWebSocketAutoResponseTimestamp(ws)`, or accept the loss.
""",
    references=(REF_STATE + " (setWebSocketAutoResponse answers without waking the object)",),
)


SPEC = FixSpec("websocket-manual-ping", build, tier=TIER_HIBERNATION, docs=FIX_DOCS)
