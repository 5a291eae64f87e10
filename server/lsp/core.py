"""The durable-harden language server's core (pygls 2.x): state, settings, scheduling.

Flow: the documents feature (server/lsp/documents.py) applies each didChange to the server's own
copy of the text (protocol line semantics), and marks the project dirty; after a short
per-project debounce a snapshot of every open document of that project goes to the analysis
engine (server/lsp/engine.py), which runs on one worker thread so the reader loop stays
responsive. Results go to the listeners the features registered (the diagnostics feature
publishes them) only when every document still has the version that was analysed: a result for
an old version is dropped, never shown. Code actions, fix-all and hover reuse the latest
analysis of the current version (`current_analysis`, recomputed when it is older).

The features register their handlers in one place (server/lsp/__init__.py); this module imports
none of them. initialize and shutdown are handled here; settings and watched files in
server/lsp/workspace.py; `exit` by pygls (its exit code: server/lsp/__init__.py `start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from durable_harden.analyzers.analysis import Settings
from durable_harden.analyzers.rules import all_rules
from durable_harden.analyzers.settings_file import (
    SettingsError,
    SettingsFile,
    SettingsLookup,
    apply,
    normalize,
    settings_for,
)
from durable_harden.server.documents import Document
from durable_harden.server.lsp.collector import Collector
from durable_harden.server.lsp.convert import ClientCaps, diagnostics_for
from durable_harden.server.lsp.engine import Analysis, Engine, OpenInput
from durable_harden.server.lsp.transport import Protocol, start_io

VERSION = "0.1.0"
SOURCE = "durable-harden"
DEFAULT_DEBOUNCE_MS = 100
RULESET_VERSION = hashlib.sha256(
    (VERSION + ",".join(sorted(r.id for r in all_rules()))).encode()
).hexdigest()[:12]

# editor settings that are not rule settings
EDITOR_ONLY = ("debounceMs", "debounce_ms", "maxFileBytes")

# messages already logged, per path: bounded (an old entry is forgotten first)
MAX_LOGGED = 512

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


def message_kind(message: str) -> str:
    """A message with its numbers blanked: 'not valid UTF-8 (byte 0xed at offset 21)' is the
    same warning at offset 22 (the next keystroke), logged once per document."""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "#", message)


class DurableHardenServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "durable-harden",
            VERSION,
            text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
            protocol_cls=Protocol,
        )
        self.docs: dict[str, Document] = {}
        self.engine = Engine()
        # one worker: analyses run one at a time, in order, off the reader loop
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="durable-harden")
        # garbage collected when idle, not during a keystroke (server/lsp/collector.py)
        self.collector = Collector(self.executor, lambda: bool(self.running or self.timers))
        self.debounce = DEFAULT_DEBOUNCE_MS / 1000
        self.editor_raw: dict[str, Any] = {}
        self.editor_settings = Settings()
        # resource-scoped settings: what `workspace/configuration` answers for each folder
        # (scopeUri), when it differs from the global answer; the deepest folder of a file wins
        self.folder_settings: dict[Path, Settings] = {}
        # each document's settings file, kept and re-checked by stat (asked on every keystroke)
        self.settings_lookup = SettingsLookup()
        self.timers: dict[Path, asyncio.TimerHandle] = {}
        self.running: dict[Path, asyncio.Task[None]] = {}
        self.dirty: set[Path] = set()
        self.latest: dict[Path, Analysis] = {}
        # what each pulled document was last told (pull clients): a fingerprint per path
        self.delivered: dict[Path, str] = {}
        self.generation: dict[Path, int] = {}
        self.logged: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None
        # called on the event loop with each finished analysis (the diagnostics feature)
        self.analysis_listeners: list[Callable[[Analysis], None]] = []
        self._caps: tuple[Any, str, ClientCaps] | None = None

    # -- client capabilities -------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    @property
    def caps(self) -> ClientCaps:
        """The client's capabilities as the features use them (read once per session)."""
        raw = self.client_capabilities
        try:
            encoding = self.encoding
        except Exception:  # not initialized yet: no workspace, no negotiated encoding
            encoding = "utf-16"
        if self._caps is None or self._caps[0] is not raw or self._caps[1] != encoding:
            self._caps = (raw, encoding, ClientCaps.of(raw, encoding))
        return self._caps[2]

    @property
    def pull(self) -> bool:
        return self.caps.pull

    # -- messages ------------------------------------------------------------------------------
    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Log) -> None:
        with contextlib.suppress(Exception):
            self.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    def log_once(self, path: Path, message: str) -> None:
        """A warning about a file, once per file and kind of message (not per keystroke)."""
        key = (str(path), message_kind(message))
        if key in self.logged:
            return
        self.logged[key] = None
        while len(self.logged) > MAX_LOGGED:
            self.logged.popitem(last=False)
        self.log(f"{path}: {message}", lsp.MessageType.Warning)

    def forget_logged(self, path: Path) -> None:
        """A closed document may warn again when it is opened again."""
        for key in [k for k in self.logged if k[0] == str(path)]:
            del self.logged[key]

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
        settings = self._rule_settings(raw, "editor settings")
        if settings is None:
            return
        self.editor_raw = raw
        self.editor_settings = settings

    def _rule_settings(self, raw: dict[str, Any], where: str) -> Settings | None:
        """The rule settings of one `durable-harden` section (None, said once, when invalid)."""
        rule_settings = {k: v for k, v in raw.items() if k not in EDITOR_ONLY}
        try:
            values, warnings = normalize(rule_settings, where)
        except SettingsError as exc:
            self.log(f"{where} ignored: {exc}", lsp.MessageType.Warning)
            return None
        for warning in warnings:
            self.log(warning, lsp.MessageType.Warning)
        return apply(values)

    def set_folder_settings(self, answers: dict[Path, Any]) -> None:
        """Each workspace folder's own answer to `workspace/configuration` (scopeUri): kept
        where it differs from the global one (VS Code's resource-scoped settings)."""
        folders: dict[Path, Settings] = {}
        for folder, raw in answers.items():
            if isinstance(raw, dict) and isinstance(raw.get("durable-harden"), dict):
                raw = raw["durable-harden"]
            if not isinstance(raw, dict) or raw == self.editor_raw:
                continue
            settings = self._rule_settings(raw, f"editor settings of folder {folder}")
            if settings is not None:
                folders[folder] = settings
        self.folder_settings = folders

    def base_settings(self, path: Path) -> Settings:
        """The editor settings that apply to a file: its deepest folder's, else the global."""
        best: Path | None = None
        for folder in self.folder_settings:
            if (folder == path or folder in path.parents) and (
                best is None or len(folder.parts) > len(best.parts)
            ):
                best = folder
        return self.folder_settings[best] if best is not None else self.editor_settings

    def settings_for(self, path: Path) -> tuple[Settings, SettingsFile | None]:
        """Editor settings (the file's folder's, else the global ones) overridden by the
        nearest settings file (file settings win)."""
        base = self.base_settings(path)
        try:
            settings, found = settings_for(path, base, lookup=self.settings_lookup)
        except SettingsError as exc:
            self.log_once(path, f"settings file ignored: {exc}")
            return base, None
        if found is not None:
            for warning in found.warnings:
                self.log_once(found.path, warning)
        return settings, found

    async def read_editor_settings(self) -> Any:
        """The `durable-harden` section of the client's configuration (None when it has none)."""
        if not self.caps.configuration:
            return None
        values = await self.workspace_configuration_async(
            lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="durable-harden")])
        )
        return values[0] if values else None

    async def read_folder_settings(self) -> None:
        """Ask for each workspace folder's own `durable-harden` section (scopeUri)."""
        folders = self.folders()
        if not self.caps.configuration or not folders:
            return
        values = await self.workspace_configuration_async(
            lsp.ConfigurationParams(
                items=[
                    lsp.ConfigurationItem(scope_uri=f.as_uri(), section="durable-harden")
                    for f in folders
                ]
            )
        )
        self.set_folder_settings(dict(zip(folders, values or [], strict=False)))

    # -- documents -----------------------------------------------------------------------------
    def doc_for(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def doc_at(self, path: Path) -> Document | None:
        return next((d for d in self.docs.values() if d.path == path), None)

    def folders(self) -> list[Path]:
        """The workspace folders (resolved), or the root path of a client without folders."""
        paths = [
            Path(p).resolve() for f in self.workspace.folders.values() if (p := to_fs_path(f.uri))
        ]
        if not paths and self.workspace.root_path:
            paths = [Path(self.workspace.root_path).resolve()]
        return paths

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
                if analysis is not None:
                    for listener in self.analysis_listeners:
                        listener(analysis)
                    # the diagnostics are out: what the analysis replaced is freed on the
                    # analysis thread, before the next one (RuntimeError: shutting down)
                    with contextlib.suppress(RuntimeError):
                        self.executor.submit(self.engine.release)
                if root not in self.dirty:
                    break
            self.collector.analysed(asyncio.get_running_loop())
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
            lines = doc._lines if doc._lines is not None and doc._lines.data is doc.data else None
            inputs[doc.path] = OpenInput(
                doc.path, doc.version, doc.data, doc.kind, settings, found, lines
            )
        return inputs

    async def analyze(self, root: Path) -> Analysis | None:
        inputs = self.snapshot(root)
        if not inputs:
            self.latest.pop(root, None)
            return None
        loop = asyncio.get_running_loop()
        caps = self.caps
        try:
            analysis = await loop.run_in_executor(
                self.executor, self._analyze_on_worker, root, inputs, caps
            )
        except Exception as exc:  # an analyzer bug: said once, and the server keeps serving
            log.warning("analysis of %s failed", root, exc_info=True)
            self.log_once(
                root,
                f"analysis failed, no diagnostics for this project until its text changes: "
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
            )
            return None
        for problem in analysis.problems:
            self.log_once(problem.path, problem.message)
        self.latest[root] = analysis
        return analysis

    def _analyze_on_worker(
        self, root: Path, inputs: dict[Path, OpenInput], caps: ClientCaps
    ) -> Analysis:
        """On the worker thread: the analysis and the diagnostics of its open documents, so
        publishing (and answering a pull) on the event loop only sends what is built here."""
        self.collector.before_analysis()
        analysis = self.engine.analyze(root, inputs)
        for path in inputs:
            try:
                analysis.diagnostics[path] = diagnostics_for(analysis, path, caps)
            except Exception:  # built again (and its error logged) where it is needed
                log.debug("diagnostics of %s not prebuilt", path, exc_info=True)
        return analysis

    def diagnostics_of(self, analysis: Analysis, path: Path) -> list[lsp.Diagnostic]:
        """The diagnostics of one document of an analysis (prebuilt on the worker)."""
        built = analysis.diagnostics.get(path)
        if built is None:
            built = analysis.diagnostics[path] = diagnostics_for(analysis, path, self.caps)
        return list(built)

    async def current_analysis(self, doc: Document) -> Analysis | None:
        """The analysis of the document's current version (run now when the latest is older)."""
        root = self.engine.root_for(doc.path)
        for _ in range(3):
            latest = self.latest.get(root)
            if latest is not None and self.fresh(latest, doc):
                return latest
            running = self.running.get(root)
            if running is not None:
                await asyncio.shield(running)
                continue
            await self.analyze(root)
        latest = self.latest.get(root)
        return latest if latest is not None and self.fresh(latest, doc) else None

    def fresh(self, analysis: Analysis, doc: Document) -> bool:
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

    def relint_all(self) -> None:
        roots = {
            self.engine.root_for(d.path)
            for d in self.docs.values()
            if d.kind in ("source", "config")
        }
        for root in roots:
            self.bump(root)
            self.schedule(root, 0)
        if self.pull and self.caps.diagnostic_refresh:
            with contextlib.suppress(Exception):
                self.workspace_diagnostic_refresh(None)

    # -- transport -----------------------------------------------------------------------------
    def start_stdio(self) -> None:
        start_io(self)


def guard(fn: Any) -> Any:
    """Errors in a notification handler go to window/logMessage, never crash the server."""

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


# -- lifecycle -----------------------------------------------------------------------------------
@guard
def on_initialize(ls: DurableHardenServer, params: lsp.InitializeParams) -> None:
    ls.set_editor_settings(params.initialization_options or {})


def on_shutdown(ls: DurableHardenServer, params: Any) -> None:
    for timer in ls.timers.values():
        timer.cancel()
    ls.executor.shutdown(wait=False, cancel_futures=True)


def debug_state(ls: DurableHardenServer, params: Any) -> dict[str, int]:
    """`durable-harden/debugState`: the size of everything the server keeps between messages
    (for tests and bug reports: none of it may grow with the number of edits)."""
    engine = ls.engine
    protocol: Any = ls.protocol
    return {
        "docs": len(ls.docs),
        "logged": len(ls.logged),
        "latest": len(ls.latest),
        "generation": len(ls.generation),
        "delivered": len(ls.delivered),
        "timers": len(ls.timers),
        "running": len(ls.running),
        "engine.disk": len(engine.disk),
        "engine.disk_dirty": len(engine.disk_dirty),
        "engine.disk_checked": len(engine.disk_checked),
        "engine.watched": int(engine.watched),
        "engine.open": len(engine.open_parsed),
        "engine.superseded": len(engine.superseded),
        "engine.discovered": len(engine.discovered),
        "engine.roots": len(engine.roots),
        "engine.rules": len(engine.rules.memo),
        "fixes": sum(len(a._fixes) for a in ls.latest.values()),
        "requests": len(protocol._request_futures),
        "result_types": len(protocol._result_types),
        "progress_tokens": len(ls.work_done_progress.tokens),
        "work_done_tokens": len(getattr(protocol, "work_done_tokens", {})),
    }


def register(server: DurableHardenServer) -> None:
    server.feature(lsp.INITIALIZE)(on_initialize)
    server.feature("durable-harden/debugState")(debug_state)
    server.feature(lsp.SHUTDOWN)(on_shutdown)


__all__ = [
    "DEFAULT_DEBOUNCE_MS",
    "EDITOR_ONLY",
    "PYGLS_RPC_LOGGER",
    "VERSION",
    "DurableHardenServer",
    "FinishedCancelFilter",
    "guard",
    "quiet_pygls_logs",
    "register",
]
