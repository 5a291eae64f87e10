"""`durable-harden.hardenAll` end to end: the real server over stdio, pytest-lsp client profiles.

The test client applies the one `workspace/applyEdit` to the files on disk the way an editor
would (TextDocumentEdit / CreateFile / plain `changes`, positions in the negotiated encoding);
the result must be byte-identical to what `durable-harden harden --unsafe-fixes --yes` writes.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities

from durable_harden.analyzers.source import LineIndex
from durable_harden.server.documents import to_offset
from durable_harden.server.lsp.harden import HARDEN_ALL_COMMAND, HARDEN_KIND, REPORT_NAME
from tests.lsp.conftest import EXAMPLES, ROOT, SERVER, attach, encoding_of, open_doc

pytestmark = pytest.mark.asyncio(loop_scope="module")

# VS Code: documentChanges + create + annotations + showDocument; Neovim 0.11: plain `changes`,
# utf-8; Emacs: documentChanges without resource operations or annotations, no showDocument.
PROFILES = ["visual-studio-code", "neovim@v0.11.0", "emacs"]
EXAMPLE = "chat-room"
UNSAFE_PATTERNS = {
    "unbounded-table-growth",
    "timer-blocks-hibernation",
    "websocket-not-hibernatable",
}


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != REPORT_NAME
    }


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What the CLI writes for the same project."""
    target = tmp_path_factory.mktemp("cli") / EXAMPLE
    shutil.copytree(EXAMPLES / EXAMPLE, target)
    done = subprocess.run(
        [sys.executable, "-m", "durable_harden", "harden", "--unsafe-fixes", "--yes", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    result = tree(target)
    assert result != tree(EXAMPLES / EXAMPLE), "the CLI changed nothing: nothing to compare"
    return result


def _apply_text(data: bytes, edits: list[Any], encoding: str) -> bytes:
    lines = LineIndex(data)
    spans = sorted(
        (
            to_offset(lines, e.range.start.line, e.range.start.character, encoding),
            to_offset(lines, e.range.end.line, e.range.end.character, encoding),
            index,
            e.new_text,
        )
        for index, e in enumerate(edits)
    )
    out, cursor = [], 0
    for start, end, _, new in spans:
        assert start >= cursor, "overlapping edits"
        out.append(data[cursor:start])
        out.append(new.encode())
        cursor = end
    out.append(data[cursor:])
    return b"".join(out)


def apply_to_disk(edit: lsp.WorkspaceEdit, encoding: str) -> None:
    """Apply a WorkspaceEdit to the files, as an editor does (refusing what it cannot do)."""
    if edit.document_changes:
        for change in edit.document_changes:
            if isinstance(change, lsp.CreateFile):
                path = Path(change.uri.removeprefix("file://"))
                assert not path.exists(), f"{path} exists: CreateFile without overwrite fails"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
            elif isinstance(change, lsp.TextDocumentEdit):
                path = Path(change.text_document.uri.removeprefix("file://"))
                path.write_bytes(_apply_text(path.read_bytes(), list(change.edits), encoding))
            else:
                raise AssertionError(f"unexpected change {change!r}")
    for uri, edits in (edit.changes or {}).items():
        path = Path(uri.removeprefix("file://"))
        path.write_bytes(_apply_text(path.read_bytes(), list(edits), encoding))


@pytest_lsp.fixture(config=SERVER, params=PROFILES, scope="module")
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    lsp_client.profile = request.param  # type: ignore[attr-defined]
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.apply_result = None  # type: ignore[attr-defined]
    attach(lsp_client)
    # an applyEdit handler that applies the edit to the files (attach's only records it)
    lsp_client.protocol.fm._features.pop(lsp.WORKSPACE_APPLY_EDIT, None)

    @lsp_client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def _apply(ls: LanguageClient, params: lsp.ApplyWorkspaceEditParams) -> Any:
        ls.applied.append(params.edit)  # type: ignore[attr-defined]
        refusal = ls.apply_result  # type: ignore[attr-defined]
        if refusal is not None:
            return refusal
        apply_to_disk(params.edit, encoding_of(ls))
        return lsp.ApplyWorkspaceEditResult(applied=True)

    # lsprotocol 2025.0.0 structures any `Command | CodeAction` with a "command" key as a Command
    # (a CodeAction that carries a command loses its kind); editors check `typeof command`
    lsp_client.protocol._converter.register_structure_hook(
        Union[lsp.Command, lsp.CodeAction],  # noqa: UP007 (the exact union lsprotocol registers)
        lambda obj, _: lsp_client.protocol._converter.structure(
            obj, lsp.Command if isinstance(obj.get("command"), str) else lsp.CodeAction
        ),
    )
    lsp_client.init_result = await lsp_client.initialize_session(  # type: ignore[attr-defined]
        lsp.InitializeParams(
            capabilities=client_capabilities(request.param),
            root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"debounceMs": 20},
        )
    )
    yield
    await lsp_client.shutdown_session()


def fresh_copy(client: LanguageClient, name: str) -> Path:
    target = client.root / name / EXAMPLE  # type: ignore[attr-defined]
    shutil.copytree(EXAMPLES / EXAMPLE, target)
    client.applied.clear()  # type: ignore[attr-defined]
    client.messages.clear()
    client.apply_result = None  # type: ignore[attr-defined]
    return target


async def harden(client: LanguageClient, project: Path, **options: Any) -> Any:
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(
            command=HARDEN_ALL_COMMAND, arguments=[{"uri": project.as_uri(), **options}]
        )
    )


