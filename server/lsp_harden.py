"""The `durable-harden.hardenAll` workspace command: "Harden all Durable Objects" in the editor.

Flow of one run:
1. snapshot the open documents (uri, version, bytes): they are the planner's overlays, so unsaved
   buffers win over the disk;
2. run `codeactions.harden.harden` on the server's analysis worker thread (the reader
   loop stays free; analyses and the plan take turns, as the analyzers share cached tree-sitter
   parsers), with server-initiated `$/progress` (begin, one report per planner step: each round and
   each file it touches, end). `window/workDoneProgress/cancel` and `$/cancelRequest` are polled
   by the planner: a cancelled run raises `Cancelled` and nothing is sent or written;
3. turn the plan into ONE `workspace/applyEdit` (`build_edit`): line hunks from
   `editcore.minimal_edits` per modified file, `CreateFile` + one insert per new file, each hunk
   annotated with the pattern (rule) whose fix produced it (`trace_owners`); unsafe patterns'
   `ChangeAnnotation`s have `needsConfirmation: true` (VS Code then opens its refactor preview);
4. report: `applied: false` -> a message that nothing was applied (with the client's
   `failureReason`); success -> a summary message, and the harden report written to
   `durable-harden-report.md` and opened with `window/showDocument` (a message when the client
   cannot show documents).

Client fallbacks: no `documentChanges` -> plain `changes` (existing files only); no
`resourceOperations: ["create"]` (or no `documentChanges`) -> the server writes the new files
itself after the client applied the edit (atomically, only inside a workspace folder) and says so;
no `changeAnnotationSupport` -> the same edits without annotations (the summary then names the
unsafe patterns to review). Arguments: `[{"unsafe": bool, "uri": folder}]`, both optional;
`unsafe` defaults to true when the client can show change annotations (unsafe fixes then
need confirmation in its preview) or the settings say `unsafeFixes`; otherwise to false, so an
editor without a preview never applies an unsafe fix unasked.

No pygls import at module level besides types: `register(server)` wires the command in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import traceback
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types as lsp

from durable_harden.analyzers.source import LineIndex
from durable_harden.server.documents import to_position

if TYPE_CHECKING:
    from durable_harden.codeactions.harden.plan import AppliedFix, HardenPlan
    from durable_harden.server.documents import Document
    from durable_harden.server.lsp import DurableHardenServer

HARDEN_ALL_COMMAND = "durable-harden.hardenAll"
HARDEN_KIND = "source.hardenAll.durable-harden"
REPORT_NAME = "durable-harden-report.md"
GENERATED_ANNOTATION = "durable-harden:generated"
REVIEW_ANNOTATION = "durable-harden:review"


def _cap(obj: Any, *names: str) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


# -- tracing hunks back to the fixes that produced them ------------------------------------------
Region = tuple[int, int]


def trace_owners(plan: HardenPlan) -> dict[Path, list[tuple[Region, AppliedFix]]]:
    """Where each applied fix's text ended up in the final bytes of each file: the provenance
    the edit core recorded while the planner applied the rounds (`codeactions.editcore`). A
    file whose history could not be traced is left out (its hunks get the file's most cautious
    annotation)."""
    out: dict[Path, list[tuple[Region, AppliedFix]]] = {}
    for path in plan.changes():
        regions = plan.provenance.of(path)
        if regions is None:
            continue
        out[path] = [((r.start, r.end), cast("AppliedFix", r.owner)) for r in regions]
    return out


def _line_bounds(data: bytes, pos: int) -> tuple[int, int]:
    """Start and end (after its newline) of the line holding `pos`."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return start, len(data) if end < 0 else end + 1


