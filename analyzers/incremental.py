"""Incremental rule runs for the language server: only what the published files need, and only
what changed since the previous analysis (docs/performance.md, "Incremental analysis").

The language server publishes the findings of its open files, and re-analyses the project on
every keystroke. Two things make that cheap:

1. Each rule declares its *scope* (`SCOPES` below): the model list it iterates as its units
   (classes, SQL statements, namespace accesses, files), where its findings about a unit land,
   and which project facts its result about a unit reads besides the unit itself. A per-unit
   rule runs on a `ScopedModel`: the whole model, except that its unit list holds only the units
   of one open file; every look-up (classes by name, schemas, statements in scope, configs,
   files) still answers for the whole project. So a rule over 600 classes checks the two of the
   open file.
2. The result of a rule for one open file is memoised on the identity of its inputs: the file's
   `SourceFile`, its units (the model reuses an unchanged file's extracted objects by identity,
   see `analyzers.model.per_file`), and a fingerprint of the project facts the rule reads
   (wrangler configs' bytes; every class object; every statement of the file's Worker scope;
   everything). An edit of another file that leaves those facts alone reuses the findings as
   they were (same objects), so the open files' diagnostics change only when their inputs did.

Project-wide rules (findings anywhere, or reasoning over every file: call sites reaching a
class, a table's inserts and deletes across a Worker) run on the whole model, memoised on a
fingerprint of everything, or on their scope's statements; rules whose findings only land in
wrangler configs run only when a config is open. Rules that read files outside the model or
git (`volatile`) are never memoised.

Findings are the same as a from-scratch `run_rules` (tests/test_speed_incremental.py compares
them after sequences of edits); the memoised findings are never mutated (the caller copies them
before applying settings).
"""

from __future__ import annotations

import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from durable_harden.analyzers.budget import OverBudget
from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule
from durable_harden.analyzers.model import NamespaceAccess, Problem, ProjectModel
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import SqlStatement

T = TypeVar("T")


class ContentMemo:
    """A bounded memo of a pure function of content (SQL text, a schema's catalogue key), not
    of positions: its results carry over to the statements re-extracted from an edited file.
    Least recently used out first."""

    def __init__(self, capacity: int = 16384) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        entries = self.entries
        try:
            value = entries[key]
        except KeyError:
            value = entries[key] = compute()
            if len(entries) > self.capacity:
                entries.popitem(last=False)
            return value  # type: ignore[no-any-return]
        entries.move_to_end(key)
        return value  # type: ignore[no-any-return]


# units: the model list a rule iterates, restricted to one open file in a scoped run
CLASS = "classes"
STATEMENT = "statements"
ACCESS = "namespace_accesses"
FILE = "files"
SCOPE = "scope"  # the statements of every Worker scope holding an open file, in one run
# the classes an open file declares or reaches through its namespace accesses, each with every
# access reaching it anywhere (call sites): findings at a class or at its call sites
REACH = "reach"
PROJECT = "project"  # the whole model

# facts: what else a unit's findings depend on
NONE = "none"
CONFIGS = "configs"  # the wrangler configs (bytes)
CLASSES = "classes"  # configs + every class object (classes_named, base classes, bindings)
SCOPE_SQL = "scope_sql"  # configs + every statement of the file's Worker scope (schema)
WHOLE = "whole"  # configs + every file and extracted object of the project
VOLATILE = "volatile"  # reads files outside the model or git: never memoised


@dataclass(frozen=True)
class Scope:
    unit: str
    facts: str
    configs_only: bool = False  # findings land only in wrangler configs


