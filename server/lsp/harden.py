"""The `durable-harden.hardenAll` workspace command: "Harden all Durable Objects" in the editor,
and the `source.hardenAll.durable-harden` code action that runs it.

Flow of one run:
1. snapshot the open documents (uri, version, bytes): they are the planner's overlays, so unsaved
   buffers win over the disk;
2. run `codeactions.harden.harden` on the server's analysis worker thread (the reader
   loop stays free; analyses and the plan take turns, as the analyzers share cached tree-sitter
   parsers), with `$/progress` (begin, a report with a `percentage` per planner step, end) on the
   client's own `workDoneToken` when the request carries one, else on a token the server
   creates. `window/workDoneProgress/cancel` and `$/cancelRequest` are polled by the planner: a
   cancelled run raises `Cancelled` and nothing is sent or written;
3. check every file of the plan: resolved (symlinks included) inside the workspace roots, as
   the CLI's writer requires; one outside file and nothing is applied;
4. apply it ONE way, never half and half:
   - the client can create files (`documentChanges` with resource operation `create`; Neovim
     lists `create` without `documentChanges: true`, which we read as support): ONE
     `workspace/applyEdit` with every change and every new file (server/lsp/harden_edit.py);
     the editor may leave files unsaved, and the summary says so. The folders of new files are
     made first (empty; removed again when the edit is declined): Neovim 0.7 cannot;
   - otherwise the server writes every file itself (atomically, confined), after checking that
     no open buffer among them has unsaved changes (it would be overwritten), and the summary
     says the files are on disk;
5. report: a summary message, and the harden report written to `durable-harden-report.md` and
   opened with `window/showDocument` (the report in the message when the client cannot show
   documents).

Arguments: `[{"unsafe": bool, "uri": folder}]`, both optional. `unsafe` defaults to true when
the client can show change annotations (unsafe fixes then need confirmation in its preview) or
the settings say `unsafeFixes`; otherwise to false, and the summary names what was held back and
how to include it. The code action's title says which of these will happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from durable_harden.server.documents import Document
from durable_harden.server.lsp.convert import ClientCaps, OutsideWorkspace, confined
from durable_harden.server.lsp.harden_edit import OpenSnapshot, build_edit
from durable_harden.server.lsp.progress import Progress, planner_percentage

if TYPE_CHECKING:
    from durable_harden.codeactions.harden.plan import HardenPlan
    from durable_harden.server.lsp.core import DurableHardenServer

HARDEN_ALL_COMMAND = "durable-harden.hardenAll"
HARDEN_KIND = "source.hardenAll.durable-harden"
REPORT_NAME = "durable-harden-report.md"
HOW_TO_INCLUDE_UNSAFE = (
    'To include them, set "unsafeFixes": true in the durable-harden editor settings (or in '
    'durable-harden.jsonc) or run the command with {"unsafe": true}; '
    "`durable-harden harden --unsafe-fixes --diff` shows them first."
)


# -- messages ------------------------------------------------------------------------------------
def _rel(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if root == path or root in path.parents:
            return path.relative_to(root).as_posix()
    return str(path)


def held_back(plan: HardenPlan) -> str:
    """What the run left out because the editor cannot confirm unsafe fixes, and how to get it."""
    from durable_harden.codeactions.harden.labels import pattern_label

    items = [item for item in plan.leftovers if item.status == "unsafe"]
    if not items:
        return ""
    names = sorted(
        {
            f"{pattern_label(i.finding.rule_id, i.fix.title if i.fix else '')}"
            + (f" ({i.class_name})" if i.class_name else "")
            for i in items
        }
    )
    return (
        f" {len(items)} unsafe fix(es) were not applied because this editor cannot ask you to "
        f"confirm them: {'; '.join(names)}. {HOW_TO_INCLUDE_UNSAFE}"
    )


def summary(
    plan: HardenPlan, route: str, written: list[Path], annotations_shown: bool, roots: list[Path]
) -> str:
    """`route`: "client" (one workspace/applyEdit) or "server" (every file written by us)."""
    patterns = {(a.class_name or "", a.rule_id) for a in plan.applied}
    classes = {a.class_name for a in plan.applied if a.class_name}
    created, modified = plan.created, plan.modified
    counts = f"{len(modified)} file(s) modified, {len(created)} created"
    text = (
        f"durable-harden: applied {len(patterns)} pattern(s) in {len(classes)} class(es) "
        f"({len(plan.applied)} fix(es))"
    )
    if route == "client":
        text += (
            f" through the editor: {counts}. Every change is in your editor, which may leave "
            "files unsaved: save all (e.g. :wall) to write them to disk."
        )
    else:
        text += (
            f"; your editor cannot create files, so the server wrote every change to disk "
            f"({counts}): {', '.join(_rel(p, roots) for p in written)}. "
            "Reload the files you have open."
        )
    unsafe = plan.applied_unsafe()
    if unsafe and not annotations_shown:
        from durable_harden.codeactions.harden.labels import pattern_label

        names = sorted({pattern_label(a.rule_id, a.fix.title) for a in unsafe})
        text += f" Review the unsafe pattern(s): {'; '.join(names)} (see the report)."
    left = plan.left_for_review()
    if left:
        text += f" {len(left)} finding(s) left for review."
    return text + held_back(plan)


# -- the command ---------------------------------------------------------------------------------
@dataclass
class _Options:
    # None: unsafe fixes only where the client can ask for confirmation (change annotations)
    # or the settings say `unsafeFixes`; an editor that cannot show a preview gets safe fixes.
    unsafe: bool | None = None
    targets: list[Path] = field(default_factory=list)


def _options(ls: DurableHardenServer, args: tuple[Any, ...]) -> _Options:
    raw = args[0] if args and isinstance(args[0], dict) else {}
    options = _Options()
    if isinstance(raw.get("unsafe"), bool):
        options.unsafe = raw["unsafe"]
    uri = raw.get("uri")
    if isinstance(uri, str) and uri:
        path = to_fs_path(uri) if "://" in uri else uri
        if path:
            options.targets = [Path(path).resolve()]
    if not options.targets:
        options.targets = ls.folders()
    return options


class _Stop(Exception):
    pass


_running = False


def _show(ls: DurableHardenServer, kind: lsp.MessageType, message: str) -> None:
    with contextlib.suppress(Exception):
        ls.window_show_message(lsp.ShowMessageParams(type=kind, message=message))


async def harden_all(ls: DurableHardenServer, *args: Any) -> dict[str, Any]:
    """`workspace/executeCommand` durable-harden.hardenAll."""
    global _running
    from pygls.exceptions import JsonRpcRequestCancelled

    # the pending response of this request: pygls cancels it on `$/cancelRequest`
    request_id = ls.protocol.msg_id
    request = getattr(ls.protocol, "_request_futures", {}).get(request_id)
    client_token = getattr(ls.protocol, "work_done_tokens", {}).pop(request_id, None)
    if _running:
        _show(ls, lsp.MessageType.Warning, "durable-harden: harden all is already running.")
        return {"applied": False, "summary": "already running"}
    _running = True
    progress = Progress(ls, client_token)
    try:
        options = _options(ls, args)
        if not options.targets:
            _show(ls, lsp.MessageType.Warning, "durable-harden: no workspace folder to harden.")
            return {"applied": False, "summary": "no workspace folder"}
        await progress.begin("durable-harden: hardening all Durable Objects")
        try:
            result = await _run(ls, options, progress, request)
        except _Stop:
            progress.end("cancelled: nothing was applied")
            ls.log("harden all cancelled: nothing was applied", lsp.MessageType.Info)
            raise JsonRpcRequestCancelled("harden all cancelled: nothing was applied") from None
        return result
    except JsonRpcRequestCancelled:
        raise
    except Exception as exc:
        progress.end("failed")
        ls.log(f"harden all failed: {exc}\n{traceback.format_exc()}", lsp.MessageType.Error)
        _show(ls, lsp.MessageType.Error, f"durable-harden: harden all failed: {exc}")
        return {"applied": False, "summary": f"failed: {exc}"}
    finally:
        _running = False


def _refuse(ls: DurableHardenServer, progress: Progress, text: str, **extra: Any) -> dict[str, Any]:
    progress.end("nothing was applied")
    _show(ls, lsp.MessageType.Error, text)
    return {"applied": False, "summary": text, **extra}


def _unsaved(changed: dict[Path, Any], snapshot: dict[Path, OpenSnapshot]) -> list[Path]:
    """Open documents among the changed files whose buffer differs from the file on disk."""
    out = []
    for path in changed:
        snap = snapshot.get(path)
        if snap is None:
            continue
        try:
            disk = path.read_bytes()
        except OSError:
            disk = None
        if disk != snap.data:
            out.append(path)
    return out


def _make_folders(created: list[Path]) -> list[Path]:
    """The missing folders of new files, made before the client creates the files: Neovim 0.7's
    CreateFile does not make them (it fails, after applying the edits before it). Only folders
    (empty, inside the workspace: the paths were confined before); deepest last."""
    made: list[Path] = []
    for path in sorted(created, key=str):
        missing = [p for p in reversed(path.parents) if not p.exists()]
        for folder in missing:
            folder.mkdir()
            made.append(folder)
    return made


def _remove_empty(folders: list[Path]) -> None:
    """Undo `_make_folders` when the edit was not applied (folders still empty only)."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _stat_again(ls: DurableHardenServer, paths: list[Path]) -> None:
    """The engine reads these files' stats again at its next analysis (on its thread, in order
    with the analyses); nothing to do once the server is shutting down."""
    with contextlib.suppress(RuntimeError):
        ls.executor.submit(ls.engine.disk_changed, paths)