def owners_of(
    traced: list[tuple[Region, AppliedFix]], after: bytes, hunk: Region
) -> list[tuple[Region, list[AppliedFix]]]:
    """The fixes behind one hunk (final-byte range `hunk`), split into line-granular segments
    where the hunk's text comes from different fixes. An empty list of fixes: untraced.

    A pure deletion (empty hunk) belongs to the deletions (point regions) on the lines around
    it (a fix often deletes from the end of the previous line, difflib shows whole lines),
    else to a fix whose text surrounds it."""
    c, d = hunk
    if c == d:
        lo = _line_bounds(after, c - 1)[0] if c > 0 else 0
        hi = _line_bounds(after, c)[1] if c < len(after) else c
        hits = [a for (x, y), a in traced if x == y and lo <= x <= hi]
        if not hits:
            hits = [a for (x, y), a in traced if x < c < y]
        return [(hunk, hits)]
    cuts = {c, d}
    for (x, y), _ in traced:
        for pos in (x, y):
            if c < pos < d and after[pos - 1 : pos] == b"\n":
                cuts.add(pos)
    points = sorted(cuts)
    pieces: list[tuple[Region, list[AppliedFix]]] = []
    for start, end in itertools.pairwise(points):
        hits = [
            a for (x, y), a in traced if (x < end and start < y) or (x == y and start <= x <= end)
        ]
        pieces.append(((start, end), hits))
    return pieces


def _caution(applied: AppliedFix) -> tuple[int, int, int]:
    """Sort key: unsafe first, then priority tier, then round."""
    return (0 if not applied.fix.is_safe else 1, applied.tier, applied.round)


# -- annotations ---------------------------------------------------------------------------------
@dataclass
class _Annotation:
    rule_id: str
    safe: bool
    label: str
    parts: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"durable-harden:{self.rule_id}:{'safe' if self.safe else 'unsafe'}"

    def add(self, text: str) -> None:
        text = " ".join(text.split())
        if text and text not in self.parts:
            self.parts.append(text)

    def to_lsp(self) -> lsp.ChangeAnnotation:
        return lsp.ChangeAnnotation(
            label=self.label,
            needs_confirmation=not self.safe,
            description=" ".join(self.parts) or None,
        )


def annotation_for(applied: AppliedFix, table: dict[str, _Annotation]) -> str:
    from durable_harden.codeactions.harden.labels import pattern_label

    safe = applied.fix.is_safe
    pattern = pattern_label(applied.rule_id, applied.fix.title)
    label = f"durable-harden: {pattern}" if safe else f"durable-harden: {pattern} (unsafe, review)"
    note = _Annotation(applied.rule_id, safe, label)
    note = table.setdefault(note.key, note)
    who = f"{applied.class_name}: " if applied.class_name else ""
    if safe:
        note.add(f"{who}{applied.fix.title}.")
    else:
        note.add(f"{who}review: {applied.fix.review or applied.fix.title}")
    return note.key


# -- the workspace edit --------------------------------------------------------------------------
@dataclass
class OpenSnapshot:
    uri: str
    version: int | None
    data: bytes


@dataclass
class ClientEditCaps:
    document_changes: bool
    create_files: bool
    annotations: bool

    @classmethod
    def of(cls, capabilities: Any) -> ClientEditCaps:
        edit = _cap(capabilities, "workspace", "workspace_edit")
        document_changes = bool(_cap(edit, "document_changes"))
        ops = _cap(edit, "resource_operations") or []
        create = any(str(getattr(op, "value", op)) == "create" for op in ops)
        return cls(
            document_changes=document_changes,
            create_files=document_changes and create,
            annotations=document_changes and _cap(edit, "change_annotation_support") is not None,
        )


@dataclass
class BuiltEdit:
    edit: lsp.WorkspaceEdit
    server_writes: dict[Path, bytes]  # new files the client cannot create: written by us
    hunks: int
    annotations: dict[str, lsp.ChangeAnnotation]


def _uri(path: Path, open_docs: Mapping[Path, OpenSnapshot]) -> str:
    """The client's own URI for an open document; otherwise the URI pygls would build."""
    from pygls.uris import from_fs_path

    snap = open_docs.get(path)
    return snap.uri if snap is not None else (from_fs_path(str(path)) or path.as_uri())


