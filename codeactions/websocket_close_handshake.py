"""Fixes for websocket-close-handshake: add a guarded `ws.close(…)` to `webSocketClose`, guard
an echoed code, replace a reserved literal code with 1000.

Guarding a code and replacing a reserved literal are safe: for every code `close()` accepts the
guarded expression is the same code, and for the four it refuses the original threw. Adding the
close is safe only when the handler hands the socket to no other code (a helper that closes it
would make the added call a second close) and, when the close goes first, sends nothing on it
after; otherwise it is unsafe."""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_RULES
from durable_harden.analyzers.rules.websocket_close_handshake import CloseState, params_of
from durable_harden.analyzers.tsutil import FUNCTION_TYPES, walk
from durable_harden.codeactions._tsedit import body_indent, line_end
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import (
    SAFE,
    SAFE_OR_UNSAFE,
    TIER_CORRECTNESS,
    FixDocs,
    FixSpec,
    Offer,
)
from durable_harden.codeactions.websocket_not_hibernatable import guarded_close

CLOSE_PARAMS = [("ws", "WebSocket"), ("code", "number"), ("reason", "string")]


def _has_early_return(block: Node) -> bool:
    for node in walk(block):
        if node.type != "return_statement":
            continue
        parent = node.parent
        while parent is not None and parent != block and parent.type not in FUNCTION_TYPES:
            parent = parent.parent
        if parent is not None and parent == block:
            return True
    return False


def _missing_close(finding: Finding, model: ProjectModel) -> Fix | None:
    cls = state_of(finding, CloseState).cls
    handler = cls.methods.get("webSocketClose")
    if handler is None:
        return None
    data = cls.file.data
    path = cls.file.path
    block = handler.child_by_field_name("body")
    params_node = handler.child_by_field_name("parameters")
    if block is None or block.type != "statement_block" or params_node is None:
        return None
    edits: list[Edit] = []
    params = params_of(data, handler)
    if any(not p for p in params):
        return None  # destructured parameters: not ours to rename
    if len(params) < 3:
        missing = CLOSE_PARAMS[len(params) :]
        text = ", ".join(f"{n}: {t}" for n, t in missing)
        close_paren = params_node.end_byte - 1
        inner = data[params_node.start_byte + 1 : close_paren].rstrip()
        sep = "" if not inner else (" " if inner.endswith(b",") else ", ")
        insert_at = params_node.start_byte + 1 + len(inner)
        edits.append(Edit(path, insert_at, insert_at, sep + text))
        params = params + [n for n, _ in missing]
    ws, code, reason = params[0], params[1], params[2]
    handed_to = _calls_given(data, block, ws)
    at_start = _has_early_return(block) or not block.named_children
    sends_after = at_start and f"{ws}.send(".encode() in data[block.start_byte : block.end_byte]
    indent = body_indent(data, block)
    statement = f"{indent}{guarded_close(ws, code, reason)};"
    if at_start:
        brace_line_end = line_end(data, block.start_byte)
        rest = data[block.start_byte + 1 : brace_line_end].strip()
        if rest == b"" or (rest.startswith(b"//") and brace_line_end < block.end_byte):
            edits.append(Edit(path, brace_line_end, brace_line_end, statement + "\n"))
        else:
            edits.append(Edit(path, block.start_byte + 1, block.start_byte + 1, "\n" + statement))
        if not block.named_children and b"\n" not in data[block.start_byte : block.end_byte]:
            # `{}` on one line: close the block on its own line
            closing_indent = indent[: len(indent) - 2] if len(indent) >= 2 else ""
            edits[-1] = Edit(
                path,
                block.start_byte + 1,
                block.end_byte - 1,
                "\n" + statement + "\n" + closing_indent,
            )
    else:
        last = block.named_children[-1]
        end = line_end(data, last.end_byte)
        if data[last.end_byte : end].strip() and not data[last.end_byte : end].strip().startswith(
            b"//"
        ):
            return None
        edits.append(Edit(path, end, end, statement + "\n"))
    return Fix(
        fix_id="websocket-close-handshake.add-close",
        title="Complete the close handshake in `webSocketClose`",
        safety=Safety.UNSAFE if handed_to or sends_after else Safety.SAFE,
        edits=edits,
        review="The socket is closed with the client's code (1000 when that code may not be sent)."
        + (
            f" The handler hands the socket to {', '.join(f'`{c}()`' for c in handed_to)}: "
            "if that closes it too, the added close is a second one; remove one of them."
            if handed_to
            else ""
        )
        + (
            f" The close now comes first and the handler still calls `{ws}.send()` after it."
            if sends_after
            else ""
        ),
    )


