"""Diagnostics end to end, for every client profile: exact ranges, typing, quick fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from durable_harden.analyzers.source import parse_source
from tests.lsp.conftest import (
    apply_text_edits,
    copy_example,
    diagnostics,
    edits_for,
    encoding_of,
    insert,
    open_doc,
    replace_all,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def timers(diags: list[lsp.Diagnostic]) -> list[lsp.Diagnostic]:
    return [d for d in diags if d.code == "timer-blocks-hibernation"]


async def test_example_file_has_exact_timer_range(client: LanguageClient, tmp_path: Path):
    root = copy_example(tmp_path, "chat-room")
    path = root / "src" / "chat-room.ts"
    uri = open_doc(client, path)
    diags = timers(await diagnostics(client, uri, 1))
    assert len(diags) == 1
    diag = diags[0]
    # examples/chat-room/src/chat-room.ts:147:26, `setInterval` (ASCII line: same in every encoding)
    assert diag.range == lsp.Range(lsp.Position(146, 25), lsp.Position(146, 36))
    assert diag.source == "durable-harden"
    assert diag.severity == lsp.DiagnosticSeverity.Warning
    profile = client.profile  # type: ignore[attr-defined]
    assert diag.data["rule"] == "timer-blocks-hibernation"
    assert diag.data["message_id"] == "timer"
    assert diag.data["version"] == 1
    if profile == "emacs":
        assert diag.code_description is None  # not declared by Emacs
    if profile == "visual-studio-code":
        assert diag.code_description is not None
        assert diag.code_description.href.endswith("/timer-blocks-hibernation.md")


async def test_typing_set_timeout_char_by_char(client: LanguageClient, project: Path):
    path = project / "src" / "ticker.ts"
    text = path.read_text()
    uri = open_doc(client, path, text)
    assert timers(await diagnostics(client, uri, 1)) == []
    # type a new line inside tick() {} : line 7 is "  tick() {}"
    line, col = 7, len("  tick() {")
    typed = "setTimeout(() => this.tick(), 1000);"
    version = 1
    seen: dict[str, int] = {}
    for number, char in enumerate(typed):
        version += 1
        insert(client, uri, version, line, col + number, char)
        if typed[: number + 1] in (
            "setTimeout",
            "setTimeout(",
            "setTimeout(() => this.tick(), 1000);",
        ):
            diags = timers(await diagnostics(client, uri, version))
            seen[typed[: number + 1]] = len(diags)
            if diags:
                assert diags[0].range == lsp.Range(
                    lsp.Position(line, col), lsp.Position(line, col + len("setTimeout"))
                )
    # a bare identifier is no call; the half-typed call sits in a syntax error: no guesses
    assert seen["setTimeout"] == 0
    assert seen["setTimeout(() => this.tick(), 1000);"] == 1


async def test_disable_for_this_line_removes_the_diagnostic(client: LanguageClient, project: Path):
    path = project / "src" / "ticker.ts"
    text = path.read_text().replace(
        "tick() {}", "tick() {\n    setInterval(() => this.tick(), 5000);\n  }"
    )
    uri = open_doc(client, path, text)
    diags = timers(await diagnostics(client, uri, 1))
    assert len(diags) == 1
    if client.profile == "emacs":  # type: ignore[attr-defined]
        diags[0].data = None  # Emacs does not send `data` back: the server recomputes
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=diags[0].range,
            context=lsp.CodeActionContext(diagnostics=diags),
        )
    )
    titles = [a.title for a in actions or []]
    assert "Disable timer-blocks-hibernation for this line" in titles
    assert "Disable timer-blocks-hibernation for this file" in titles
    action = next(a for a in actions if a.title.endswith("for this line"))
    assert action.kind == lsp.CodeActionKind.QuickFix
    if client.profile.startswith("neovim"):  # type: ignore[attr-defined]
        assert action.edit.changes and not action.edit.document_changes
    else:
        assert action.edit.document_changes
        assert action.edit.document_changes[0].text_document.version == 1
    new_text = apply_text_edits(text, edits_for(action.edit, uri), encoding_of(client))
    assert "    // durable-harden-ignore timer-blocks-hibernation:" in new_text
    assert not parse_source(path, new_text.encode()).root.has_error
    replace_all(client, uri, 2, new_text)
    after = await diagnostics(client, uri, 2)
    assert timers(after) == []
    assert [d for d in after if d.code == "unused-suppression"] == []
