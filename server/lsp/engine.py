"""The language server's analysis engine: caches and one analysis per project root.

Runs on a single worker thread (the server's analysis executor), so its caches need no locks.
No pygls import: the engine speaks paths, bytes and findings.

- Parsed files from disk are cached by (path, mtime, size): a keystroke re-reads nothing.
  While the client watches the files (`watched`: the server registered
  didChangeWatchedFiles), a closed file is not even stat'ed on every analysis: only the
  files its events name (`disk_changed`), the files the server closed or wrote, and every
  file once each `DISK_RECHECK_S` seconds (the events' safety net).
- Open documents are re-parsed incrementally from their previous tree (analyzers.source.reparse).
- The file list of each project root is discovered once and dropped when files appear or vanish.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_harden.analyzers.analysis import (
    UNUSED_SUPPRESSION,
    Settings,
    analyse_within_budget,
    finish_findings,
)
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.incremental import IncrementalRules, RerunCache, fresh_state
from durable_harden.analyzers.model import Problem, ProjectModel
from durable_harden.analyzers.roots import context_root
from durable_harden.analyzers.rules import all_rules
from durable_harden.analyzers.settings_file import SettingsFile
from durable_harden.analyzers.source import (
    LineIndex,
    SourceError,
    SourceFile,
    parse_source,
    reparse,
)
from durable_harden.analyzers.suppressions import Suppression, parse_suppressions
from durable_harden.analyzers.workspace import Discovery, discover
from durable_harden.analyzers.wrangler import is_config_name
from durable_harden.codeactions import Fix, fixes_for
from durable_harden.codeactions.editcore import why_not_alone


@dataclass
class OpenInput:
    """One open document as the analysis sees it: a snapshot of its version and bytes."""

    path: Path
    version: int | None
    data: bytes
    kind: str  # "source" | "config"
    settings: Settings
    settings_file: SettingsFile | None
    # the document's line index of these bytes, when the server has it (the re-parse then
    # needs not shift its own: ~5,000 line starts a keystroke at 5,000 lines)
    lines: LineIndex | None = None


@dataclass(eq=False)
class Analysis:
    root: Path
    inputs: dict[Path, OpenInput]
    model: ProjectModel
    findings: dict[Path, list[Finding]]
    suppressions: dict[Path, list[Suppression]]
    problems: list[Problem]
    seconds: float
    _lines: dict[Path, LineIndex] = field(default_factory=dict)
    # the server's diagnostics per open document, built on the worker right after the analysis
    # (server.lsp; typed Any here so the engine stays free of pygls/lsprotocol)
    diagnostics: dict[Path, list[Any]] = field(default_factory=dict)
    # each finding's fixes, built the first time a code action or fix-all asks (by identity)
    _fixes: dict[int, tuple[Finding, list[Fix]]] = field(default_factory=dict)
    # why a fix cannot be applied alone (None: it can), checked once per fix (by identity)
    _refusals: dict[int, tuple[Fix, str | None]] = field(default_factory=dict)
    # whole-class rule runs that give reused findings their state back (`fresh_state`)
    _reruns: RerunCache = field(default_factory=dict)

    def fixes_of(self, finding: Finding) -> list[Fix]:
        """The fixes of one of this analysis's findings, built once per analysis (a copy)."""
        cached = self._fixes.get(id(finding))
        if cached is None or cached[0] is not finding:
            # a finding reused from an earlier analysis holds no nodes of this tree: its rule
            # runs again on its class (analyzers/incremental.py, "below the class")
            current = fresh_state(finding, self.model, self._reruns)
            cached = (finding, fixes_for(current, self.model))
            self._fixes[id(finding)] = cached
        return list(cached[1])

    def refusal_of(self, finding: Finding, fix: Fix) -> str | None:
        """Why the edit core would not apply this fix of one of this analysis's findings on its
        own (`editcore.why_not_alone`: edits outside the file, a file it would break), or None;
        checked once per analysis."""
        cached = self._refusals.get(id(fix))
        if cached is None or cached[0] is not fix:
            cached = (fix, why_not_alone(finding, fix, self.read))
            self._refusals[id(fix)] = cached
        return cached[1]

    def read(self, path: Path) -> bytes | None:
        """The bytes a fix's edits apply to: what the analysis saw, else the file on disk (a
        file outside the model that a fix edits, such as package.json)."""
        data = self.data_of(path)
        if data is not None:
            return data
        try:
            return path.read_bytes()
        except OSError:
            return None

    def version_of(self, path: Path) -> int | None:
        item = self.inputs.get(path)
        return item.version if item is not None else None

    def data_of(self, path: Path) -> bytes | None:
        """The bytes the analysis saw for a file (open buffer, parsed file or config)."""
        if path in self.inputs:
            return self.inputs[path].data
        source = next((f for f in self.model.files if f.path == path), None)
        if source is not None:
            return source.data
        config = next((c for c in self.model.configs if c.path == path), None)
        return config.data if config is not None else None

    def lines_of(self, path: Path) -> LineIndex | None:
        lines = self._lines.get(path)
        if lines is None:
            data = self.data_of(path)
            if data is None:
                return None
            source = next((f for f in self.model.files if f.path == path), None)
            lines = source.lines if source is not None and source.data is data else LineIndex(data)
            self._lines[path] = lines
        return lines