def build_edit(
    plan: HardenPlan,
    caps: ClientEditCaps,
    encoding: str,
    open_docs: Mapping[Path, OpenSnapshot],
) -> BuiltEdit:
    """One WorkspaceEdit for the whole plan (see the module docstring for the fallbacks)."""
    from durable_harden.codeactions.editcore import minimal_edits

    changes = plan.changes()
    owners = trace_owners(plan)
    table: dict[str, _Annotation] = {}
    generated: _Annotation | None = None
    review: _Annotation | None = None

    def file_fallback(path: Path) -> str:
        """The most cautious annotation of the fixes that touch the file."""
        nonlocal generated, review
        touching = [
            a
            for a in plan.applied
            if path in {e.path for e in a.fix.edits} | {c.path for c in a.fix.creates}
        ]
        if touching:
            return annotation_for(min(touching, key=_caution), table)
        if path in plan.generated:
            if generated is None:
                generated = _Annotation("generated", True, "durable-harden: generated files")
                table[GENERATED_ANNOTATION] = generated
            generated.add(plan.generated[path])
            return GENERATED_ANNOTATION
        if review is None:
            review = _Annotation("review", False, "durable-harden: changes to review")
            table[REVIEW_ANNOTATION] = review
            review.add("A change harden made that could not be traced to a single fix.")
        return REVIEW_ANNOTATION

    def choose(path: Path, hits: list[AppliedFix]) -> str:
        if not hits:
            return file_fallback(path)
        keys = {annotation_for(a, table) for a in hits}
        if len(keys) == 1:
            return keys.pop()
        return annotation_for(min(hits, key=_caution), table)

    def annotate(path: Path, after: bytes, hunk: Region) -> list[tuple[Region, str]]:
        """Line-granular pieces of a hunk, each with its annotation (neighbours merged)."""
        traced = owners.get(path)
        if traced is None:
            return [(hunk, file_fallback(path))]
        merged: list[tuple[Region, str]] = []
        for (start, end), hits in owners_of(traced, after, hunk):
            key = choose(path, hits)
            if merged and merged[-1][1] == key:
                merged[-1] = ((merged[-1][0][0], end), key)
            else:
                merged.append(((start, end), key))
        return merged

    document_changes: list[Any] = []
    plain: dict[str, list[lsp.TextEdit]] = {}
    server_writes: dict[Path, bytes] = {}
    count = 0
    for path, (before, after) in changes.items():
        uri = _uri(path, open_docs)
        if before is None:
            key = choose(path, [a for _, a in owners.get(path, [])])
            if not caps.create_files:
                server_writes[path] = after
                continue
            document_changes.append(
                lsp.CreateFile(
                    uri=uri,
                    options=lsp.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=key if caps.annotations else None,
                )
            )
            text = after.decode("utf-8")
            start = lsp.Position(0, 0)
            insert: lsp.TextEdit = (
                lsp.AnnotatedTextEdit(
                    annotation_id=key, range=lsp.Range(start, start), new_text=text
                )
                if caps.annotations
                else lsp.TextEdit(range=lsp.Range(start, start), new_text=text)
            )
            document_changes.append(
                lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=None
                    ),
                    edits=[insert],
                )
            )
            count += 1
            continue
        lines = LineIndex(before)
        text_edits: list[lsp.TextEdit] = []
        shift = 0
        for start_byte, end_byte, new_text in minimal_edits(before, after):
            length = len(new_text.encode("utf-8"))
            hunk = (start_byte + shift, start_byte + shift + length)
            shift += length - (end_byte - start_byte)
            sl, sc = to_position(lines, start_byte, encoding)
            el, ec = to_position(lines, end_byte, encoding)
            rng = lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))
            pieces = annotate(path, after, hunk)  # collected even without annotation support
            if not caps.annotations:
                text_edits.append(lsp.TextEdit(range=rng, new_text=new_text))
                continue
            # the first piece replaces the hunk's old lines, the others insert after it, in order
            end_pos = rng.end
            for number, ((a, b), key) in enumerate(pieces):
                piece = after[a:b].decode("utf-8")
                text_edits.append(
                    lsp.AnnotatedTextEdit(
                        annotation_id=key,
                        range=rng if number == 0 else lsp.Range(end_pos, end_pos),
                        new_text=piece,
                    )
                )
        count += len(text_edits)
        if caps.document_changes:
            snap = open_docs.get(path)
            document_changes.append(
                lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=snap.version if snap is not None else None
                    ),
                    edits=text_edits,  # type: ignore[arg-type]
                )
            )
        else:
            plain[uri] = text_edits
    annotations = {key: note.to_lsp() for key, note in sorted(table.items())}
    if caps.document_changes:
        edit = lsp.WorkspaceEdit(
            document_changes=document_changes,
            change_annotations=annotations if caps.annotations and annotations else None,
        )
    else:
        edit = lsp.WorkspaceEdit(changes=plain)
    return BuiltEdit(edit, server_writes, count, annotations)


