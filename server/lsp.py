"""The durable-harden language server (pygls 2.x).

Flow: pygls applies each didChange to its own copy of the text; we take the new UTF-8 bytes,
note the version, and (after a short per-project debounce) hand a snapshot of every open
document of that project to the analysis engine, which runs on one worker thread so the
reader loop stays responsive. Results are published only when every document still has the
version that was analysed: a result for an old version is dropped, never shown.

Diagnostics are pushed (`textDocument/publishDiagnostics` with the version) to clients without
pull support, and answered by `textDocument/diagnostic` (with a resultId derived from the
inputs) for clients that pull. Code actions, fix-all and hover reuse the latest analysis of the
current version (recomputed when it is older).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from durable_harden.analyzers.analysis import Settings
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.rules import all_rules, rule_by_id
from durable_harden.analyzers.settings_file import (
    PACKAGE_JSON,
    SETTINGS_FILE,
    SettingsError,
    SettingsFile,
    apply,
    forget,
    normalize,
    settings_for,
)
from durable_harden.analyzers.source import LineIndex
from durable_harden.analyzers.wrangler import CONFIG_NAMES
from durable_harden.codeactions import Edit, Fix
from durable_harden.codeactions.fix import OverlappingEdits, apply_edits
from durable_harden.codeactions.suppress import disable_for_file, disable_for_line
from durable_harden.server.documents import Document, kind_of, to_offset, to_position
from durable_harden.server.lsp_engine import Analysis, Engine, OpenInput
from durable_harden.server.lsp_harden import HARDEN_KIND, harden_code_actions
from durable_harden.server.lsp_harden import register as register_harden

VERSION = "0.1.0"
SOURCE = "durable-harden"
FIX_ALL_KIND = "source.fixAll.durable-harden"
DEFAULT_DEBOUNCE_MS = 100
RULESET_VERSION = hashlib.sha256(
    (VERSION + ",".join(sorted(r.id for r in all_rules()))).encode()
).hexdigest()[:12]
SOURCE_GLOB = "**/*.{ts,tsx,mts,cts,js,jsx,mjs,cjs}"
CONFIG_GLOB = "**/{wrangler.toml,wrangler.json,wrangler.jsonc}"
SETTINGS_GLOB = "**/{durable-harden.jsonc,package.json}"

# editor settings that are not rule settings
EDITOR_ONLY = ("debounceMs", "debounce_ms", "maxFileBytes")

SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.INFO: lsp.DiagnosticSeverity.Information,
    Severity.HINT: lsp.DiagnosticSeverity.Hint,
}

log = logging.getLogger(__name__)

# pygls warns when a client cancels a request that has already been answered, which VS Code
# does all the time (a code action or hover superseded by the next keystroke): nothing is wrong,
# but the line shows up as an error in the editor's output channel. Only that message is dropped.
PYGLS_RPC_LOGGER = "pygls.protocol.json_rpc"


class FinishedCancelFilter(logging.Filter):
    """Drops pygls's 'Cancel notification for unknown message id' warning; keeps the rest."""

    MESSAGE = "Cancel notification for unknown message id"

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.MESSAGE))


def quiet_pygls_logs() -> None:
    """Install the filter on pygls's JSON-RPC logger (once)."""
    logger = logging.getLogger(PYGLS_RPC_LOGGER)
    if not any(isinstance(f, FinishedCancelFilter) for f in logger.filters):
        logger.addFilter(FinishedCancelFilter())


quiet_pygls_logs()


def _cap(obj: Any, *names: str) -> Any:
    """A nested client capability, or None when any step is missing."""
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


class DurableHardenServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "durable-harden", VERSION, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental
        )
        self.docs: dict[str, Document] = {}
        self.engine = Engine()
        # one worker: analyses run one at a time, in order, off the reader loop
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="durable-harden")
        self.debounce = DEFAULT_DEBOUNCE_MS / 1000
        self.editor_raw: dict[str, Any] = {}
        self.editor_settings = Settings()
        self.timers: dict[Path, asyncio.TimerHandle] = {}
        self.running: dict[Path, asyncio.Task[None]] = {}
        self.dirty: set[Path] = set()
        self.latest: dict[Path, Analysis] = {}
        # what each pulled document was last told (pull clients): a fingerprint per path
        self.delivered: dict[Path, str] = {}
        self.generation: dict[Path, int] = {}
        self.logged: set[tuple[str, str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- client capabilities -------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    @property
    def pull(self) -> bool:
        return _cap(self.client_capabilities, "text_document", "diagnostic") is not None

    @property
    def document_changes(self) -> bool:
        return bool(
            _cap(self.client_capabilities, "workspace", "workspace_edit", "document_changes")
        )

    def diag_cap(self, name: str) -> bool:
        publish = _cap(self.client_capabilities, "text_document", "publish_diagnostics")
        pull = _cap(self.client_capabilities, "text_document", "diagnostic")
        value = getattr(publish, name, None)
        if value is None and name == "related_information":
            value = getattr(pull, "related_information", None)
        return bool(value)

    # -- messages ------------------------------------------------------------------------------
    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Log) -> None:
        with contextlib.suppress(Exception):
            self.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    def log_once(self, path: Path, message: str) -> None:
        key = (str(path), message)
        if key not in self.logged:
            self.logged.add(key)
            self.log(f"{path}: {message}", lsp.MessageType.Warning)

    # -- settings ------------------------------------------------------------------------------
    def set_editor_settings(self, raw: Any) -> None:
        if isinstance(raw, dict) and isinstance(raw.get("durable-harden"), dict):
            raw = raw["durable-harden"]
        if not isinstance(raw, dict):
            raw = {}
        debounce = raw.get("debounceMs", raw.get("debounce_ms"))
        if isinstance(debounce, int | float) and 0 <= debounce <= 5000:
            self.debounce = debounce / 1000
        max_bytes = raw.get("maxFileBytes")
        if isinstance(max_bytes, int) and max_bytes > 0:
            self.engine.max_bytes = max_bytes
        rule_settings = {k: v for k, v in raw.items() if k not in EDITOR_ONLY}
        try:
            values, warnings = normalize(rule_settings, "editor settings")
        except SettingsError as exc:
            self.log(f"editor settings ignored: {exc}", lsp.MessageType.Warning)
            return
        for warning in warnings:
            self.log(warning, lsp.MessageType.Warning)
        self.editor_raw = raw
        self.editor_settings = apply(values)

    def settings_for(self, path: Path) -> tuple[Settings, SettingsFile | None]:
        """Editor settings overridden by the nearest settings file (file settings win)."""
        try:
            settings, found = settings_for(path, self.editor_settings)
        except SettingsError as exc:
            self.log_once(path, f"settings file ignored: {exc}")
            return self.editor_settings, None
        if found is not None:
            for warning in found.warnings:
                self.log_once(found.path, warning)
        return settings, found

    # -- documents -----------------------------------------------------------------------------
    def doc_for(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def sync_document(self, uri: str, version: int | None) -> Document | None:
        """Take pygls's current text of a document into our Document (as UTF-8 bytes)."""
        path_str = to_fs_path(uri)
        if path_str is None:
            return None
        text = self.workspace.get_text_document(uri).source
        data = text.encode("utf-8", errors="surrogatepass")
        doc = self.docs.get(uri)
        if doc is None:
            path = Path(path_str).resolve()
            doc = Document(uri, path, version, data, kind_of(path))
            self.docs[uri] = doc
        else:
            doc.update(version, data)
        return doc

    def analysed_docs(self, root: Path) -> list[Document]:
        return [
            d
            for d in self.docs.values()
            if d.kind in ("source", "config") and self.engine.root_for(d.path) == root
        ]

    def engine_forget(self, doc: Document) -> None:
        # the engine lives on the worker thread: forget there, in order with the analyses
        self.executor.submit(self.engine.forget_open, doc.path)

    def bump(self, root: Path) -> None:
        self.generation[root] = self.generation.get(root, 0) + 1

    # -- scheduling ----------------------------------------------------------------------------
    def schedule(self, root: Path, delay: float | None = None) -> None:
        loop = self.loop or asyncio.get_event_loop()
        self.loop = loop
        timer = self.timers.pop(root, None)
        if timer is not None:
            timer.cancel()
        self.timers[root] = loop.call_later(
            self.debounce if delay is None else delay, self._start, root
        )

    def _start(self, root: Path) -> None:
        self.timers.pop(root, None)
        if root in self.running:
            self.dirty.add(root)  # analysed again as soon as the running one ends
            return
        self.running[root] = asyncio.ensure_future(self._run(root))

    async def _run(self, root: Path) -> None:
        try:
            while True:
                self.dirty.discard(root)
                analysis = await self.analyze(root)
                if analysis is not None and not self.pull:
                    self.publish(analysis)
                elif analysis is not None:
                    self.refresh_if_stale(analysis)
                if root not in self.dirty:
                    break
        except Exception as exc:  # never let an analysis bug take the server down
            self.log(
                f"analysis of {root} failed: {exc}\n{traceback.format_exc()}",
                lsp.MessageType.Error,
            )
        finally:
            self.running.pop(root, None)

    def snapshot(self, root: Path) -> dict[Path, OpenInput]:
        inputs: dict[Path, OpenInput] = {}
        for doc in self.analysed_docs(root):
            settings, found = self.settings_for(doc.path)
            inputs[doc.path] = OpenInput(doc.path, doc.version, doc.data, doc.kind, settings, found)
        return inputs

    async def analyze(self, root: Path) -> Analysis | None:
        inputs = self.snapshot(root)
        if not inputs:
            return None
        loop = asyncio.get_running_loop()
        analysis = await loop.run_in_executor(self.executor, self._analyze_on_worker, root, inputs)
        for problem in analysis.problems:
            self.log_once(problem.path, problem.message)
        self.latest[root] = analysis
        return analysis

    def _analyze_on_worker(self, root: Path, inputs: dict[Path, OpenInput]) -> Analysis:
        """On the worker thread: the analysis and the diagnostics of its open documents, so
        publishing (and answering a pull) on the event loop only sends what is built here."""
        analysis = self.engine.analyze(root, inputs)
        for path in inputs:
            try:
                analysis.diagnostics[path] = self.diagnostics_for(analysis, path)
            except Exception:  # built again (and its error logged) where it is needed
                log.debug("diagnostics of %s not prebuilt", path, exc_info=True)
        return analysis

    @staticmethod
    def fingerprint(diagnostics: list[lsp.Diagnostic]) -> str:
        parts = [
            (
                d.range.start.line,
                d.range.start.character,
                d.range.end.line,
                d.range.end.character,
                d.code,
                d.message,
            )
            for d in diagnostics
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]

    def refresh_if_stale(self, analysis: Analysis) -> None:
        """Pull clients only ask again for the document they edit: when an analysis changed
        what another open document was last told (a schema or wrangler edit elsewhere), ask
        the client to pull again (`workspace/diagnostic/refresh`)."""
        if not _cap(self.client_capabilities, "workspace", "diagnostics", "refresh_support"):
            return
        for path in analysis.diagnostics:
            told = self.delivered.get(path)
            if told is not None and told != self.fingerprint(self.diagnostics_of(analysis, path)):
                with contextlib.suppress(Exception):
                    self.workspace_diagnostic_refresh(None)
                return

    def diagnostics_of(self, analysis: Analysis, path: Path) -> list[lsp.Diagnostic]:
        """The diagnostics of one document of an analysis (prebuilt on the worker)."""
        built = analysis.diagnostics.get(path)
        if built is None:
            built = analysis.diagnostics[path] = self.diagnostics_for(analysis, path)
        return list(built)

    async def current_analysis(self, doc: Document) -> Analysis | None:
        """The analysis of the document's current version (run now when the latest is older)."""
        root = self.engine.root_for(doc.path)
        for _ in range(3):
            latest = self.latest.get(root)
            if latest is not None and self._fresh(latest, doc):
                return latest
            running = self.running.get(root)
            if running is not None:
                await asyncio.shield(running)
                continue
            await self.analyze(root)
        latest = self.latest.get(root)
        return latest if latest is not None and self._fresh(latest, doc) else None

    def _fresh(self, analysis: Analysis, doc: Document) -> bool:
        """The analysis saw this document as it is now, and every other open document of its
        project too: another file's edit (a schema) changes this document's findings."""
        item = analysis.inputs.get(doc.path)
        if item is None or item.version != doc.version or item.data != doc.data:
            return False
        root = self.engine.root_for(doc.path)
        for other in self.analysed_docs(root):
            seen = analysis.inputs.get(other.path)
            if seen is None or seen.version != other.version:
                return False
        return True

    # -- diagnostics ---------------------------------------------------------------------------
    def publish(self, analysis: Analysis) -> None:
        for path, item in analysis.inputs.items():
            doc = next((d for d in self.docs.values() if d.path == path), None)
            if doc is None or doc.version != item.version or doc.data != item.data:
                continue  # closed, or changed since: a newer analysis is on its way
            diagnostics = self.diagnostics_of(analysis, path)
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(
                    uri=doc.uri, diagnostics=diagnostics, version=item.version
                )
            )

    def to_range(self, lines: LineIndex, start: int, end: int) -> lsp.Range:
        enc = self.encoding
        sl, sc = to_position(lines, start, enc)
        el, ec = to_position(lines, end, enc)
        return lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))

    def diagnostics_for(self, analysis: Analysis, path: Path) -> list[lsp.Diagnostic]:
        lines = analysis.lines_of(path)
        if lines is None:
            return []
        related_ok = self.diag_cap("related_information")
        href_ok = self.diag_cap("code_description_support") or not self.client_capabilities
        tags_ok = _cap(
            self.client_capabilities, "text_document", "publish_diagnostics", "tag_support"
        )
        version = analysis.version_of(path)
        out: list[lsp.Diagnostic] = []
        for finding in analysis.findings.get(path, []):
            rule = rule_by_id(finding.rule_id)
            related = None
            if related_ok and finding.related:
                related = []
                for item in finding.related:
                    other = analysis.lines_of(item.span.path)
                    if other is None:
                        continue
                    related.append(
                        lsp.DiagnosticRelatedInformation(
                            location=lsp.Location(
                                uri=from_fs_path(str(item.span.path)) or "",
                                range=self.to_range(other, item.span.start, item.span.end),
                            ),
                            message=item.message,
                        )
                    )
            out.append(
                lsp.Diagnostic(
                    range=self.to_range(lines, finding.span.start, finding.span.end),
                    message=finding.message,
                    severity=SEVERITY[finding.severity],
                    code=finding.rule_id,
                    code_description=lsp.CodeDescription(href=rule.url)
                    if rule is not None and href_ok
                    else None,
                    source=SOURCE,
                    related_information=related,
                    tags=[lsp.DiagnosticTag.Unnecessary]
                    if tags_ok and finding.rule_id == "unused-suppression"
                    else None,
                    data={
                        "rule": finding.rule_id,
                        "version": version,
                        "span": [finding.span.start, finding.span.end],
                        "finding": finding.data,
                    },  # what a code action needs to find the finding again (fixes are built
                    # then, from the current analysis); absent data is matched by range and code
                )
            )
        return out

    def result_id(self, doc: Document) -> str:
        settings, found = self.settings_for(doc.path)
        root = self.engine.root_for(doc.path)
        digest = hashlib.sha256()
        digest.update(doc.data)
        digest.update(repr(settings).encode())
        digest.update(str(found.path if found else "").encode())
        digest.update(RULESET_VERSION.encode())
        digest.update(str(self.generation.get(root, 0)).encode())
        digest.update(self.encoding.encode())
        # other files change this document's findings too (a schema elsewhere): the id also
        # carries what the latest analysis says of it, so a re-pull after a refresh sees it
        latest = self.latest.get(root)
        if latest is not None and doc.path in latest.inputs:
            digest.update(self.fingerprint(self.diagnostics_of(latest, doc.path)).encode())
        return digest.hexdigest()[:24]

    # -- code actions --------------------------------------------------------------------------
    def match_findings(
        self, analysis: Analysis, doc: Document, diagnostics: list[lsp.Diagnostic]
    ) -> list[Finding]:
        findings = analysis.findings.get(doc.path, [])
        matched: list[Finding] = []
        for diag in diagnostics:
            if diag.source not in (None, SOURCE):
                continue
            data = diag.data if isinstance(diag.data, dict) else None
            if data is not None and "span" in data:
                if data.get("version") != doc.version:
                    continue  # computed for another version of the text: refuse
                start, end = data["span"]
                rule_id = data.get("rule")
            else:
                enc = self.encoding
                start = to_offset(doc.lines, diag.range.start.line, diag.range.start.character, enc)
                end = to_offset(doc.lines, diag.range.end.line, diag.range.end.character, enc)
                rule_id = str(diag.code) if diag.code is not None else None
            for finding in findings:
                if (
                    finding.rule_id == rule_id
                    and finding.span.start == start
                    and finding.span.end == end
                    and finding not in matched
                ):
                    matched.append(finding)
                    break
        return matched

    @staticmethod
    def edited_lines(analysis: Analysis, path: Path, doc: Document | None) -> LineIndex | None:
        """The text a fix's edits apply to: what the analysis saw, or for a file outside the
        model that a fix edits (package.json) and no editor has open, the file on disk."""
        lines = analysis.lines_of(path)
        if lines is None and doc is None:
            try:
                lines = LineIndex(path.read_bytes())
            except OSError:
                return None
        return lines

    def workspace_edit(
        self, analysis: Analysis, edits: list[Edit], fix: Fix | None = None
    ) -> lsp.WorkspaceEdit | None:
        by_path: dict[Path, list[Edit]] = {}
        for edit in edits:
            by_path.setdefault(edit.path, []).append(edit)
        creates = fix.creates if fix is not None else []
        resource_ops = _cap(
            self.client_capabilities, "workspace", "workspace_edit", "resource_operations"
        )
        if creates and not (self.document_changes and resource_ops and "create" in resource_ops):
            return None  # the client cannot create files: do not offer half a fix
        changes: dict[str, list[lsp.TextEdit]] = {}
        document_changes: list[Any] = []
        for path, file_edits in by_path.items():
            doc = next((d for d in self.docs.values() if d.path == path), None)
            lines = self.edited_lines(analysis, path, doc)
            if lines is None:
                return None
            if doc is not None and doc.data != lines.data:
                return None  # the open buffer moved on: the offsets no longer fit
            uri = from_fs_path(str(path)) or ""
            text_edits = [
                lsp.TextEdit(range=self.to_range(lines, e.start, e.end), new_text=e.new_text)
                for e in sorted(file_edits, key=lambda e: (e.start, e.end))
            ]
            changes[uri] = text_edits
            document_changes.append(
                lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=doc.version if doc is not None else None
                    ),
                    edits=list(text_edits),
                )
            )
        if not self.document_changes:
            return lsp.WorkspaceEdit(changes=changes)
        for new in creates:
            uri = from_fs_path(str(new.path)) or ""
            document_changes.append(
                lsp.CreateFile(uri=uri, options=lsp.CreateFileOptions(ignore_if_exists=True))
            )
            document_changes.append(
                lsp.TextDocumentEdit(
                    text_document=lsp.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=None
                    ),
                    edits=[
                        lsp.TextEdit(
                            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                            new_text=new.content,
                        )
                    ],
                )
            )
        return lsp.WorkspaceEdit(document_changes=document_changes)

    def fix_all_edits(self, analysis: Analysis, doc: Document) -> list[Edit]:
        """Every safe fix (and unsafe ones when `unsafeFixes` is on) that does not overlap an
        earlier one; a fix whose edits would collide waits for the next fix-all."""
        item = analysis.inputs.get(doc.path)
        unsafe = item.settings.unsafe_fixes if item is not None else False
        taken: dict[Path, list[tuple[int, int]]] = {}
        chosen: list[Edit] = []
        for finding in analysis.findings.get(doc.path, []):
            for fix in analysis.fixes_of(finding):
                if fix.creates or not (fix.is_safe or unsafe):
                    continue
                if any(
                    _overlaps((edit.start, edit.end), other)
                    for edit in fix.edits
                    for other in taken.get(edit.path, [])
                ):
                    continue
                for edit in fix.edits:
                    taken.setdefault(edit.path, []).append((edit.start, edit.end))
                chosen.extend(fix.edits)
                break  # one fix per finding
        # check each file's edits really apply (no overlap, inside the file)
        for path in {e.path for e in chosen}:
            lines = self.edited_lines(analysis, path, None)
            try:
                apply_edits(lines.data if lines else b"", [e for e in chosen if e.path == path])
            except OverlappingEdits:
                return []
        return chosen

    def code_actions(
        self, analysis: Analysis, doc: Document, params: lsp.CodeActionParams
    ) -> list[lsp.CodeAction]:
        only = params.context.only or []

        def wanted(kind: str) -> bool:
            return not only or any(kind == k or kind.startswith(f"{k}.") for k in only)

        actions: list[lsp.CodeAction] = []
        data = doc.data
        if wanted(lsp.CodeActionKind.QuickFix):
            findings = self.match_findings(analysis, doc, list(params.context.diagnostics))
            for finding in findings:
                diagnostic = self._diagnostic_for(finding, params.context.diagnostics)
                diags = [diagnostic] if diagnostic is not None else None
                fixes = analysis.fixes_of(finding)
                if finding.rule_id != "unused-suppression":
                    fixes.append(disable_for_line(finding, data, doc.lines))
                    fixes.append(disable_for_file(finding, data, doc.lines))
                for fix in fixes:
                    edit = self.workspace_edit(analysis, fix.edits, fix)
                    if edit is None:
                        continue
                    builtin = fix.fix_id.startswith("disable-")
                    title = fix.title if fix.is_safe else f"{fix.title} (unsafe)"
                    actions.append(
                        lsp.CodeAction(
                            title=title,
                            kind=lsp.CodeActionKind.QuickFix,
                            diagnostics=diags,
                            edit=edit,
                            is_preferred=True if fix.is_safe and not builtin else None,
                        )
                    )
        if wanted(FIX_ALL_KIND) and (only or params.context.diagnostics):
            edits = self.fix_all_edits(analysis, doc)
            if edits:
                edit = self.workspace_edit(analysis, edits)
                if edit is not None:
                    actions.append(
                        lsp.CodeAction(
                            title="durable-harden: fix all safe problems in this file",
                            kind=FIX_ALL_KIND,
                            edit=edit,
                        )
                    )
        return actions

    def _diagnostic_for(
        self, finding: Finding, diagnostics: list[lsp.Diagnostic]
    ) -> lsp.Diagnostic | None:
        for diag in diagnostics:
            if str(diag.code) == finding.rule_id:
                data = diag.data if isinstance(diag.data, dict) else {}
                if not data or data.get("span") == [finding.span.start, finding.span.end]:
                    return diag
        return None

    # -- hover ---------------------------------------------------------------------------------
    def hover(self, analysis: Analysis | None, doc: Document, offset: int) -> str | None:
        if analysis is not None:
            for supp in analysis.suppressions.get(doc.path, []):
                if supp.start <= offset <= supp.end:
                    parts = [
                        rule.markdown()
                        for rule_id in supp.rules
                        if (rule := rule_by_id(rule_id)) is not None
                    ]
                    if parts:
                        return "\n\n---\n\n".join(parts)
            for finding in analysis.findings.get(doc.path, []):
                if finding.span.start <= offset <= finding.span.end:
                    rule = rule_by_id(finding.rule_id)
                    if rule is not None:
                        return rule.markdown()
        return None


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two byte ranges that touch the same text (two insertions at one point do too)."""
    if a[0] == a[1] == b[0] == b[1]:
        return True
    return a[0] < b[1] and b[0] < a[1]


server = DurableHardenServer()
register_harden(server)  # workspace command durable-harden.hardenAll (server/lsp_harden.py)


def _guard(fn: Any) -> Any:
    """Errors in a notification handler go to window/logMessage, never crash the server."""
    import functools

    if asyncio.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def wrapped_async(ls: DurableHardenServer, params: Any) -> Any:
            try:
                return await fn(ls, params)
            except Exception as exc:
                ls.log(
                    f"{fn.__name__} failed: {exc}\n{traceback.format_exc()}", lsp.MessageType.Error
                )
                return None

        return wrapped_async

    @functools.wraps(fn)
    def wrapped(ls: DurableHardenServer, params: Any) -> Any:
        try:
            return fn(ls, params)
        except Exception as exc:
            ls.log(f"{fn.__name__} failed: {exc}\n{traceback.format_exc()}", lsp.MessageType.Error)
            return None

    return wrapped


@server.feature(lsp.INITIALIZE)
@_guard
def on_initialize(ls: DurableHardenServer, params: lsp.InitializeParams) -> None:
    ls.set_editor_settings(params.initialization_options or {})


@server.feature(lsp.INITIALIZED)
@_guard
async def on_initialized(ls: DurableHardenServer, params: lsp.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop()
    caps = ls.client_capabilities
    if _cap(caps, "workspace", "configuration"):
        try:
            values = await ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="durable-harden")])
            )
            if values and isinstance(values[0], dict) and values[0]:
                ls.set_editor_settings(values[0])
        except Exception as exc:
            ls.log(f"workspace/configuration failed: {exc}", lsp.MessageType.Warning)
    if _cap(caps, "workspace", "did_change_watched_files", "dynamic_registration"):
        watchers = [
            lsp.FileSystemWatcher(glob_pattern=g) for g in (SOURCE_GLOB, CONFIG_GLOB, SETTINGS_GLOB)
        ]
        try:
            await ls.client_register_capability_async(
                lsp.RegistrationParams(
                    registrations=[
                        lsp.Registration(
                            id="durable-harden-watch",
                            method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=lsp.DidChangeWatchedFilesRegistrationOptions(
                                watchers=watchers
                            ),
                        )
                    ]
                )
            )
        except Exception as exc:
            ls.log(f"could not register file watchers: {exc}", lsp.MessageType.Warning)
    await index_workspace(ls)


async def index_workspace(ls: DurableHardenServer) -> None:
    folders = [f for f in ls.workspace.folders.values()]
    paths = [Path(p) for f in folders if (p := to_fs_path(f.uri))]
    if not paths and ls.workspace.root_path:
        paths = [Path(ls.workspace.root_path)]
    if not paths:
        return
    token: str | None = None
    if _cap(ls.client_capabilities, "window", "work_done_progress"):
        token = "durable-harden-index"
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(
                token,
                lsp.WorkDoneProgressBegin(title="durable-harden: indexing", percentage=0),
            )
        except Exception:
            token = None
    loop = asyncio.get_running_loop()
    total = 0
    for number, folder in enumerate(paths):
        if token is not None:
            ls.work_done_progress.report(
                token,
                lsp.WorkDoneProgressReport(
                    message=str(folder.name), percentage=int(100 * number / len(paths))
                ),
            )
        total += await loop.run_in_executor(ls.executor, ls.engine.index, folder.resolve(), None)
    if token is not None:
        ls.work_done_progress.end(
            token, lsp.WorkDoneProgressEnd(message=f"{total} source files indexed")
        )


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@_guard
def did_open(ls: DurableHardenServer, params: lsp.DidOpenTextDocumentParams) -> None:
    doc = ls.sync_document(params.text_document.uri, params.text_document.version)
    if doc is None or doc.kind not in ("source", "config"):
        return
    root = ls.engine.root_for(doc.path)
    ls.bump(root)
    ls.schedule(root, 0)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@_guard
def did_change(ls: DurableHardenServer, params: lsp.DidChangeTextDocumentParams) -> None:
    doc = ls.sync_document(params.text_document.uri, params.text_document.version)
    if doc is None or doc.kind not in ("source", "config"):
        return
    root = ls.engine.root_for(doc.path)
    ls.bump(root)
    ls.schedule(root)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@_guard
def did_save(ls: DurableHardenServer, params: lsp.DidSaveTextDocumentParams) -> None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is not None and doc.kind == "settings":
        forget(doc.path)
        relint_all(ls)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@_guard
def did_close(ls: DurableHardenServer, params: lsp.DidCloseTextDocumentParams) -> None:
    doc = ls.docs.pop(params.text_document.uri, None)
    if doc is None:
        return
    ls.delivered.pop(doc.path, None)
    ls.engine_forget(doc)
    if doc.kind in ("source", "config"):
        root = ls.engine.root_for(doc.path)
        ls.bump(root)
        if not ls.pull:
            ls.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=[])
            )
        if ls.analysed_docs(root):
            ls.schedule(root)


def relint_all(ls: DurableHardenServer) -> None:
    roots = {ls.engine.root_for(d.path) for d in ls.docs.values() if d.kind in ("source", "config")}
    for root in roots:
        ls.bump(root)
        ls.schedule(root, 0)
    if ls.pull and _cap(ls.client_capabilities, "workspace", "diagnostics", "refresh_support"):
        with contextlib.suppress(Exception):
            ls.workspace_diagnostic_refresh(None)


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
@_guard
def did_change_watched_files(
    ls: DurableHardenServer, params: lsp.DidChangeWatchedFilesParams
) -> None:
    layout = False
    for change in params.changes:
        path_str = to_fs_path(change.uri)
        if path_str is None:
            continue
        path = Path(path_str)
        if path.name in (SETTINGS_FILE, PACKAGE_JSON):
            forget(path.resolve())
            forget(path)
        if path.name in CONFIG_NAMES or change.type != lsp.FileChangeType.Changed:
            layout = True
    if layout:
        ls.executor.submit(ls.engine.forget_layout)
    relint_all(ls)


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
@_guard
async def did_change_configuration(
    ls: DurableHardenServer, params: lsp.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if _cap(ls.client_capabilities, "workspace", "configuration"):
        with contextlib.suppress(Exception):
            values = await ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="durable-harden")])
            )
            settings = values[0] if values else settings
    ls.set_editor_settings(settings or {})
    relint_all(ls)


@server.feature(
    lsp.TEXT_DOCUMENT_DIAGNOSTIC,
    lsp.DiagnosticOptions(
        identifier=SOURCE, inter_file_dependencies=True, workspace_diagnostics=False
    ),
)
async def pull_diagnostics(
    ls: DurableHardenServer, params: lsp.DocumentDiagnosticParams
) -> lsp.DocumentDiagnosticReport:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return lsp.RelatedFullDocumentDiagnosticReport(items=[])
    root = ls.engine.root_for(doc.path)
    latest = ls.latest.get(root)
    if (
        params.previous_result_id == ls.result_id(doc)
        and latest is not None
        and ls._fresh(latest, doc)
    ):
        return lsp.RelatedUnchangedDocumentDiagnosticReport(result_id=params.previous_result_id)
    analysis = await ls.current_analysis(doc)
    if analysis is None:
        return lsp.RelatedFullDocumentDiagnosticReport(items=[])
    items = ls.diagnostics_of(analysis, doc.path)
    ls.delivered[doc.path] = ls.fingerprint(items)
    result_id = ls.result_id(doc)  # after the analysis: it names what we answer with
    if params.previous_result_id == result_id:
        return lsp.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
    return lsp.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION,
    lsp.CodeActionOptions(
        code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL_KIND, HARDEN_KIND],
        resolve_provider=False,
    ),
)
async def code_action(
    ls: DurableHardenServer, params: lsp.CodeActionParams
) -> list[lsp.CodeAction] | None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return None
    version = doc.version
    analysis = await ls.current_analysis(doc)
    if analysis is None or doc.version != version:
        return None  # the text changed while we looked: the client asks again
    return [*ls.code_actions(analysis, doc, params), *harden_code_actions(ls, doc, params)]


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
async def hover(ls: DurableHardenServer, params: lsp.HoverParams) -> lsp.Hover | None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return None
    offset = to_offset(doc.lines, params.position.line, params.position.character, ls.encoding)
    analysis = await ls.current_analysis(doc)
    text = ls.hover(analysis, doc, offset)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


@server.feature(lsp.SHUTDOWN)
def on_shutdown(ls: DurableHardenServer, params: Any) -> None:
    for timer in ls.timers.values():
        timer.cancel()
    ls.executor.shutdown(wait=False, cancel_futures=True)


def start(tcp: str | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


__all__ = ["DurableHardenServer", "server", "start"]