# Bigger source files are left out of live analysis: the model walks every node in Python
# (a 5 MB file costs ~30 s per analysis on a 2-core machine), and a file that size is generated
# or bundled code, not a Durable Object someone edits. `durable-harden check` still reads them.
DEFAULT_MAX_LIVE_BYTES = 2 * 1024 * 1024


_SUPERSEDED_KEPT = 2  # superseded versions whose memos wait for `release`

# While the client watches the workspace's files, how long the stat of a closed file stays
# trusted without an event naming it: a full pass of stats (~2 ms a keystroke in a 1,000-file
# workspace) at most this often, so that an event the editor's watcher dropped (a folder it
# excludes, an overflow) costs at most this long a stale view.
DISK_RECHECK_S = 2.0
_DIRTY_KEPT = 4096  # paths said to have changed, kept until an analysis stats them


class Engine:
    def __init__(self) -> None:
        self.max_bytes = DEFAULT_MAX_LIVE_BYTES
        self.disk: dict[Path, tuple[int, int, SourceFile | SourceError]] = {}
        self.open_parsed: dict[Path, SourceFile] = {}
        self.discovered: dict[Path, Discovery] = {}
        self.roots: dict[Path, Path] = {}  # folder -> its context root
        # rule results of the open files, reused while their inputs are the same objects
        self.rules = IncrementalRules()
        # the last model of each root: the next one replaces only the edited files' results
        self.models: dict[Path, ProjectModel] = {}
        # versions of open files no longer used, whose memos `release` clears (parse_open)
        self.superseded: list[SourceFile] = []
        # the client watches the files (set by the server once its registration succeeded)
        self.watched = False
        self.disk_dirty: set[Path] = set()  # files to stat again whatever `watched` says
        self.disk_checked: dict[Path, float] = {}  # root -> its last full pass of stats

    # -- invalidation ----------------------------------------------------------------------
    def forget_layout(self) -> None:
        """Files appeared or vanished (or a wrangler config did): rediscover lazily."""
        self.discovered.clear()
        self.roots.clear()

    def forget_open(self, path: Path) -> None:
        self.open_parsed.pop(path, None)
        self.disk_dirty.add(path)  # saved or not, the disk's text is what counts now
        self._bound_dirty()

    def disk_changed(self, paths: list[Path]) -> None:
        """Files the client's watcher (or the server itself) says changed on disk: stat'ed
        again at the next analysis, even within a trusted pass."""
        for path in paths:
            self.disk_dirty.add(path)
            self.disk_dirty.add(path.resolve())
        self._bound_dirty()

    def _bound_dirty(self) -> None:
        # a path no analysis reads (a config, a settings file, a file of no project) stays in
        # the set: past the bound every root's next analysis stats all its files instead
        if len(self.disk_dirty) > _DIRTY_KEPT:
            self.disk_dirty.clear()
            self.disk_checked.clear()

    def root_for(self, path: Path) -> Path:
        folder = path.parent
        root = self.roots.get(folder)
        if root is None:
            root = context_root(path) if path.exists() else context_root(folder)
            self.roots[folder] = root
        return root

    # -- parsing -----------------------------------------------------------------------------
    def parse_disk(self, path: Path) -> SourceFile | SourceError:
        try:
            stat = os.stat(path)  # once per file and analysis: without Path.stat's extra call
        except OSError as exc:
            return SourceError(f"cannot read: {exc.strerror or exc}")
        if stat.st_size > self.max_bytes:
            return self.too_big(stat.st_size)
        cached = self.disk.get(path)
        if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return cached[2]
        try:
            result: SourceFile | SourceError = parse_source(path, path.read_bytes())
        except SourceError as exc:
            result = exc
        except OSError as exc:
            result = SourceError(f"cannot read: {exc.strerror or exc}")
        self.disk[path] = (stat.st_mtime_ns, stat.st_size, result)
        return result

    def too_big(self, size: int) -> SourceError:
        return SourceError(
            f"{size / 1e6:.1f} MB is over the language server's "
            f"{self.max_bytes / 1e6:.1f} MB live-analysis limit (setting `maxFileBytes`); "
            "skipped while editing (generated or bundled code?). `durable-harden check` reads it."
        )

    def parse_open(
        self, path: Path, data: bytes, lines: LineIndex | None = None
    ) -> SourceFile | SourceError:
        if len(data) > self.max_bytes:
            self.open_parsed.pop(path, None)
            return self.too_big(len(data))
        previous = self.open_parsed.get(path)
        # the version before `previous`: re-parsing forgets it (source.reparse keeps one version
        # back), and nothing of the engine uses it any more
        older = previous.memo.get("previous") if previous is not None else None
        try:
            parsed = (
                reparse(previous, data, lines) if previous is not None else parse_source(path, data)
            )
        except SourceError as exc:
            self.open_parsed.pop(path, None)
            return exc
        self.open_parsed[path] = parsed
        if older is not None and parsed is not previous:
            # its memo holds its statements and classes, which point back at it: a cycle that
            # only the garbage collector could free (~4 MB per keystroke in a 5,000-line file),
            # and the server collects only when idle (server/lsp/collector.py). A memo is a
            # cache: whoever might still hold that version gets its facts computed again.
            # Cleared by `release`, which the server calls once the diagnostics are out
            # (freeing a big file's version costs ~0.3 ms); at most two wait here otherwise.
            self.superseded.append(older.file)
            while len(self.superseded) > _SUPERSEDED_KEPT:
                self._clear(self.superseded.pop(0))
        return parsed

    def release(self) -> None:
        """Free what the last analyses replaced (the memos of superseded versions of open
        files): the server calls it on the analysis thread after publishing, so a keystroke
        does not wait for it."""
        while self.superseded:
            self._clear(self.superseded.pop(0))

    @staticmethod
    def _clear(file: SourceFile) -> None:
        file.memo.clear()

    def discovery(self, root: Path) -> Discovery:
        found = self.discovered.get(root)
        if found is None:
            found = discover([root])
            self.discovered[root] = found
        return found

    def index(self, folder: Path, report: Callable[[str], None] | None = None) -> int:
        """Discover and parse every source file under a workspace folder (warms the cache)."""
        found = discover([folder])
        for root in {c.parent for c in found.configs}:
            self.discovered.pop(root, None)
        for number, path in enumerate(found.sources):
            if report is not None and number % 20 == 0:
                report(f"{number}/{len(found.sources)} files")
            self.parse_disk(path)
        return len(found.sources)

    # -- analysis ----------------------------------------------------------------------------
    def analyze(self, root: Path, inputs: dict[Path, OpenInput]) -> Analysis:
        started = time.perf_counter()
        found = self.discovery(root)
        sources = list(found.sources)
        configs = list(found.configs)
        parsed: dict[Path, SourceFile] = {}
        overlays: dict[Path, bytes] = {}
        problems: list[Problem] = []
        for path, item in inputs.items():
            if item.kind == "config":
                overlays[path] = item.data
                if path not in configs and is_config_name(path.name):
                    configs.append(path)
            elif item.kind == "source":
                if path not in sources:
                    sources.append(path)
                result = self.parse_open(path, item.data, item.lines)
                if isinstance(result, SourceError):
                    problems.append(Problem(path, str(result)))
                else:
                    parsed[path] = result
        # the closed files' stats: trusted while the client watches them and the last full
        # pass is recent (DISK_RECHECK_S), except for the files said to have changed since
        now = time.monotonic()
        trusted = self.watched and now - self.disk_checked.get(root, -DISK_RECHECK_S) < (
            DISK_RECHECK_S
        )
        dirty = self.disk_dirty
        disk = self.disk
        for path in sources:
            if path in parsed or path in inputs:
                continue
            kept = disk.get(path) if trusted and path not in dirty else None
            if kept is not None and kept[1] <= self.max_bytes:
                result = kept[2]
            else:
                result = self.parse_disk(path)
                dirty.discard(path)
            if isinstance(result, SourceFile):
                parsed[path] = result
            else:
                problems.append(Problem(path, str(result)))
        if not trusted:
            self.disk_checked[root] = now
        # files that could not be parsed are left out of the model (and said in `problems`)
        groups: dict[tuple[str, str], list[Path]] = {}
        for path, item in inputs.items():
            key = (repr(item.settings), str(item.settings_file.path if item.settings_file else ""))
            groups.setdefault(key, []).append(path)
        # each file within the time budget, through the same analyse_within_budget as `check`
        # and harden (analyzers.budget): a file over it is reported as skipped (a problem of
        # the model) and the project analysed again without it
        findings: dict[Path, list[Finding]] = {}
        suppressions: dict[Path, list[Suppression]] = {}

        def run_groups(
            model: ProjectModel, _settings: Settings, _reported: object
        ) -> tuple[list[Finding], list[Suppression]]:
            findings.clear()  # a new attempt after a file over the budget starts afresh
            findings.update({path: [] for path in inputs})
            suppressions.clear()
            for paths in groups.values():
                wanted = set(paths)
                settings = inputs[paths[0]].settings
                # only the rules' findings in the open files, recomputed only where their
                # inputs changed (analyzers/incremental.py); copies, as settings change them
                rules = [r for r in all_rules() if settings.enabled(r.id)]
                rules = [r for r in rules if r.id != UNUSED_SUPPRESSION]
                raw = [copy.copy(f) for f in self.rules.findings(model, rules, wanted)]
                found_now, supps = finish_findings(
                    model, settings, raw, lambda p, w=wanted: p in w, paths=wanted
                )
                for finding in found_now:
                    if finding.path in wanted:
                        findings[finding.path].append(finding)
                for supp in supps:
                    suppressions.setdefault(supp.path, []).append(supp)
            return [], []

        self.rules.forget(inputs)
        model, _, _ = analyse_within_budget(
            root,
            [p for p in sources if p in parsed],
            configs,
            Settings(),
            None,
            overlays=overlays,
            parsed=parsed,
            rules_runner=run_groups,
            previous=self.models.get(root),
        )
        self.models[root] = model
        # what the model was spliced from served this analysis's rules; kept, it would keep the
        # edited file's previous version (tree and extraction) alive until the next keystroke
        model.__dict__.pop("_spliced_from", None)
        for path, item in inputs.items():
            if item.settings_file is not None and item.settings_file.excludes(path):
                findings[path] = []
            suppressions.setdefault(
                path, [] if path in suppressions else parse_suppressions(path, item.data)
            )
        return Analysis(
            root=root,
            inputs=inputs,
            model=model,
            findings=findings,
            suppressions=suppressions,
            problems=problems + model.problems,  # model.problems includes rule crashes
            seconds=time.perf_counter() - started,
        )