SCOPES: dict[str, Scope] = {
    # a class's findings land in its file; they read the class, its file, its base classes
    # (classes_named) and the config binding it
    "alarm-retry-suppressed": Scope(CLASS, CLASSES),
    "alarm-shared-by-purposes": Scope(CLASS, CLASSES),
    "alarm-unconditional-in-constructor": Scope(CLASS, CLASSES),
    "await-between-kv-writes": Scope(CLASS, CLASSES),
    "block-concurrency-misuse": Scope(CLASS, CLASSES),
    "deleteall-leaves-alarm": Scope(CLASS, CLASSES),
    "kv-unbounded-list": Scope(CLASS, CLASSES),
    "serialize-attachment-misuse": Scope(CLASS, CLASSES),
    "setalarm-without-handler": Scope(CLASS, CLASSES),
    "timer-blocks-hibernation": Scope(CLASS, CLASSES),
    "websocket-close-handshake": Scope(CLASS, CLASSES),
    "websocket-manual-ping": Scope(CLASS, CLASSES),
    "websocket-not-hibernatable": Scope(CLASS, CLASSES),
    "websocket-state-in-memory": Scope(CLASS, CLASSES),
    # a statement's findings land in its file (the literal's or the exec call's); they read
    # the statement, its exec call, and the schema / statements of its Worker scope
    "sql-bindings-mismatch": Scope(STATEMENT, SCOPE_SQL),
    "sql-interpolation": Scope(STATEMENT, SCOPE_SQL),
    "sql-missing-index": Scope(STATEMENT, SCOPE_SQL),
    "sql-pragma-not-allowed": Scope(STATEMENT, SCOPE_SQL),
    "sql-too-many-params": Scope(STATEMENT, SCOPE_SQL),
    "sql-transaction-statement": Scope(STATEMENT, SCOPE_SQL),
    "sql-unbounded-read": Scope(STATEMENT, SCOPE_SQL),
    "schema-change-without-migration": Scope(STATEMENT, SCOPE_SQL),
    # a table's inserts and deletes anywhere in its Worker: one run over the open files' scopes
    "unbounded-table-growth": Scope(SCOPE, SCOPE_SQL),
    # an access's findings land at the access; they read its Worker's config
    "global-singleton": Scope(ACCESS, CONFIGS),
    "syntax-error": Scope(FILE, NONE),
    # canary ternaries in source files; deploy scripts, package.json and git HEAD for the rest
    "rollout-unsafe": Scope(FILE, VOLATILE),
    # a class and the call sites reaching it (anywhere): findings at the class (its file) or at
    # a call site (the access's file); they read the class, every access reaching it, the
    # configs, and the project facts of REACH_FACTS
    "id-name-undefined": Scope(REACH, CONFIGS),
    "obsolete-name-workaround": Scope(REACH, CONFIGS),
    "rpc-result-not-disposed": Scope(REACH, CONFIGS),
    "rpc-compat-date": Scope(REACH, CONFIGS),
    "unawaited-rpc": Scope(REACH, CONFIGS),
    # findings in wrangler configs only
    "binding-class-not-found": Scope(PROJECT, WHOLE, configs_only=True),
    "binding-missing-migration": Scope(PROJECT, WHOLE, configs_only=True),
    "class-not-exported": Scope(PROJECT, WHOLE, configs_only=True),
    # git HEAD; findings in wrangler configs only (config.span)
    "kv-backed-class": Scope(PROJECT, VOLATILE, configs_only=True),
    "migration-history-edited": Scope(PROJECT, VOLATILE, configs_only=True),
    # run by the post-processing (analysis.finish_findings), never as a rule
    "unused-suppression": Scope(PROJECT, VOLATILE),
}
UNDECLARED = Scope(PROJECT, VOLATILE)  # a rule added without a declaration: always re-run
GROWTH = (
    "unbounded-table-growth"  # its scope's facts are kept and updated (IncrementalRules._growth)
)


# REACH rules: what else of the project they read (in the key), and when a file's findings may
# come from any class (then the rule runs over the whole model for that file, unmemoised).
# Filled by the rules' modules (rules import this module, never the reverse).
REACH_FACTS: dict[str, Callable[[ProjectModel], Hashable]] = {}
REACH_ANY_CLASS: dict[str, Callable[[SourceFile], bool]] = {}
# SCOPE rules whose facts are kept per scope and updated by the changed statements: rule id ->
# a class with `of(statements, schema)`, `updated(statements, schema)` and
# `findings(statements, schema, published paths)` (IncrementalRules._indexed)
SCOPE_INDEXES: dict[str, Any] = {}


# derived data of the whole model that a view restricted to some classes may share (each
# computed from the namespace accesses, files or configs, never from the class list)
_SHARED_MEMO = frozenset(
    {
        "access_classes",
        "accesses_by_class",
        "access_by_node",
        "stub_calls",
        "rpc_target_wrappers",
        "rpc_targets",
        "files_by_path",
    }
)


