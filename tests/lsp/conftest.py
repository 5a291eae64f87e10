"""End-to-end LSP fixtures: the real server over stdio, driven by pytest-lsp client profiles."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Neovim < 0.11 and VS Code push diagnostics; Neovim 0.11 pulls; Emacs has no diagnostic `data`.
PROFILES = ["visual-studio-code", "neovim@v0.9.1", "neovim@v0.11.0", "emacs"]

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "durable_harden", "serve"],
    server_env=None,
)

DO_FILE = """import { DurableObject } from "cloudflare:workers";

export class Ticker extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    return new Response("ok");
  }

  tick() {}
}
"""

WRANGLER = """{
  "name": "ticker",
  "main": "src/ticker.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "TICKER", "class_name": "Ticker" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Ticker"] }]
}
"""


def attach(client: LanguageClient) -> None:
    """Handlers the default test client lacks: applyEdit, and push diagnostics with version."""
    client.published = {}  # type: ignore[attr-defined]
    client.protocol.fm._features.pop(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, None)
    client.applied = []  # type: ignore[attr-defined]

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _publish(ls: LanguageClient, params: lsp.PublishDiagnosticsParams) -> None:
        ls.diagnostics[params.uri] = params.diagnostics
        ls.published[params.uri] = params  # type: ignore[attr-defined]

    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def _register(ls: LanguageClient, params: lsp.RegistrationParams) -> None:
        ls.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    client.refreshes = 0  # type: ignore[attr-defined]
    client.protocol.fm._features.pop(lsp.WORKSPACE_DIAGNOSTIC_REFRESH, None)

    @client.feature(lsp.WORKSPACE_DIAGNOSTIC_REFRESH)
    def _refresh(ls: LanguageClient, params: None) -> None:
        ls.refreshes += 1  # type: ignore[attr-defined]

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def _apply(ls: LanguageClient, params: lsp.ApplyWorkspaceEditParams) -> Any:
        ls.applied.append(params.edit)  # type: ignore[attr-defined]
        return lsp.ApplyWorkspaceEditResult(applied=True)


async def start(client: LanguageClient, profile: str, root: Path, options: Any = None) -> None:
    attach(client)
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities(profile),
            root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=options,
        )
    )


def make_project(tmp_path: Path, source: str = DO_FILE) -> Path:
    root = tmp_path / "ticker"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(WRANGLER)
    (root / "src" / "ticker.ts").write_text(source)
    return root


def copy_example(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target)
    return target


@pytest_lsp.fixture(config=SERVER, params=PROFILES, scope="module")
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path_factory):
    """One server per profile and test module (start-up costs ~1 s); tests use fresh projects."""
    root = make_project(tmp_path_factory.mktemp("ws"))
    lsp_client.profile = request.param  # type: ignore[attr-defined]
    await start(lsp_client, request.param, root, {"debounceMs": 20})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER, scope="module")
async def vscode(lsp_client: LanguageClient, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("ws"))
    lsp_client.profile = "visual-studio-code"  # type: ignore[attr-defined]
    await start(lsp_client, "visual-studio-code", root, {"debounceMs": 20})
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh small DO project (wrangler.jsonc + src/ticker.ts) for one test."""
    return make_project(tmp_path)


# -- helpers ------------------------------------------------------------------------------------
def pulls(client: LanguageClient) -> bool:
    caps = client.capabilities
    return (
        caps is not None
        and caps.text_document is not None
        and (caps.text_document.diagnostic is not None)
    )


def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri,
                language_id="typescript" if path.suffix == ".ts" else "jsonc",
                version=version,
                text=path.read_text() if text is None else text,
            )
        )
    )
    return uri


def replace_all(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def insert(client: LanguageClient, uri: str, version: int, line: int, char: int, text: str) -> None:
    pos = lsp.Position(line, char)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                lsp.TextDocumentContentChangePartial(range=lsp.Range(pos, pos), text=text)
            ],
        )
    )


async def diagnostics(
    client: LanguageClient, uri: str, version: int, timeout: float = 5.0
) -> list[lsp.Diagnostic]:
    """The diagnostics of `uri` at `version`: pulled when the profile pulls, else pushed."""
    if pulls(client):
        report = await client.text_document_diagnostic_async(
            lsp.DocumentDiagnosticParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
        )
        return list(report.items)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        got = client.published.get(uri)  # type: ignore[attr-defined]
        if got is not None and got.version == version:
            return list(got.diagnostics)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics for {uri} at version {version}")


def apply_text_edits(text: str, edits: list[lsp.TextEdit], encoding: str) -> str:
    """Apply LSP text edits (positions in `encoding`) to text, as an editor would: inserts at
    the same position keep their order in the array (LSP), so the sort is by position only."""
    from durable_harden.analyzers.source import LineIndex
    from durable_harden.server.documents import to_offset

    data = text.encode()
    lines = LineIndex(data)
    spans = sorted(
        (
            (
                to_offset(lines, e.range.start.line, e.range.start.character, encoding),
                to_offset(lines, e.range.end.line, e.range.end.character, encoding),
                e.new_text,
            )
            for e in edits
        ),
        key=lambda span: (span[0], span[1]),
    )
    out, cursor = [], 0
    for start, end, new in spans:
        assert start >= cursor, "overlapping edits"
        out.append(data[cursor:start])
        out.append(new.encode())
        cursor = end
    out.append(data[cursor:])
    return b"".join(out).decode()


def edits_for(edit: lsp.WorkspaceEdit, uri: str) -> list[lsp.TextEdit]:
    if edit.document_changes:
        return [
            e
            for change in edit.document_changes
            if isinstance(change, lsp.TextDocumentEdit) and change.text_document.uri == uri
            for e in change.edits
        ]
    return list((edit.changes or {}).get(uri, []))


def encoding_of(client: LanguageClient, result: lsp.InitializeResult | None = None) -> str:
    caps = client.capabilities
    encs = caps.general.position_encodings if caps and caps.general else None
    return str(encs[0]) if encs else "utf-16"