# -- messages ------------------------------------------------------------------------------------
def summary(
    plan: HardenPlan, written_by_server: list[Path], annotations_shown: bool, roots: list[Path]
) -> str:
    def rel(path: Path) -> str:
        for root in roots:
            if root == path or root in path.parents:
                return path.relative_to(root).as_posix()
        return str(path)

    patterns = {(a.class_name or "", a.rule_id) for a in plan.applied}
    classes = {a.class_name for a in plan.applied if a.class_name}
    created, modified = plan.created, plan.modified
    text = (
        f"durable-harden: applied {len(patterns)} pattern(s) in {len(classes)} class(es) "
        f"({len(plan.applied)} fix(es)); {len(modified)} file(s) modified, "
        f"{len(created)} created."
    )
    if written_by_server:
        text += (
            " Your editor cannot create files, so the server wrote: "
            + ", ".join(rel(p) for p in written_by_server)
            + "."
        )
    unsafe = plan.applied_unsafe()
    if unsafe and not annotations_shown:
        from durable_harden.codeactions.harden.labels import pattern_label

        names = sorted({pattern_label(a.rule_id, a.fix.title) for a in unsafe})
        text += f" Review the unsafe pattern(s): {'; '.join(names)} (see the report)."
    left = plan.left_for_review()
    if left:
        text += f" {len(left)} finding(s) left for review."
    held_back = [item for item in plan.leftovers if item.status == "unsafe"]
    if held_back:
        text += (
            f" {len(held_back)} unsafe fix(es) were not applied (this editor cannot ask for"
            ' confirmation): run the command with {"unsafe": true} or set unsafeFixes.'
        )
    return text


# -- the command ---------------------------------------------------------------------------------
def _folders(ls: DurableHardenServer) -> list[Path]:
    from pygls.uris import to_fs_path

    paths = [Path(p).resolve() for f in ls.workspace.folders.values() if (p := to_fs_path(f.uri))]
    if not paths and ls.workspace.root_path:
        paths = [Path(ls.workspace.root_path).resolve()]
    return paths


def _inside(path: Path, root: Path) -> bool:
    from durable_harden.server.writer import inside

    return inside(root, path) and ".." not in path.parts


@dataclass
class _Options:
    # None: unsafe fixes only where the client can ask for confirmation (change annotations)
    # or the settings say `unsafeFixes`; an editor that cannot show a preview gets safe fixes.
    unsafe: bool | None = None
    targets: list[Path] = field(default_factory=list)


def _options(ls: DurableHardenServer, args: tuple[Any, ...]) -> _Options:
    from pygls.uris import to_fs_path

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
        options.targets = _folders(ls)
    return options


class _Progress:
    """Server-initiated work done progress (when the client supports it), cancellable."""

    def __init__(self, ls: DurableHardenServer) -> None:
        self.ls = ls
        self.token: str | None = None
        self.future: Future[Any] | None = None

    async def begin(self, title: str) -> None:
        if not _cap(self.ls.client_capabilities, "window", "work_done_progress"):
            return
        token = f"durable-harden-harden-{uuid.uuid4().hex[:12]}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception:
            return
        self.token = token
        self.future = self.ls.work_done_progress.tokens.get(token)
        self.ls.work_done_progress.begin(
            token, lsp.WorkDoneProgressBegin(title=title, cancellable=True, message="planning")
        )

    def cancelled(self) -> bool:
        return self.future is not None and self.future.cancelled()

    def report(self, message: str) -> None:
        if self.token is not None:
            with contextlib.suppress(Exception):
                self.ls.work_done_progress.report(
                    self.token, lsp.WorkDoneProgressReport(message=message)
                )

    def end(self, message: str) -> None:
        if self.token is not None:
            token, self.token = self.token, None
            with contextlib.suppress(Exception):
                self.ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(token, None)


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
    if _running:
        _show(ls, lsp.MessageType.Warning, "durable-harden: harden all is already running.")
        return {"applied": False, "summary": "already running"}
    _running = True
    progress = _Progress(ls)
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