def harden_tokens(client: LanguageClient) -> list[str]:
    return [t for t in client.progress_reports if str(t).startswith("durable-harden-harden-")]


async def test_advertised(client: LanguageClient):
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps is not None and caps.execute_command_provider is not None
    assert HARDEN_ALL_COMMAND in caps.execute_command_provider.commands
    provider = caps.code_action_provider
    assert isinstance(provider, lsp.CodeActionOptions)
    assert HARDEN_KIND in [getattr(k, "value", k) for k in provider.code_action_kinds or []]


async def test_harden_all_equals_the_cli(client: LanguageClient, expected: dict[str, bytes]):
    project = fresh_copy(client, "same-as-cli")
    profile = client.profile  # type: ignore[attr-defined]
    opened = project / "src" / "chat-room.ts"
    opened_uri = open_doc(client, opened, version=7)
    before_tokens = set(harden_tokens(client))

    # editors that cannot show a confirmation get unsafe fixes only when they ask for them
    asks = {} if profile == "visual-studio-code" else {"unsafe": True}
    result = await harden(client, project, **asks)

    assert result["applied"] is True, result
    assert tree(project) == expected  # byte-identical to `harden --unsafe-fixes --yes`
    created = {p for p, data in expected.items() if not (EXAMPLES / EXAMPLE / p).exists()}
    assert created, "harden creates files for this example (tests, vitest config, README)"
    changed = {p for p, data in expected.items() if (EXAMPLES / EXAMPLE / p).exists()}
    changed = {p for p in changed if (EXAMPLES / EXAMPLE / p).read_bytes() != expected[p]}

    if profile == "emacs":  # documentChanges, but no `create`: the server writes EVERY file
        assert client.applied == []  # type: ignore[attr-defined]
        assert result["route"] == "server"
        assert set(result["writtenByServer"]) == {(project / p).as_uri() for p in created | changed}
        (shown,) = [m.message for m in client.messages if "durable-harden: applied" in m.message]
        assert "the server wrote every change to disk" in shown
        # no showDocument: the report comes as a message
        assert "# durable-harden report" in shown
        return

    # every change (new files too) through ONE workspace/applyEdit, nothing written by us
    assert result["route"] == "client"
    assert result["writtenByServer"] == []
    assert len(client.applied) == 1  # type: ignore[attr-defined]
    edit: lsp.WorkspaceEdit = client.applied[0]  # type: ignore[attr-defined]
    assert edit.changes is None and edit.document_changes
    versions = {
        c.text_document.uri: c.text_document.version
        for c in edit.document_changes
        if isinstance(c, lsp.TextDocumentEdit)
    }
    assert versions[opened_uri] == 7  # the open document's version; closed files: null
    assert all(v is None for u, v in versions.items() if u != opened_uri)
    creates = [c for c in edit.document_changes if isinstance(c, lsp.CreateFile)]
    assert {c.uri for c in creates} == {(project / p).as_uri() for p in created}
    (shown,) = [m.message for m in client.messages if "durable-harden: applied" in m.message]
    assert "through the editor" in shown and "save all" in shown

    if profile == "neovim@v0.11.0":  # lists `create` without documentChanges: no annotations
        assert edit.change_annotations is None
        return

    # VS Code: the report opened, progress begin/report/end
    report = project / REPORT_NAME
    assert report.is_file() and report.read_text().startswith("# durable-harden report")
    assert [d.uri for d in client.shown_documents] == [report.as_uri()]
    assert any("applied" in m.message and "pattern" in m.message for m in client.messages)
    (token,) = set(harden_tokens(client)) - before_tokens
    kinds = [type(v).__name__ for v in client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert kinds.count("WorkDoneProgressReport") >= 3  # rounds and files

    # change annotations: unsafe patterns need confirmation and say what to review
    notes = edit.change_annotations or {}
    used = {
        e.annotation_id
        for c in edit.document_changes
        if isinstance(c, lsp.TextDocumentEdit)
        for e in c.edits
    }
    assert None not in used and used <= set(notes)
    assert all(c.annotation_id in notes for c in creates)
    by_rule = {key.split(":")[1]: notes[key] for key in used if key.count(":") == 2}
    assert set(by_rule) >= UNSAFE_PATTERNS
    for rule in UNSAFE_PATTERNS:
        assert by_rule[rule].needs_confirmation is True
        assert "review" in (by_rule[rule].description or "")
    for key in used:
        assert notes[key].needs_confirmation is key.endswith(":unsafe")
    # the index in schema.ts is a safe fix: applied directly
    schema_edits = [
        e
        for c in edit.document_changes
        if isinstance(c, lsp.TextDocumentEdit) and c.text_document.uri.endswith("/src/schema.ts")
        for e in c.edits
    ]
    assert schema_edits
    assert {e.annotation_id for e in schema_edits} == {"durable-harden:sql-missing-index:safe"}
    assert notes["durable-harden:sql-missing-index:safe"].needs_confirmation is False
    # each unsafe pattern's text is annotated with its own rule, not lumped together
    ts_edits = [
        e
        for c in edit.document_changes
        if isinstance(c, lsp.TextDocumentEdit) and c.text_document.uri == opened_uri
        for e in c.edits
    ]
    rules_in_ts = {str(e.annotation_id).split(":")[1] for e in ts_edits}
    assert rules_in_ts >= UNSAFE_PATTERNS
    accept = next(e for e in ts_edits if "acceptWebSocket" in e.new_text)
    assert accept.annotation_id == "durable-harden:websocket-not-hibernatable:unsafe"
    # a pure deletion (the removed addEventListener lines) belongs to the fix that deleted it
    (removed,) = [e for e in ts_edits if e.new_text == "" and e.range.end.line > e.range.start.line]
    assert removed.annotation_id == "durable-harden:websocket-not-hibernatable:unsafe"


async def test_declined_edit_is_reported(client: LanguageClient):
    if client.profile == "emacs":  # type: ignore[attr-defined]
        pytest.skip("Emacs cannot create files: the server writes, there is no edit to decline")
    project = fresh_copy(client, "declined")
    original = tree(project)
    client.apply_result = lsp.ApplyWorkspaceEditResult(  # type: ignore[attr-defined]
        applied=False, failure_reason="declined in the preview"
    )

    result = await harden(client, project)

    assert result["applied"] is False
    assert len(client.applied) == 1  # type: ignore[attr-defined]
    assert tree(project) == original  # nothing written by the server either
    assert not (project / REPORT_NAME).exists()
    shown = [m for m in client.messages if "nothing was applied by the server" in m.message]
    assert shown and "declined in the preview" in shown[0].message
    assert shown[0].type == lsp.MessageType.Warning


async def test_source_action_runs_the_command(client: LanguageClient):
    project = fresh_copy(client, "action")
    uri = open_doc(client, project / "src" / "index.ts")
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=[], only=[lsp.CodeActionKind.Source]),
        )
    )
    harden_actions = [a for a in actions or [] if getattr(a, "kind", None) == HARDEN_KIND]
    assert len(harden_actions) == 1
    command = harden_actions[0].command
    assert command is not None and command.command == HARDEN_ALL_COMMAND
    assert list(command.arguments or []) == [{"uri": client.root.as_uri()}]  # type: ignore[attr-defined]
    # not offered to a fix-all on save
    on_save = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
        )
    )
    assert not [a for a in on_save or [] if getattr(a, "kind", None) == HARDEN_KIND]


