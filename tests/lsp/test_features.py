"""Encodings, pull diagnostics, suppressions, fix-all, configuration, stale versions, hover,
wrangler configs and robustness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from durable_harden.analyzers.source import parse_source
from tests.conftest import ROOT
from tests.lsp.conftest import (
    DO_FILE,
    SERVER,
    apply_text_edits,
    attach,
    copy_example,
    diagnostics,
    edits_for,
    encoding_of,
    make_project,
    open_doc,
    pulls,
    replace_all,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMER_LINE = '    const label = "{}"; setTimeout(() => this.tick(), 1000);\n'


def with_timer(prefix: str = "x") -> str:
    return DO_FILE.replace("  tick() {}\n", "  tick() {\n" + TIMER_LINE.format(prefix) + "  }\n")


def codes(diags: list[lsp.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in diags)


async def actions_for(
    client: LanguageClient, uri: str, diags: list[lsp.Diagnostic], only: list[str] | None = None
) -> list[lsp.CodeAction]:
    rng = diags[0].range if diags else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=rng,
            context=lsp.CodeActionContext(diagnostics=diags, only=only),
        )
    )
    return [a for a in result or [] if isinstance(a, lsp.CodeAction)]


# -- position encodings (every profile: utf-16 VS Code, utf-8 Neovim 0.11, utf-32 Emacs) ---------
async def test_ranges_after_emoji_and_cjk(client: LanguageClient, project: Path):
    prefix = "😀漢字"  # 1 astral (4 bytes, 2 UTF-16 units) + 2 CJK (3 bytes, 1 unit each)
    text = with_timer(prefix)
    uri = open_doc(client, project / "src" / "ticker.ts", text)
    diags = [d for d in await diagnostics(client, uri, 1) if d.code == "timer-blocks-hibernation"]
    assert len(diags) == 1
    head = '    const label = "' + prefix + '"; '
    encoding = encoding_of(client)
    units = {
        "utf-8": len(head.encode()),
        "utf-16": len(head.encode("utf-16-le")) // 2,
        "utf-32": len(head),
    }[encoding]
    assert units != len(head.encode()) or encoding == "utf-8"
    line = text.splitlines().index(TIMER_LINE.format(prefix).rstrip("\n"))
    assert diags[0].range == lsp.Range(
        lsp.Position(line, units), lsp.Position(line, units + len("setTimeout"))
    )
    # and the edits of a quick fix use the same encoding: applying them gives valid code
    actions = await actions_for(client, uri, diags)
    action = next(a for a in actions if a.title.endswith("for this line"))
    new_text = apply_text_edits(text, edits_for(action.edit, uri), encoding)
    assert prefix in new_text
    assert not parse_source(Path("x.ts"), new_text.encode()).root.has_error


# -- VS Code profile only ------------------------------------------------------------------------
async def test_unused_suppression_and_fix_all(vscode: LanguageClient, project: Path):
    text = DO_FILE.replace(
        "  tick() {}",
        "  // durable-harden-ignore timer-blocks-hibernation: nothing here any more\n"
        "  tick() {}\n"
        "  // durable-harden-ignore-file unknown-rule: typo",
    )
    uri = open_doc(vscode, project / "src" / "ticker.ts", text)
    diags = await diagnostics(vscode, uri, 1)
    assert codes(diags) == ["unused-suppression", "unused-suppression"]
    assert all(list(d.tags or []) == [lsp.DiagnosticTag.Unnecessary] for d in diags)
    quick = await actions_for(vscode, uri, diags[:1])
    assert quick[0].title == "Remove the unused suppression comment"
    assert quick[0].is_preferred
    fix_all = await actions_for(vscode, uri, [], only=["source.fixAll"])
    assert [a.kind for a in fix_all] == ["source.fixAll.durable-harden"]
    fixed = apply_text_edits(text, edits_for(fix_all[0].edit, uri), "utf-16")
    assert fixed == DO_FILE
    replace_all(vscode, uri, 2, fixed)
    assert await diagnostics(vscode, uri, 2) == []
    # idempotent: a second fix-all offers nothing
    assert await actions_for(vscode, uri, [], only=["source.fixAll.durable-harden"]) == []


async def test_suppression_used_and_hover(vscode: LanguageClient, project: Path):
    text = with_timer().replace(
        "    const label",
        "    // durable-harden-ignore timer-blocks-hibernation: drained before hibernation\n"
        "    const label",
    )
    uri = open_doc(vscode, project / "src" / "ticker.ts", text)
    assert await diagnostics(vscode, uri, 1) == []
    line = text.splitlines().index(
        "    // durable-harden-ignore timer-blocks-hibernation: drained before hibernation"
    )
    hover = await vscode.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line, 10),
        )
    )
    assert hover is not None
    assert "# timer-blocks-hibernation" in hover.contents.value
    assert "## Why it matters" in hover.contents.value
    # both halves of the rule record: the fix docs of codeactions/, links to both source files
    assert "### timer moved to an alarm (unsafe)" in hover.contents.value
    for source in (
        "analyzers/rules/timer_blocks_hibernation.py",
        "codeactions/timer_blocks_hibernation.py",
    ):
        assert f"]({(ROOT / source).resolve().as_uri()})" in hover.contents.value


async def test_stale_version_is_refused(vscode: LanguageClient, project: Path):
    text = with_timer()
    uri = open_doc(vscode, project / "src" / "ticker.ts", text)
    diags = await diagnostics(vscode, uri, 1)
    assert codes(diags) == ["timer-blocks-hibernation"]
    # the user types a line above: the old diagnostic's offsets no longer fit
    replace_all(vscode, uri, 2, "// a new first line\n" + text)
    assert await actions_for(vscode, uri, diags) == []
    fresh = await diagnostics(vscode, uri, 2)
    assert fresh[0].range.start.line == diags[0].range.start.line + 1
    actions = await actions_for(vscode, uri, fresh)
    edit = actions[0].edit
    assert edit.document_changes[0].text_document.version == 2


async def test_pull_diagnostics_unchanged(vscode: LanguageClient, project: Path):
    # VS Code 1.65 declares no pull support, but the server answers the request anyway
    uri = open_doc(vscode, project / "src" / "ticker.ts", with_timer())
    params = lsp.DocumentDiagnosticParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    first = await vscode.text_document_diagnostic_async(params)
    assert first.kind == "full" and codes(first.items) == ["timer-blocks-hibernation"]
    params.previous_result_id = first.result_id
    second = await vscode.text_document_diagnostic_async(params)
    assert second.kind == "unchanged" and second.result_id == first.result_id
    replace_all(vscode, uri, 2, DO_FILE)
    third = await vscode.text_document_diagnostic_async(params)
    assert third.kind == "full" and list(third.items) == []


async def test_settings_file_reload(vscode: LanguageClient, project: Path):
    uri = open_doc(vscode, project / "src" / "ticker.ts", with_timer())
    assert codes(await diagnostics(vscode, uri, 1)) == ["timer-blocks-hibernation"]
    settings = project / "durable-harden.jsonc"
    settings.write_text(
        '{\n  // noisy for this project\n  "severity": {"timer-blocks-hibernation": "error"}\n}\n'
    )
    vscode.workspace_did_change_watched_files(
        lsp.DidChangeWatchedFilesParams(
            changes=[lsp.FileEvent(uri=settings.as_uri(), type=lsp.FileChangeType.Created)]
        )
    )
    await wait_for(lambda: _severity(vscode, uri) == lsp.DiagnosticSeverity.Error)
    settings.write_text('{"ignore": ["timer-blocks-hibernation"]}')
    vscode.workspace_did_change_watched_files(
        lsp.DidChangeWatchedFilesParams(
            changes=[lsp.FileEvent(uri=settings.as_uri(), type=lsp.FileChangeType.Changed)]
        )
    )
    await wait_for(lambda: list(vscode.published[uri].diagnostics) == [])  # type: ignore[attr-defined]


def _severity(client: LanguageClient, uri: str) -> lsp.DiagnosticSeverity | None:
    got = client.published.get(uri)  # type: ignore[attr-defined]
    return got.diagnostics[0].severity if got is not None and got.diagnostics else None


async def wait_for(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_registration_and_progress(vscode: LanguageClient):
    await wait_for(lambda: bool(vscode.registrations))  # type: ignore[attr-defined]
    registration = vscode.registrations[0]  # type: ignore[attr-defined]
    assert registration.method == "workspace/didChangeWatchedFiles"
    globs = [w["globPattern"] for w in registration.register_options["watchers"]]
    assert any("wrangler.jsonc" in g for g in globs)
    await wait_for(lambda: any(vscode.progress_reports.values()))
    reports = next(iter(vscode.progress_reports.values()))
    await wait_for(lambda: reports and reports[-1].kind == "end")
    assert reports[0].kind == "begin"


async def test_wrangler_config_diagnostics_land_on_config_lines(
    vscode: LanguageClient, tmp_path: Path
):
    root = copy_example(tmp_path, "rate-limiter")
    config = root / "wrangler.jsonc"
    text = config.read_text()
    uri = open_doc(vscode, config, text)
    diags = await diagnostics(vscode, uri, 1)
    lines = text.splitlines()
    for snippet, rule_id in (
        ('"class_name": "AuditLog"', "class-not-exported"),
        ('"class_name": "ExportJob"', "binding-missing-migration"),
    ):
        line = next(i for i, text_line in enumerate(lines) if snippet in text_line)
        assert any(d.code == rule_id and d.range.start.line == line for d in diags), (
            rule_id,
            [(d.code, d.range.start.line) for d in diags],
        )
    # "Disable for this line" in a JSONC config inserts a // comment above the binding
    target = next(d for d in diags if d.code == "class-not-exported")
    actions = await actions_for(vscode, uri, [target])
    action = next(a for a in actions if a.title.endswith("for this line"))
    new_text = apply_text_edits(text, edits_for(action.edit, uri), "utf-16")
    assert "// durable-harden-ignore class-not-exported:" in new_text
    replace_all(vscode, uri, 2, new_text)
    after = await diagnostics(vscode, uri, 2)
    assert "class-not-exported" not in codes(after)
    assert "unused-suppression" not in codes(after)


async def test_robustness(vscode: LanguageClient, project: Path):
    # a non-UTF-8 file on disk next to the open one: logged, not fatal
    (project / "src" / "latin1.ts").write_bytes(b'export const name = "caf\xe9";\n')
    # half-typed code with unbalanced braces
    uri = open_doc(
        vscode, project / "src" / "ticker.ts", with_timer() + "\nclass Broken {\n  x( {\n"
    )
    diags = await diagnostics(vscode, uri, 1)
    # the unbalanced braces are reported (syntax-error), the timer above them still is
    assert sorted(codes(diags)) == ["syntax-error", "timer-blocks-hibernation"]
    await wait_for(lambda: any("latin1.ts" in m.message for m in vscode.log_messages))
    # closed while its analysis is pending: no diagnostics for the closed document afterwards
    replace_all(vscode, uri, 2, with_timer("y"))
    vscode.text_document_did_close(
        lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    await asyncio.sleep(0.3)
    assert list(vscode.published[uri].diagnostics) == []  # type: ignore[attr-defined]
    # the server is still alive and answering
    other = open_doc(vscode, project / "src" / "ticker.ts", with_timer(), version=5)
    assert codes(await diagnostics(vscode, other, 5)) == ["timer-blocks-hibernation"]


async def test_large_file_stays_responsive(vscode: LanguageClient, project: Path):
    body = "".join(
        f'export const value{i} = {{ id: {i}, name: "item {i}" }};\n' for i in range(100_000)
    )
    assert len(body) > 5_000_000
    loop = asyncio.get_running_loop()
    started = loop.time()
    uri = open_doc(vscode, project / "src" / "big.ts", body)
    small = open_doc(vscode, project / "src" / "ticker.ts", with_timer())
    assert await diagnostics(vscode, uri, 1) == []
    assert codes(await diagnostics(vscode, small, 1)) == ["timer-blocks-hibernation"]
    assert loop.time() - started < 5
    await wait_for(lambda: any("live-analysis limit" in m.message for m in vscode.log_messages))
    # typing in the small file stays fast although the big one sits in the same project
    replace_all(vscode, small, 2, DO_FILE)
    assert await diagnostics(vscode, small, 2, timeout=2) == []


@pytest_lsp.fixture(config=SERVER, scope="module")
async def puller(lsp_client: LanguageClient, tmp_path_factory):
    """A pulling client that also declares refreshSupport (Neovim 0.12 does; pytest-lsp's
    neovim 0.11 profile omits it)."""
    from pytest_lsp import client_capabilities

    attach(lsp_client)
    caps = client_capabilities("neovim@v0.11.0")
    caps.workspace.diagnostics = lsp.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    root = make_project(tmp_path_factory.mktemp("ws"))
    await lsp_client.initialize_session(
        lsp.InitializeParams(
            capabilities=caps,
            root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"debounceMs": 20},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_pull_clients_are_told_to_refresh_after_a_cross_file_change(
    puller: LanguageClient, tmp_path: Path
):
    """A pull client asks again only for the document it edits: after a schema edit in another
    open file changes chat-room.ts's diagnostics, the server sends workspace/diagnostic/refresh."""
    client = puller
    assert pulls(client)
    project = copy_example(tmp_path, "chat-room")
    room = open_doc(client, project / "src" / "chat-room.ts")
    schema_path = project / "src" / "schema.ts"
    schema = open_doc(client, schema_path)
    before = await diagnostics(client, room, 1)
    assert "sql-missing-index" in {d.code for d in before}
    refreshes = client.refreshes  # type: ignore[attr-defined]
    text = schema_path.read_text(encoding="utf-8").replace(
        "CREATE TABLE IF NOT EXISTS members",
        "CREATE INDEX IF NOT EXISTS idx_room_time ON messages(room, created_at);\n\n"
        "CREATE TABLE IF NOT EXISTS members",
    )
    replace_all(client, schema, 2, text)
    await diagnostics(client, schema, 2)
    deadline = asyncio.get_running_loop().time() + 5
    while client.refreshes == refreshes:  # type: ignore[attr-defined]
        assert asyncio.get_running_loop().time() < deadline, "no workspace/diagnostic/refresh"
        await asyncio.sleep(0.02)
    after = await diagnostics(client, room, 1)
    assert "sql-missing-index" not in {d.code for d in after}
