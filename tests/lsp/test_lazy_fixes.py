"""Fixes are built when a code action asks, not on every publish; pygls's cancel noise is quiet.

`Diagnostic.data` carries the rule, the analysed version, the byte span and the finding's data,
but no fix list: `textDocument/codeAction` builds the fixes of the requested diagnostics from the
current analysis. The actions must be exactly what the finding's fixes say (titles, preferred
flags, resulting file contents), for every client profile.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.source import LineIndex
from durable_harden.codeactions import Fix, apply_edits, fixes_for
from durable_harden.codeactions.suppress import disable_for_file, disable_for_line
from durable_harden.server.lsp import PYGLS_RPC_LOGGER, FinishedCancelFilter, quiet_pygls_logs
from durable_harden.server.lsp import server as lsp_server
from tests.lsp.conftest import apply_text_edits, copy_example, diagnostics, encoding_of, open_doc

ASYNC = pytest.mark.asyncio(loop_scope="module")


def can_create(client: LanguageClient) -> bool:
    edit = client.capabilities.workspace and client.capabilities.workspace.workspace_edit
    # the `create` resource operation is enough: Neovim lists it without `documentChanges: true`
    # and applies documentChanges (the server sends those only to edits that create files)
    return bool(edit and "create" in (edit.resource_operations or ()))


def expected_actions(
    finding: Finding, fixes: list[Fix], creates_ok: bool
) -> list[tuple[str, bool | None, dict[Path, bytes]]]:
    """(title, isPreferred, resulting bytes per file) of each quick fix, from the fixes."""
    data = finding.path.read_bytes()
    lines = LineIndex(data)
    if finding.rule_id != "unused-suppression":
        fixes = [
            *fixes,
            disable_for_line(finding, data, lines),
            disable_for_file(finding, data, lines),
        ]
    out = []
    for fix in fixes:
        if fix.creates and not creates_ok:
            continue  # never half a fix
        files: dict[Path, bytes] = {}
        for path in sorted({e.path for e in fix.edits}):
            files[path] = apply_edits(path.read_bytes(), [e for e in fix.edits if e.path == path])
        for new in fix.creates:
            files[new.path] = new.content.encode()
        builtin = fix.fix_id.startswith("disable-")
        title = fix.title if fix.is_safe else f"{fix.title} (unsafe)"
        out.append((title, True if fix.is_safe and not builtin else None, files))
    return out


def resulting_files(edit: lsp.WorkspaceEdit, encoding: str) -> dict[Path, bytes]:
    """Apply a WorkspaceEdit to the files on disk (which the open buffers equal)."""
    per_uri: dict[str, list[lsp.TextEdit]] = {}
    created: set[str] = set()
    if edit.document_changes:
        for change in edit.document_changes:
            if isinstance(change, lsp.CreateFile):
                created.add(change.uri)
            elif isinstance(change, lsp.TextDocumentEdit):
                per_uri.setdefault(change.text_document.uri, []).extend(change.edits)
    else:
        for uri, edits in (edit.changes or {}).items():
            per_uri.setdefault(uri, []).extend(edits)
    out: dict[Path, bytes] = {}
    for uri, edits in per_uri.items():
        path = Path(uri.removeprefix("file://"))
        text = "" if uri in created else path.read_text()
        out[path] = apply_text_edits(text, list(edits), encoding).encode()
    return out


@ASYNC
@pytest.mark.parametrize(
    ("example", "file"),
    [
        ("chat-room", "src/chat-room.ts"),  # safe fix in another file, unsafe ones in this one
        ("rate-limiter", "src/session-store.ts"),  # one fix editing two files
        ("rate-limiter", "wrangler.jsonc"),  # config findings, fixes in index.ts and the config
    ],
)
async def test_code_actions_build_fixes_from_the_analysis(
    client: LanguageClient, tmp_path: Path, example: str, file: str
):
    root = copy_example(tmp_path, example).resolve()
    path = root / file
    # the expectation, from an in-process analysis of the same bytes
    result = analyze_paths([root], Settings())
    findings = [f for f in result.findings if f.path == path]
    expected = {
        (f.rule_id, f.span.start, f.span.end): expected_actions(
            f, fixes_for(f, result.model), can_create(client)
        )
        for f in findings
    }
    assert any(len(v) > 2 for v in expected.values()), "the file must have a finding with fixes"

    uri = open_doc(client, path)
    diags = await diagnostics(client, uri, 1)
    assert len(diags) == len(findings)
    encoding = encoding_of(client)
    for diag in diags:
        data: Any = diag.data
        if data is not None:  # Emacs sends no data back; the rest must carry no fix list
            assert set(data) == {"rule", "message_id", "version", "span", "finding"}
            key = (data["rule"], *data["span"])
        else:
            key = next(k for k in expected if k[0] == diag.code)
        actions = await client.text_document_code_action_async(
            lsp.CodeActionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri),
                range=diag.range,
                context=lsp.CodeActionContext(
                    diagnostics=[diag], only=[lsp.CodeActionKind.QuickFix]
                ),
            )
        )
        got = [
            (a.title, a.is_preferred, resulting_files(a.edit, encoding))
            for a in actions or []
            if a.kind == lsp.CodeActionKind.QuickFix
        ]
        assert got == expected[key], diag.code


@ASYNC
async def test_stale_data_still_refused(client: LanguageClient, tmp_path: Path):
    root = copy_example(tmp_path, "chat-room")
    uri = open_doc(client, root / "src" / "chat-room.ts")
    diags = await diagnostics(client, uri, 1)
    if diags[0].data is None:
        pytest.skip("no data: matched by range and code in the current analysis")
    stale = [
        lsp.Diagnostic(
            range=d.range,
            message=d.message,
            code=d.code,
            source=d.source,
            data={**d.data, "version": 0},
        )
        for d in diags
    ]
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=diags[0].range,
            context=lsp.CodeActionContext(diagnostics=stale, only=[lsp.CodeActionKind.QuickFix]),
        )
    )
    assert [a for a in actions or [] if a.kind == lsp.CodeActionKind.QuickFix] == []


# -- pygls log noise ------------------------------------------------------------------------------
def record(msg: str, *args: Any, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(PYGLS_RPC_LOGGER, level, "json_rpc.py", 1, msg, args, None)


def test_filter_drops_only_the_finished_cancel_warning():
    keep = FinishedCancelFilter().filter
    assert not keep(record('Cancel notification for unknown message id "%s"', 17))
    assert keep(record('Received response to unknown message id "%s"', 17))
    assert keep(record("Failed to handle request %s %s", 3, "textDocument/hover"))
    assert keep(record("Cancel notification for %s", "x"))  # not the same message


def test_installed_on_pygls_logger(caplog: pytest.LogCaptureFixture):
    quiet_pygls_logs()  # idempotent: one filter however often it runs
    logger = logging.getLogger(PYGLS_RPC_LOGGER)
    assert sum(isinstance(f, FinishedCancelFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger=PYGLS_RPC_LOGGER):
        # what VS Code triggers: $/cancelRequest for a request that was already answered
        lsp_server.protocol._handle_cancel_notification(424242)
        logging.getLogger(PYGLS_RPC_LOGGER).warning(
            'Received response to unknown message id "%s"', 9
        )
    messages = [r.getMessage() for r in caplog.records if r.name == PYGLS_RPC_LOGGER]
    assert messages == ['Received response to unknown message id "9"']