async def _run(
    ls: DurableHardenServer,
    options: _Options,
    progress: Progress,
    request: Future[Any] | None,
) -> dict[str, Any]:
    from durable_harden.codeactions.harden import Cancelled, harden
    from durable_harden.codeactions.harden.report import render_report
    from durable_harden.server.writer import WriteError, write_all, write_atomic

    def cancelled() -> bool:
        return progress.cancelled() or (request is not None and request.cancelled())

    loop = asyncio.get_running_loop()
    snapshot: dict[Path, OpenSnapshot] = {
        doc.path: OpenSnapshot(doc.uri, doc.version, doc.data) for doc in ls.docs.values()
    }
    overlays = {path: snap.data for path, snap in snapshot.items()}
    settings, _ = ls.settings_for(options.targets[0])
    caps = ls.caps
    unsafe = (
        options.unsafe if options.unsafe is not None else settings.unsafe_fixes or caps.annotations
    )

    def report(message: str) -> None:
        loop.call_soon_threadsafe(progress.report, message, planner_percentage(message))

    def plan() -> HardenPlan:
        return harden(
            options.targets,
            unsafe=unsafe,
            settings=settings,
            overlays=overlays,
            cancelled=cancelled,
            progress=report,
        )

    try:
        # on the analysis worker: off the reader loop, and never at the same time as an analysis
        # (the analyzers share cached tree-sitter parsers, which are not thread-safe)
        result = await loop.run_in_executor(ls.executor, plan)
    except Cancelled:
        raise _Stop() from None
    if cancelled():
        raise _Stop()
    roots = [*ls.folders(), *options.targets]
    if not result.has_changes:
        left = len(result.left_for_review())
        text = f"durable-harden: nothing to harden ({left} finding(s) left for review)."
        text += held_back(result)
        progress.end("nothing to apply")
        _show(ls, lsp.MessageType.Info, text)
        return {"applied": False, "summary": text}

    # the buffers we planned from must still be what the client has
    changed = result.changes()
    for path, snap in snapshot.items():
        doc = ls.docs.get(snap.uri)
        if path in changed and (doc is None or doc.data != snap.data):
            progress.end("a document changed: nothing was applied")
            text = (
                f"durable-harden: {path.name} changed while harden was planning; "
                "nothing was applied. Run it again."
            )
            _show(ls, lsp.MessageType.Warning, text)
            return {"applied": False, "summary": text}

    # every file, resolved (symlinks included), inside the workspace: the CLI's rule
    outside = [p for p in changed if not confined(p, roots)]
    if outside:
        return _refuse(
            ls,
            progress,
            "durable-harden: refusing to edit or create files outside the workspace "
            "(symlinks resolved): " + ", ".join(str(p) for p in outside) + "; nothing was applied.",
            outside=[str(p) for p in outside],
        )
    progress.report("building the edit", 85)
    if cancelled():
        raise _Stop()
    route = "client" if caps.create_files else "server"
    written: list[Path] = []
    if route == "client":
        try:
            built = build_edit(result, caps, snapshot, roots)
        except OutsideWorkspace as exc:  # checked above; a second line of defence
            return _refuse(ls, progress, f"durable-harden: {exc}; nothing was applied.")
        progress.report(f"applying {len(changed)} file change(s)", 90)
        folders = _make_folders(result.created)
        try:
            response = await ls.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=built.edit, label="durable-harden: harden all")
            )
        except Exception:
            _remove_empty(folders)
            raise
        finally:
            # an editor may write the changed files itself: stat'ed again at the next analysis
            _stat_again(ls, list(changed))
        if not response.applied:
            _remove_empty(folders)
            reason = f" ({response.failure_reason})" if response.failure_reason else ""
            text = (
                f"durable-harden: the editor did not apply the harden edit{reason}; "
                "nothing was applied by the server (changes your editor made before it failed "
                "are in its unsaved buffers: undo them there)."
            )
            progress.end("nothing was applied")
            _show(ls, lsp.MessageType.Warning, text)
            return {"applied": False, "summary": text, "failureReason": response.failure_reason}
    else:
        unsaved = _unsaved(changed, snapshot)
        if unsaved:
            return _refuse(
                ls,
                progress,
                "durable-harden: your editor cannot create files, so harden writes every change "
                "to disk itself, and these open files have unsaved changes: "
                + ", ".join(_rel(p, roots) for p in unsaved)
                + ". Save them and run it again; nothing was applied.",
            )
        progress.report(f"writing {len(changed)} file(s)", 90)
        files = {path: after for path, (_, after) in changed.items()}
        # what the planner read of each file: a file changed on disk since is not overwritten
        expected = {path: before for path, (before, _) in changed.items()}
        # all or nothing (server/writer.py): one root that holds every file (the folder asked
        # for, or a workspace folder); the paths were confined above, so one always does
        root = next((r for r in roots if all(confined(p, [r]) for p in files)), None)
        if root is None:
            return _refuse(
                ls,
                progress,
                "durable-harden: the changes span several workspace folders: "
                "run harden on one folder (argument `uri`); nothing was written.",
            )
        try:
            written = sorted(write_all(root, files, expected), key=str)
        except (WriteError, OSError) as exc:
            return _refuse(ls, progress, f"durable-harden: nothing was written: {exc}")
        finally:
            # whatever was written (all, or nothing after a failure): stat'ed again at the
            # next analysis, whether or not the client's watcher reports our own writes
            _stat_again(ls, list(files))
    text = summary(result, route, written, caps.annotations, roots)
    report_text = render_report(result, written=True)
    report_uri: str | None = None
    if caps.show_document:
        report_root = next((r for r in options.targets if r.is_dir()), None)
        if report_root is not None:
            report_path = report_root / REPORT_NAME
            try:
                write_atomic(report_path, report_text.encode("utf-8"))
                report_uri = report_path.as_uri()
            except OSError as exc:
                ls.log(f"could not write {report_path}: {exc}", lsp.MessageType.Warning)
    progress.end(f"{len(changed)} file(s) changed")
    if report_uri is not None:
        _show(ls, lsp.MessageType.Info, f"{text} Report: {REPORT_NAME}.")
        with contextlib.suppress(Exception):
            await ls.window_show_document_async(
                lsp.ShowDocumentParams(uri=report_uri, take_focus=True)
            )
    else:
        _show(ls, lsp.MessageType.Info, f"{text}\n\n{report_text}")
    return {
        "applied": True,
        "route": route,
        "summary": text,
        "created": [p.as_uri() for p in result.created],
        "modified": [p.as_uri() for p in result.modified],
        "writtenByServer": [p.as_uri() for p in written],
        "report": report_uri,
    }