class _Memo(dict[str, Any]):
    """A view's memo: its own, except the keys of `_SHARED_MEMO`, which are the whole model's."""

    def __init__(self, whole: dict[str, Any]) -> None:
        super().__init__()
        self.whole = whole

    def __getitem__(self, key: str) -> Any:
        if key in _SHARED_MEMO:
            return self.whole[key]
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _SHARED_MEMO:
            self.whole[key] = value
        else:
            super().__setitem__(key, value)

    def __contains__(self, key: object) -> bool:
        if key in _SHARED_MEMO:
            return key in self.whole
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.get(key, default)
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.setdefault(key, default)
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in _SHARED_MEMO:
            return self.whole.pop(key, *default)
        return super().pop(key, *default)


def scope_of(rule: Rule) -> Scope:
    return SCOPES.get(rule.id, UNDECLARED)


class ScopedModel(ProjectModel):
    """The whole model with one unit list restricted (a rule's view of one open file).

    Look-ups answer for the whole project; lists other than the unit list are the whole
    project's; the memo is the view's own (helpers deriving data from the restricted list must
    not leave it in the whole model's memo, which code actions read)."""

    def __init__(self, whole: ProjectModel, unit: str, items: list[Any]) -> None:
        super().__init__(
            root=whole.root,
            files=whole.files,
            configs=whole.configs,
            problems=whole.problems,
            classes=whole.classes,
            statements=whole.statements,
            namespace_accesses=whole.namespace_accesses,
            memo=_Memo(whole.memo) if unit == CLASS else {},
            overlays=whole.overlays,
        )
        setattr(self, unit, items)
        self.whole = whole
        # scope and schema look-ups: the whole project's (cached properties read __dict__)
        self.__dict__["_statements_by_scope"] = whole._statements_by_scope
        self.__dict__["_schemas"] = whole._schemas
        self.__dict__["_config_for_path_cache"] = whole.__dict__.setdefault(
            "_config_for_path_cache", {}
        )

    def classes_named(self, name: str) -> list[DurableObjectClass]:
        return self.whole.classes_named(name)

    def file(self, path: Path) -> SourceFile | None:
        return self.whole.file(path)


class _Facts:
    """The fingerprints of one model, computed on first use."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model
        self._configs: Hashable | None = None
        self._classes: Hashable | None = None
        self._whole: Hashable | None = None
        self._scopes: dict[Path, Hashable] = {}

    def configs(self) -> Hashable:
        if self._configs is None:
            self._configs = tuple((c.path, c.data) for c in self.model.configs)
        return self._configs

    def of(self, facts: str, path: Path | None) -> Hashable:
        model = self.model
        if facts == NONE:
            return ()
        if facts == CONFIGS:
            return self.configs()
        if facts == CLASSES:
            if self._classes is None:
                self._classes = (self.configs(), tuple(model.classes))
            return self._classes
        if facts == SCOPE_SQL and path is not None:
            root = model._scope_root(path)
            found = self._scopes.get(root)
            if found is None:
                found = self._scopes[root] = (
                    self.configs(),
                    root,
                    tuple(model._statements_by_scope.get(root, ())),
                )
            return found
        if self._whole is None:
            self._whole = (
                self.configs(),
                tuple(model.files),
                tuple(model.classes),
                tuple(model.statements),
                tuple(model.namespace_accesses),
            )
        return self._whole


class _Units:
    """The units of each file of one model: read from the model's per-file build results
    (`model._file_units`) where it has them, else grouped once from the model's lists."""

    def __init__(self, model: ProjectModel) -> None:
        self.model = model
        self.by_file: dict[str, dict[Path, list[Any]]] | None = None

    def _grouped(self) -> dict[str, dict[Path, list[Any]]]:
        if self.by_file is None:
            model = self.model
            self.by_file = {CLASS: {}, STATEMENT: {}, ACCESS: {}}
            for cls in model.classes:
                self.by_file[CLASS].setdefault(cls.file.path, []).append(cls)
            for stmt in model.statements:
                self.by_file[STATEMENT].setdefault(stmt.file.path, []).append(stmt)
                if stmt.call_file is not stmt.file:
                    self.by_file[STATEMENT].setdefault(stmt.call_file.path, []).append(stmt)
            for access in model.namespace_accesses:
                self.by_file[ACCESS].setdefault(access.file.path, []).append(access)
        return self.by_file

    def of(self, unit: str, file: SourceFile) -> list[Any]:
        if unit == FILE:
            return [file]
        found = self.model._file_units(file, unit)
        if found is not None:
            return found
        return self._grouped()[unit].get(file.path, [])