@pytest.mark.parametrize("how", ["progress-cancel", "cancel-request"])
async def test_cancel_after_first_report_applies_nothing(client: LanguageClient, how: str):
    if client.profile != "visual-studio-code":  # type: ignore[attr-defined]
        pytest.skip("one profile is enough for cancellation")
    project = fresh_copy(client, f"cancel-{how}")
    original = tree(project)
    before = set(harden_tokens(client))
    msg_id = f"harden-{how}"
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            lsp.WORKSPACE_EXECUTE_COMMAND,
            lsp.ExecuteCommandParams(
                command=HARDEN_ALL_COMMAND, arguments=[{"uri": project.as_uri()}]
            ),
            msg_id=msg_id,
        )
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    token = None
    while token is None:
        assert loop.time() < deadline, "no progress report"
        for candidate in set(harden_tokens(client)) - before:
            if any(
                isinstance(v, lsp.WorkDoneProgressReport)
                for v in client.progress_reports[candidate]
            ):
                token = candidate
        await asyncio.sleep(0.002)
    if how == "progress-cancel":
        client.window_work_done_progress_cancel(lsp.WorkDoneProgressCancelParams(token=token))
    else:
        client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id=msg_id))

    with pytest.raises(Exception, match=r"(?i)cancel"):
        await asyncio.wait_for(pending, 30)
    # the planner stops at its next check and ends the progress without applying anything
    while not isinstance(client.progress_reports[token][-1], lsp.WorkDoneProgressEnd):
        assert loop.time() < deadline, "the run did not end"
        await asyncio.sleep(0.01)
    assert "nothing was applied" in (client.progress_reports[token][-1].message or "")
    await asyncio.sleep(0.2)
    assert client.applied == []  # type: ignore[attr-defined]
    assert tree(project) == original
    assert not (project / REPORT_NAME).exists()
    # and the server is ready for the next run
    result = await harden(client, project, unsafe=False)
    assert result["applied"] is True