# -- the source code action ----------------------------------------------------------------------
def action_title(caps: ClientCaps, unsafe_fixes: bool) -> str:
    """What the command will do with this client and these settings."""
    if caps.annotations:
        what = "unsafe fixes ask for review"
    elif unsafe_fixes:
        what = "including unsafe fixes"
    else:
        what = "safe fixes only"
    where = "" if caps.create_files else "; writes the files to disk"
    return f"durable-harden: harden all Durable Objects ({what}{where})"


def harden_code_actions(
    ls: DurableHardenServer, doc: Document, params: lsp.CodeActionParams
) -> list[lsp.CodeAction]:
    """`source.hardenAll.durable-harden`: runs the command on the document's workspace folder.
    Offered when asked for by kind (`source`, this kind), or with durable-harden diagnostics."""
    only = [str(getattr(k, "value", k)) for k in params.context.only or []]
    kind = HARDEN_KIND
    if only:
        if not any(kind == k or kind.startswith(f"{k}.") for k in only):
            return []
    elif not any(d.source == "durable-harden" for d in params.context.diagnostics):
        return []
    folders = [f for f in ls.folders() if f == doc.path or f in doc.path.parents]
    folder = max(folders, key=lambda f: len(f.parts)) if folders else doc.path.parent
    settings, _ = ls.settings_for(folder)
    return [
        lsp.CodeAction(
            title=action_title(ls.caps, settings.unsafe_fixes),
            kind=kind,
            command=lsp.Command(
                title="Harden all Durable Objects",
                command=HARDEN_ALL_COMMAND,
                arguments=[{"uri": folder.as_uri()}],
            ),
        )
    ]


def register(server: DurableHardenServer) -> None:
    """Register the command (pygls resolves a command's annotations with get_type_hints and
    spreads the JSON arguments over its parameters: hence the bare `*args` wrapper)."""

    async def command(ls, *args):  # type: ignore[no-untyped-def]
        return await harden_all(ls, *args)

    server.command(HARDEN_ALL_COMMAND)(command)


__all__ = [
    "HARDEN_ALL_COMMAND",
    "HARDEN_KIND",
    "REPORT_NAME",
    "action_title",
    "harden_all",
    "harden_code_actions",
    "register",
]