def _calls_given(data: bytes, block: Node, ws: str) -> list[str]:
    """Callees the handler passes the socket to (`this.cleanup(ws)`)."""
    callees: list[str] = []
    for call in walk(block):
        if call.type != "call_expression":
            continue
        args = call.child_by_field_name("arguments")
        func = call.child_by_field_name("function")
        if args is None or func is None:
            continue
        if any(
            a.type == "identifier" and data[a.start_byte : a.end_byte].decode() == ws
            for a in args.named_children
        ):
            name = data[func.start_byte : func.end_byte].decode()
            if name.rsplit(".", 1)[-1] not in {"getTags", "log", "warn", "error", "info", "debug"}:
                callees.append(name)
    return callees


def _guard_code(finding: Finding, model: ProjectModel) -> Fix:
    code = finding.data["code"]
    guard = (
        f"{code} === 1004 || {code} === 1005 || {code} === 1006 || {code} === 1015 ? 1000 : {code}"
    )
    return Fix(
        fix_id="websocket-close-handshake.guard-code",
        title="Never echo a close code that `close()` refuses",
        safety=Safety.SAFE,
        edits=[Edit(finding.path, finding.span.start, finding.span.end, guard)],
    )


def _literal(finding: Finding, model: ProjectModel) -> Fix:
    return Fix(
        fix_id="websocket-close-handshake.literal",
        title="Close with 1000 (normal closure)",
        safety=Safety.SAFE,
        edits=[Edit(finding.path, finding.span.start, finding.span.end, "1000")],
    )


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    kind = finding.data.get("kind")
    if kind == "missing-close":
        fix = _missing_close(finding, model)
        return [fix] if fix is not None else []
    if kind == "echo":
        return [_guard_code(finding, model)]
    if kind == "reserved-literal":
        return [_literal(finding, model)]
    return []


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "add the missing close",
            SAFE_OR_UNSAFE,
            """
A missing close becomes `ws.close(<guarded code>, reason)` at the end of the handler (at its start
when the handler has early returns), adding the `code`/`reason` parameters when the handler does
not declare them.
""",
            why="""
Safe when the handler hands the socket to no other code (`this.cleanup(ws)` may close it already,
and the added call would be a second close) and, when the close goes at the start, sends nothing
on the socket after it; otherwise unsafe, and the review note names the callee. What it changes on
purpose: the client receives the close reply instead of seeing 1006.
""",
        ),
        Offer(
            "guard an echoed code / replace a reserved literal",
            SAFE,
            """
An echoed code is wrapped in the same guard; a reserved literal becomes 1000.
""",
            why="""
Safe: for every code `close()` accepts the guarded expression is that same code, and with the four
it refuses (1004, 1005, 1006, 1015) the original call threw.
""",
        ),
    ),
    review="""
For an unsafe close: the callee the note names does not close the socket itself.
""",
    references=(
        REF_RULES + " (webSocketClose must call ws.close before 2026-04-07)",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/api/web-socket.c%2B%2B (close() throws for 1004, 1005, 1006, 1015)",
    ),
)


SPEC = FixSpec("websocket-close-handshake", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