async def test_no_unsafe_fix_unasked_where_the_client_cannot_confirm(client: LanguageClient):
    """Neovim and Emacs show no preview for change annotations: by default they get the safe
    fixes only, and the summary says what was held back."""
    if client.profile == "visual-studio-code":  # type: ignore[attr-defined]
        pytest.skip("VS Code asks for confirmation in its refactor preview")
    project = fresh_copy(client, "safe-only")
    source = project / "src" / "chat-room.ts"
    result = await harden(client, project)
    assert result["applied"] is True, result
    text = source.read_text(encoding="utf-8")
    assert "server.accept();" in text  # the unsafe WebSocket rewrite was not applied
    assert "setInterval(" in text  # nor the timer move
    assert "idx_messages_room_created_at" in (project / "src" / "schema.ts").read_text()  # safe
    summary = result["summary"]
    assert "unsafe fix(es) were not applied because this editor cannot ask you to confirm" in (
        summary
    )
    # what was held back, by pattern, and how to include it
    assert "hibernat" in summary.lower()
    assert '"unsafeFixes": true' in summary and '{"unsafe": true}' in summary


async def test_action_title_says_what_will_happen(client: LanguageClient):
    project = fresh_copy(client, "title")
    uri = open_doc(client, project / "src" / "index.ts")
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=[], only=[HARDEN_KIND]),
        )
    )
    (action,) = [a for a in actions or [] if getattr(a, "kind", None) == HARDEN_KIND]
    title = {
        "visual-studio-code": "(unsafe fixes ask for review)",
        "neovim@v0.11.0": "(safe fixes only)",
        "emacs": "(safe fixes only; writes the files to disk)",
    }[client.profile]  # type: ignore[attr-defined]
    assert action.title == f"durable-harden: harden all Durable Objects {title}"
    # and the run does what the title said
    result = await harden(client, project)
    assert result["applied"] is True
    assert result["route"] == ("server" if client.profile == "emacs" else "client")  # type: ignore[attr-defined]
    if client.profile != "visual-studio-code":  # type: ignore[attr-defined]
        assert "server.accept();" in (project / "src" / "chat-room.ts").read_text()