def _accesses_to(model: ProjectModel, cls: DurableObjectClass) -> list[NamespaceAccess]:
    from durable_harden.analyzers.rules._bindings import accesses_to

    return accesses_to(model, cls)


def _reached(model: ProjectModel, units: _Units, file: SourceFile) -> list[DurableObjectClass]:
    """The classes `file` declares or reaches through its namespace accesses, in model order."""
    from durable_harden.analyzers.rules._bindings import classes_of_access

    found = {id(c): c for c in units.of(CLASS, file)}
    names: set[str] = set()
    for access in units.of(ACCESS, file):
        names |= classes_of_access(model, access)
    for name in names:
        for cls in model.classes_named(name):
            found.setdefault(id(cls), cls)
    return sorted(found.values(), key=lambda c: (str(c.file.path), c.node.start_byte))


# (rule id, path or None) -> (key, findings)
Memo = dict[tuple[str, Path | None], tuple[Hashable, list[Finding]]]


class IncrementalRules:
    """Runs rules for a set of published files, reusing results whose inputs are the same
    objects as in the previous analysis. One per language-server engine (one worker thread)."""

    def __init__(self) -> None:
        self.memo: Memo = {}
        # per (rule id, scope root): a SCOPE rule's facts kept across analyses (_indexed)
        self.indexes: dict[tuple[str, Path], Any] = {}
        self.runs = 0  # rule runs that were not memo hits (tests read it)
        self.hits = 0

    def _indexed(
        self, rule: Rule, model: ProjectModel, roots: list[Path], wanted: set[Path]
    ) -> list[Finding]:
        """A SCOPE rule over the open files' scopes from each scope's index (SCOPE_INDEXES:
        unbounded-table-growth's GrowthIndex) kept since the previous analysis and updated by
        the statements that changed."""
        index_type = SCOPE_INDEXES[rule.id]
        for stale in [k for k in self.indexes if k[0] == rule.id and k[1] not in roots]:
            del self.indexes[stale]
        found: list[Finding] = []
        for root in roots:
            statements = model._statements_by_scope.get(root, [])
            slot = (rule.id, root)
            if not statements:
                self.indexes.pop(slot, None)
                continue
            self.runs += 1
            try:
                schema = model.schema_for(statements[0].file.path)
                index = self.indexes.pop(slot, None)
                index = (
                    index.updated(statements, schema)
                    if isinstance(index, index_type)
                    else index_type.of(statements, schema)
                )
                found.extend(
                    f for f in index.findings(statements, schema, wanted) if f.path in wanted
                )
            except OverBudget:
                raise
            except Exception as exc:  # as _run: a rule's bug must not hide the others' findings
                detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                model.problems.append(
                    Problem(model.root, f"internal error in rule {rule.id}: {detail}")
                )
                return found
            self.indexes[slot] = index  # only a complete update is kept
        return found

    def forget(self, keep: Iterable[Path]) -> None:
        """Drop memoised results of files no longer published."""
        wanted = set(keep)
        for key in [k for k in self.memo if k[1] is not None and k[1] not in wanted]:
            del self.memo[key]

    def findings(
        self,
        model: ProjectModel,
        rules: Iterable[Rule],
        paths: Iterable[Path],
    ) -> list[Finding]:
        """The raw findings (before suppressions, severities, dedupe) of `rules` that land in
        `paths` (sources or configs of the model)."""
        wanted = set(paths)
        files = [f for f in model.files if f.path in wanted]
        config_open = any(c.path in wanted for c in model.configs)
        facts = _Facts(model)
        units: _Units | None = None
        found: list[Finding] = []
        for rule in rules:
            scope = scope_of(rule)
            if scope.unit in (CLASS, STATEMENT, ACCESS, FILE):
                if units is None:
                    units = _Units(model)
                for file in files:
                    items = units.of(scope.unit, file)
                    if not items:
                        continue  # a rule iterating its units finds nothing without them
                    key: Hashable | None = None
                    if scope.facts != VOLATILE:
                        key = (file, tuple(items), self._facts(facts, scope, file, items))
                    view = ScopedModel(model, scope.unit, items)
                    found.extend(
                        self._run(rule, view, (rule.id, file.path), key, {file.path}, model)
                    )
                if scope.unit in (FILE, ACCESS) or config_open:
                    # what the rule says outside its units (deploy scripts, configs): a run
                    # with no units, its findings in the published files
                    view = ScopedModel(model, scope.unit, [])
                    slot: tuple[str, Path | None] = (rule.id, None)
                    key = None if scope.facts == VOLATILE else facts.of(WHOLE, None)
                    found.extend(self._run(rule, view, slot, key, wanted, model))
            elif scope.unit == REACH:
                if units is None:
                    units = _Units(model)
                any_class = REACH_ANY_CLASS.get(rule.id)
                extra = REACH_FACTS.get(rule.id)
                for file in files:
                    slot = (rule.id, file.path)
                    if any_class is not None and any_class(file):
                        # findings here may come from any class: the whole model, each time
                        found.extend(self._run(rule, model, slot, None, {file.path}, model))
                        continue
                    classes = _reached(model, units, file)
                    if not classes:
                        self.memo.pop(slot, None)
                        continue  # no class here nor reached from here: nothing lands here
                    key = (
                        file,
                        tuple(classes),
                        tuple(tuple(_accesses_to(model, c)) for c in classes),
                        facts.configs(),
                        extra(model) if extra is not None else None,
                    )
                    view = ScopedModel(model, CLASS, classes)
                    found.extend(self._run(rule, view, slot, key, {file.path}, model))
            elif scope.unit == SCOPE:
                roots = {model._scope_root(f.path) for f in files}
                if not roots:
                    continue
                if rule.id in SCOPE_INDEXES and scope.facts != VOLATILE:
                    found.extend(self._indexed(rule, model, sorted(roots), wanted))
                    continue
                items = [s for r in sorted(roots) for s in model._statements_by_scope.get(r, ())]
                key = None
                if scope.facts != VOLATILE:
                    key = (tuple(sorted(roots)), tuple(items), facts.configs())
                view = ScopedModel(model, STATEMENT, items)
                found.extend(self._run(rule, view, (rule.id, None), key, wanted, model))
            else:
                if scope.configs_only and not config_open:
                    continue
                key = None if scope.facts == VOLATILE else facts.of(scope.facts, None)
                found.extend(self._run(rule, model, (rule.id, None), key, wanted, model))
        return found

    @staticmethod
    def _facts(facts: _Facts, scope: Scope, file: SourceFile, items: list[Any]) -> Hashable:
        if scope.facts != SCOPE_SQL or scope.unit != STATEMENT:
            return facts.of(scope.facts, file.path)
        # a statement's SQL may live in another file than its exec call, in another Worker
        # scope (a shared constants module): every scope its statements belong to
        paths = {file.path}
        for stmt in items:
            paths.add(stmt.file.path)
            paths.add(stmt.call_file.path)
        roots = {facts.model._scope_root(p): p for p in paths}
        return tuple(facts.of(SCOPE_SQL, roots[r]) for r in sorted(roots))

    def _run(
        self,
        rule: Rule,
        view: ProjectModel,
        slot: tuple[str, Path | None],
        key: Hashable | None,
        keep: set[Path],
        whole: ProjectModel,
    ) -> list[Finding]:
        if key is not None:
            cached = self.memo.get(slot)
            if cached is not None and cached[0] == key:
                self.hits += 1
                return [f for f in cached[1] if f.path in keep]
        self.runs += 1
        try:
            result = list(rule.check(view))
        except OverBudget:
            raise  # the file, not the rule: analyse_within_budget skips it
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            whole.problems.append(
                Problem(whole.root, f"internal error in rule {rule.id}: {detail}")
            )
            self.memo.pop(slot, None)
            return []
        if slot[1] is not None:
            result = [f for f in result if f.path == slot[1]]
        if key is not None:
            self.memo[slot] = (key, result)
        else:
            self.memo.pop(slot, None)
        return [f for f in result if f.path in keep]


__all__ = [
    "SCOPES",
    "IncrementalRules",
    "NamespaceAccess",
    "Scope",
    "ScopedModel",
    "SqlStatement",
    "scope_of",
]