async def _run(
    ls: DurableHardenServer,
    options: _Options,
    progress: _Progress,
    request: Future[Any] | None,
) -> dict[str, Any]:
    from durable_harden.codeactions.harden import Cancelled, harden
    from durable_harden.codeactions.harden.report import render_report
    from durable_harden.server.writer import write_all, write_atomic

    def cancelled() -> bool:
        return progress.cancelled() or (request is not None and request.cancelled())

    loop = asyncio.get_running_loop()
    snapshot: dict[Path, OpenSnapshot] = {
        doc.path: OpenSnapshot(doc.uri, doc.version, doc.data) for doc in ls.docs.values()
    }
    overlays = {path: snap.data for path, snap in snapshot.items()}
    settings, _ = ls.settings_for(options.targets[0])
    confirmable = ClientEditCaps.of(ls.client_capabilities).annotations
    unsafe = options.unsafe if options.unsafe is not None else settings.unsafe_fixes or confirmable

    def report(message: str) -> None:
        loop.call_soon_threadsafe(progress.report, message)

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
    roots = [*_folders(ls), *options.targets]
    if not result.has_changes:
        left = len(result.left_for_review())
        text = f"durable-harden: nothing to harden ({left} finding(s) left for review)."
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

    caps = ClientEditCaps.of(ls.client_capabilities)
    built = build_edit(result, caps, ls.encoding, snapshot)
    outside = [p for p in built.server_writes if not any(_inside(p, r) for r in roots)]
    if outside:
        progress.end("nothing was applied")
        text = (
            "durable-harden: refusing to create files outside the workspace: "
            + ", ".join(str(p) for p in outside)
            + "; nothing was applied."
        )
        _show(ls, lsp.MessageType.Error, text)
        return {"applied": False, "summary": text}
    if cancelled():
        raise _Stop()
    progress.report(f"applying {len(result.changes())} file change(s)")
    response = await ls.workspace_apply_edit_async(
        lsp.ApplyWorkspaceEditParams(edit=built.edit, label="durable-harden: harden all")
    )
    if not response.applied:
        reason = f" ({response.failure_reason})" if response.failure_reason else ""
        text = f"durable-harden: the editor did not apply the harden edit{reason}; nothing was applied."
        progress.end("nothing was applied")
        _show(ls, lsp.MessageType.Warning, text)
        return {"applied": False, "summary": text, "failureReason": response.failure_reason}

    written: list[Path] = []
    for root in roots:
        mine = {
            p: d for p, d in built.server_writes.items() if p not in written and _inside(p, root)
        }
        if mine:
            write_all(root, mine)
            written.extend(sorted(mine, key=str))
    text = summary(result, written, caps.annotations, roots)
    report_text = render_report(result, written=True)
    report_uri: str | None = None
    if _cap(ls.client_capabilities, "window", "show_document", "support"):
        report_root = next((r for r in options.targets if r.is_dir()), None)
        if report_root is not None:
            report_path = report_root / REPORT_NAME
            try:
                write_atomic(report_path, report_text.encode("utf-8"))
                report_uri = report_path.as_uri()
            except OSError as exc:
                ls.log(f"could not write {report_path}: {exc}", lsp.MessageType.Warning)
    progress.end(f"{len(result.changes())} file(s) changed")
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
        "summary": text,
        "created": [p.as_uri() for p in result.created],
        "modified": [p.as_uri() for p in result.modified],
        "writtenByServer": [p.as_uri() for p in written],
        "report": report_uri,
    }


# -- the source code action ----------------------------------------------------------------------
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
    folders = [f for f in _folders(ls) if f == doc.path or f in doc.path.parents]
    folder = max(folders, key=lambda f: len(f.parts)) if folders else doc.path.parent
    return [
        lsp.CodeAction(
            title="durable-harden: harden all Durable Objects (unsafe fixes ask for review)",
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
    "build_edit",
    "harden_all",
    "harden_code_actions",
    "register",
    "trace_owners",
]