async def test_server_writes_nothing_over_an_unsaved_buffer(client: LanguageClient):
    """A client that cannot create files gets every change written by the server: not when an
    open buffer of a changed file has unsaved text (it would be overwritten)."""
    if client.profile != "emacs":  # type: ignore[attr-defined]
        pytest.skip("only a client without `create` makes the server write")
    project = fresh_copy(client, "unsaved")
    source = project / "src" / "chat-room.ts"
    open_doc(client, source, source.read_text() + "\n// typed, not saved\n", version=3)
    original = tree(project)
    result = await harden(client, project, unsafe=True)
    assert result["applied"] is False
    assert "unsaved changes" in result["summary"] and "chat-room.ts" in result["summary"]
    assert tree(project) == original
    client.text_document_did_close(
        lsp.DidCloseTextDocumentParams(
            text_document=lsp.TextDocumentIdentifier(uri=source.as_uri())
        )
    )


async def test_client_work_done_token_and_percentage(client: LanguageClient):
    if client.profile != "visual-studio-code":  # type: ignore[attr-defined]
        pytest.skip("one profile is enough")
    project = fresh_copy(client, "token")
    token = "client-token-42"
    client.progress_reports[token] = []  # the client made this token (pytest-lsp tracks them)
    before = set(harden_tokens(client))
    result = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(
            command=HARDEN_ALL_COMMAND,
            arguments=[{"uri": project.as_uri()}],
            work_done_token=token,
        )
    )
    assert result["applied"] is True
    assert set(harden_tokens(client)) == before  # no server-created token: the client's is used
    values = client.progress_reports[token]
    assert isinstance(values[0], lsp.WorkDoneProgressBegin)
    assert isinstance(values[-1], lsp.WorkDoneProgressEnd)
    reports = [v for v in values if isinstance(v, lsp.WorkDoneProgressReport)]
    percentages = [v.percentage for v in reports]
    assert reports and all(p is not None for p in percentages)
    assert percentages == sorted(percentages) and 0 < percentages[-1] <= 100


@pytest.mark.parametrize("link", ["src/schema.ts", "README.md", "scripts", "test"])
async def test_refuses_symlinks_out_of_the_workspace(
    client: LanguageClient, tmp_path: Path, link: str
):
    """A file or folder of the project that is a symlink to somewhere outside the workspace:
    nothing is applied, nothing outside is written, no outside URI is sent (the CLI's rule)."""
    if client.profile == "neovim@v0.11.0":  # type: ignore[attr-defined]
        pytest.skip("the same route as VS Code")
    project = fresh_copy(client, f"symlink-{link.replace('/', '-')}")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = project / link
    if target.exists():  # a file of the project, moved outside and linked back
        moved = outside / target.name
        shutil.move(str(target), moved)
        target.symlink_to(moved)
    else:  # a folder harden creates files in
        (outside / link).mkdir()
        target.symlink_to(outside / link, target_is_directory=True)
    before_outside = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    before = tree(project)
    result = await harden(client, project, unsafe=True)
    assert result["applied"] is False, result
    assert "outside the workspace" in result["summary"]
    assert client.applied == []  # type: ignore[attr-defined]
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before_outside
    assert tree(project) == before
