"""The project model: built once per analysis, shared by every rule."""

from __future__ import annotations

import copy
import operator
import os
import posixpath
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import chain, compress
from pathlib import Path
from typing import Any, TypeVar, cast

from tree_sitter import Node

from durable_harden.analyzers import splice, sqlwrappers
from durable_harden.analyzers.classes import (
    Aliases,
    DurableObjectClass,
    _base_identifier,
    class_declarations,
    class_locator,
    exported_names,
    find_classes,
    heritage,
    import_statements,
    typed_state_params,
)
from durable_harden.analyzers.exports import export_aliases
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.source import SourceError, SourceFile, language_for, read_source
from durable_harden.analyzers.sql import (
    SqlParam,
    SqlStatement,
    extract_statements,
    loose_statements,
    string_constant,
    string_constants,
)
from durable_harden.analyzers.sqlwrappers import FileWrappers
from durable_harden.analyzers.sqlwrappers import resolve as resolve_wrappers
from durable_harden.analyzers.sqlwrappers import summarize as summarize_wrappers
from durable_harden.analyzers.tsutil import (
    call_args,
    import_items,
    node_at,
    node_text,
    normalize_expr,
    walk,
    walk_type,
    word_hits,
)
from durable_harden.analyzers.wrangler import ConfigError, WranglerConfig, load_config

NAMESPACE_METHODS = frozenset(
    {"idFromName", "getByName", "newUniqueId", "idFromString", "get", "jurisdiction"}
)


@frozen
class Problem:
    """A file we could not read or parse, said plainly."""

    path: Path
    message: str


@dataclass(eq=False)
class NamespaceAccess:
    """`env.BINDING.idFromName(...)` and friends, anywhere in the project."""

    file: SourceFile
    node: Node  # the call
    binding: str
    method: str
    argument: Node | None


@dataclass(eq=False)
class ProjectModel:
    """Everything the rules read about a project: files, configs, classes, SQL, accesses."""

    root: Path
    files: list[SourceFile]
    configs: list[WranglerConfig]
    problems: list[Problem] = field(default_factory=list)
    classes: list[DurableObjectClass] = field(default_factory=list)
    statements: list[SqlStatement] = field(default_factory=list)
    namespace_accesses: list[NamespaceAccess] = field(default_factory=list)
    # Derived data several rules need, computed once per model (see docs/performance.md):
    # name -> value, filled lazily by the helpers that own each name.
    memo: dict[str, Any] = field(default_factory=dict)
    # Buffers that win over the disk (editor documents, a harden plan's pending writes): rules
    # reading files that are neither sources nor configs (package.json, scripts, CI) use `read`.
    overlays: dict[Path, bytes] = field(default_factory=dict)

    def read(self, path: Path) -> bytes | None:
        """A file's bytes as this model sees them: the overlay if any, else the disk."""
        data = self.overlays.get(path)
        if data is None:
            data = self.overlays.get(path.resolve()) if self.overlays else None
        if data is not None:
            return data
        try:
            return path.read_bytes()
        except OSError:
            return None

    # -- scoping: which config and which schema a file belongs to ---------------------------
    def config_for_path(self, path: Path) -> WranglerConfig | None:
        cache = self.__dict__.get("_config_for_path_cache")
        if cache is None:
            cache = self.__dict__["_config_for_path_cache"] = {}
        try:
            return cache[path]  # type: ignore[no-any-return]
        except KeyError:
            found = cache[path] = self._nearest_config(path)
            return found

    def _nearest_config(self, path: Path) -> WranglerConfig | None:
        """The config whose folder is the nearest parent of `path` (the first of the configs in
        that folder): its parent folders looked up as text, nearest first (building
        `path.parents` as Path objects cost more than the rest of the look-up)."""
        by_root: dict[str, WranglerConfig] | None = self.__dict__.get("_configs_by_root")
        if by_root is None:
            by_root = {}
            for config in self.configs:
                by_root.setdefault(str(config.root), config)
            self.__dict__["_configs_by_root"] = by_root
        folder = os.path.dirname(str(path))
        while True:
            found = by_root.get(folder)
            if found is not None:
                return found
            up = os.path.dirname(folder)
            if up == folder:
                return None
            folder = up

    def _file_units(self, file: SourceFile, unit: str) -> list[Any] | None:
        """One file's classes, statements (its SQL or its exec calls) or namespace accesses
        ("classes", "statements", "namespace_accesses"), in model order, from the build's
        per-file results (a look-up, not a scan of the project's lists); None when the build
        kept none for it or a statement crosses files."""
        state: _State | None = self.__dict__.get(_STATE)
        if state is None or state.known.get(file.path) is not file:
            return None
        path = file.path
        if unit == "classes":
            return list(state.classes_by_file.get(path, ()))
        if unit == "namespace_accesses":
            return list(state.accesses.get(path, ()))
        if unit == "statements" and state.own_sql.get(path):
            return state.executed[path] + state.loose[path]
        return None

    def configs_binding(self, class_name: str) -> list[WranglerConfig]:
        """The configs with a binding to `class_name`, in model order. Indexed once per config
        list (each class asked, and a scan of every binding of every config per question grew
        with classes x bindings)."""
        configs = tuple(self.configs)
        index = self.__dict__.get("_configs_by_class")
        if index is None or index[0] != configs:
            by_class: dict[str, list[WranglerConfig]] = {}
            for config in configs:
                for name in dict.fromkeys(b.class_name for b in config.bindings):
                    by_class.setdefault(name, []).append(config)
            index = self.__dict__["_configs_by_class"] = (configs, by_class)
        return list(index[1].get(class_name, ()))

    def config_for_class(self, cls: DurableObjectClass) -> WranglerConfig | None:
        """The config that binds the class (nearest first), else the nearest config."""
        binding = self.configs_binding(cls.name)
        nearest = self.config_for_path(cls.file.path)
        if nearest is not None and nearest in binding:
            return nearest
        return binding[0] if binding else nearest

    def _scope_root(self, path: Path) -> Path:
        config = self.config_for_path(path)
        return config.root if config is not None else self.root

    def statements_in_scope(self, path: Path) -> list[SqlStatement]:
        return list(self._statements_by_scope.get(self._scope_root(path), ()))

    @cached_property
    def _statements_by_scope(self) -> dict[Path, list[SqlStatement]]:
        """The statements per scope root, in model order: one pass, not one per question (each
        fix and rule asking for a scope scanned every statement of the project)."""
        by_root: dict[Path, list[SqlStatement]] = {}
        roots: dict[Path, Path] = {}
        same: dict[Path, Path] = {}  # one object per root: the look-ups below by identity
        for stmt in self.statements:
            path = stmt.file.path
            root = roots.get(path)
            if root is None:
                root = self._scope_root(path)  # a new Path object per call (config.root)
                root = roots[path] = same.setdefault(root, root)
            by_root.setdefault(root, []).append(stmt)
        return by_root

    @cached_property
    def _schemas(self) -> dict[Path, Schema]:
        by_root = self._statements_by_scope
        # the previous model's schemas of the scopes an edit left alone (or rebased on the
        # edited file's new statements): see _splice_scopes
        basis: dict[Path, Schema] = self.__dict__.pop("_schemas_basis", None) or {}
        schemas = {
            root: basis[root] if root in basis else Schema(stmts) for root, stmts in by_root.items()
        }
        # a scope with no SQL of its own still answers questions (with an empty schema)
        return schemas

    def schema_for(self, path: Path) -> Schema:
        root = self._scope_root(path)
        schema = self._schemas.get(root)
        if schema is None:
            schema = Schema([])
            self._schemas[root] = schema
        return schema

    # -- look-ups ---------------------------------------------------------------------------
    def classes_named(self, name: str) -> list[DurableObjectClass]:
        # indexed once per class list (a scan of every class per question cost O(classes))
        index = self.__dict__.get("_classes_by_name")
        if index is None or index[0] is not self.classes or index[1] != len(self.classes):
            by_name: dict[str, list[DurableObjectClass]] = {}
            for cls in self.classes:
                by_name.setdefault(cls.name, []).append(cls)
            index = self.__dict__["_classes_by_name"] = (self.classes, len(self.classes), by_name)
        return list(index[2].get(name, ()))

    def files_by_path(self) -> dict[Path, SourceFile]:
        """Every file by its path: one dict per model, shared by every caller (the module
        resolution of rules and fixes; building it per question cost O(files)). Read only."""
        by_path: dict[Path, SourceFile] | None = self.memo.get("files_by_path")
        if by_path is None or len(by_path) != len(self.files):
            by_path = self.memo["files_by_path"] = {f.path: f for f in self.files}
        return by_path

    def file(self, path: Path) -> SourceFile | None:
        # asked once per finding and per edit by rules, fixes and the planner: index by path
        by_path = self.files_by_path()
        found = by_path.get(path)
        return found if found is not None else by_path.get(path.resolve())

    def classes_for_binding(self, config: WranglerConfig | None, binding: str) -> list[str]:
        # asked per namespace access: an index per config (by identity), not a scan of every
        # binding of every config per question
        index: dict[int, tuple[WranglerConfig, dict[str, list[str]]]] = self.__dict__.setdefault(
            "_bindings_by_name", {}
        )
        names: list[str] = []
        for each in [config] if config is not None else self.configs:
            entry = index.get(id(each))
            if entry is None or entry[0] is not each:
                by_name: dict[str, list[str]] = {}
                for b in each.bindings:
                    by_name.setdefault(b.name, []).append(b.class_name)
                entry = index[id(each)] = (each, by_name)
            names.extend(entry[1].get(binding, ()))
        return names


def build_model(
    root: Path,
    source_paths: Iterable[Path],
    config_paths: Iterable[Path],
    overlays: dict[Path, bytes] | None = None,
    parsed: dict[Path, SourceFile] | None = None,
    previous: ProjectModel | None = None,
) -> ProjectModel:
    """Read and parse every file, then find classes, SQL and namespace accesses.

    overlays: buffer contents that win over the disk (open editor documents).
    parsed: files already parsed by the caller (the language server's cache), used as they are.
    previous: the model this one follows (the language server's previous analysis of the same
    root): when the same paths and configs are given and only a few files are new objects whose
    edits leave what other files read of them alone, the model is the previous one with those
    files' results replaced (`_splice`), without a loop over the unchanged files.
    """
    overlays = overlays or {}
    parsed = parsed or {}
    problems: list[Problem] = []
    configs: list[WranglerConfig] = []
    for path in config_paths:
        try:
            configs.append(load_config(path, overlays.get(path)))
        except ConfigError as exc:
            problems.append(Problem(path, f"wrangler config skipped: {exc}"))
    source_paths = list(source_paths)
    if previous is not None and parsed:
        spliced = _splice(previous, root, source_paths, configs, problems, overlays, parsed)
        if spliced is not None:
            return spliced
    files: list[SourceFile] = []
    for path in source_paths:
        if language_for(path) is None:
            problems.append(Problem(path, "not a TypeScript or JavaScript source file; skipped"))
            continue
        if path in parsed:
            files.append(parsed[path])
            continue
        try:
            if path in overlays:
                from durable_harden.analyzers.source import parse_source

                files.append(parse_source(path, overlays[path]))
            else:
                files.append(read_source(path))
        except SourceError as exc:
            problems.append(Problem(path, str(exc)))
    for file in files:
        if "previous" in file.memo:  # re-parsed after an edit: what can be carried over
            splice.splice_of(file)
    model = ProjectModel(
        root=root.resolve(), files=files, configs=configs, problems=problems, overlays=overlays
    )
    state = _State(
        source_paths=tuple(source_paths),
        configs=tuple(configs),
        problems=list(problems),
        order=[f.path for f in files],
    )
    _find_classes(model, state)
    _find_sql(model, state)
    _find_namespace_accesses(model, state)
    model.__dict__[_STATE] = state
    return model


# -- the previous model's results, spliced (language server) ----------------------------------
_STATE = "_build_state"  # in the model's __dict__, not its memo (code actions read that)
_MAX_SPLICED = 4  # more new files than this: a full build (still reusing per-file results)


@dataclass(eq=False)
class _State:
    """What a build found per file and what it read across files, kept in the model's memo so
    that the next model of the same root can replace only the files that changed (`_splice`).
    Never mutated once the model is built (a splice makes a new one)."""

    source_paths: tuple[Path, ...]
    configs: tuple[WranglerConfig, ...]
    problems: list[Problem]  # build_model's own (model.problems grows later: rule crashes)
    order: list[Path]  # the model's files' paths, in order
    # classes
    class_rounds: dict[
        Path, list[tuple[tuple[frozenset[str], frozenset[str]], tuple[str, ...]]]
    ] = field(default_factory=dict)
    bound: dict[Path, set[str]] = field(default_factory=dict)
    classes_by_file: dict[Path, list[DurableObjectClass]] = field(default_factory=dict)
    by_name: dict[str, list[DurableObjectClass]] = field(default_factory=dict)
    base_count: dict[str, int] = field(default_factory=dict)
    # SQL
    known: dict[Path, SourceFile] = field(default_factory=dict)
    known_paths: frozenset[Path] = frozenset()
    summaries: dict[Path, FileWrappers] = field(default_factory=dict)
    # the functions that may be wrappers; files naming none have partial summaries
    wrapper_names: frozenset[str] = frozenset()
    wrapped: dict[Path, dict[int, SqlParam]] = field(default_factory=dict)  # calls via wrappers
    executed: dict[Path, list[SqlStatement]] = field(default_factory=dict)
    loose: dict[Path, list[SqlStatement]] = field(default_factory=dict)
    own_sql: dict[Path, bool] = field(default_factory=dict)  # no statement crosses the file
    importers: dict[Path, set[Path]] = field(default_factory=dict)
    # namespace accesses
    bindings: frozenset[str] = frozenset()
    accesses: dict[Path, list[NamespaceAccess]] = field(default_factory=dict)
    spliced: bool = False  # made by _splice (tests read it)

    def copy(self) -> _State:
        new = copy.copy(self)
        for name in ("classes_by_file", "by_name", "known", "summaries", "executed", "loose"):
            setattr(new, name, dict(getattr(self, name)))
        new.class_rounds = dict(self.class_rounds)
        new.own_sql = dict(self.own_sql)
        new.accesses = dict(self.accesses)
        return new


def _replace_block(items: list[T], old: list[T], new: list[T]) -> list[T] | None:
    """`items` with the contiguous run `old` (by identity) replaced by `new`; None when `old` is
    empty (no place to put `new`) or not found."""
    if not old:
        return items if not new else None
    try:
        at = items.index(old[0])  # eq=False objects: by identity
    except ValueError:
        return None
    end = at + len(old)
    # compared at C speed: the items are eq=False objects (classes, statements), so list
    # equality is identity item by item
    if end > len(items) or items[at:end] != old:
        return None
    return items[:at] + new + items[end:]


def _splice(
    previous: ProjectModel,
    root: Path,
    source_paths: list[Path],
    configs: list[WranglerConfig],
    problems: list[Problem],
    overlays: dict[Path, bytes],
    parsed: dict[Path, SourceFile],
) -> ProjectModel | None:
    """The previous model with the files that are new objects re-extracted, or None when that
    could change what another file yields (then build_model does a full build).

    Other files read of a file: its class declarations' names and bases and its export aliases
    (class detection), the classes it finds in each round of the fix-point, its wrapper
    functions (sqlwrappers.resolve), its string constants (importers' statements), its classes
    as bases (inherited aliases). A splice requires all of those unchanged, no statement that
    crosses the file (an imported constant either way), the same paths, configs and problems.
    Every other file's results are the previous model's objects, as a full build's per-file
    memo would give (tests/test_caches.py, tests/test_speed_incremental.py)."""
    state: _State | None = previous.__dict__.get(_STATE)
    if (
        state is None
        or problems
        or state.problems
        or tuple(source_paths) != state.source_paths
        or len(configs) != len(state.configs)
        or any(
            a is not b and (a.path != b.path or a.data != b.data)
            for a, b in zip(configs, state.configs, strict=True)
        )
        or previous.root != root.resolve()
    ):
        return None
    given = list(map(parsed.get, state.order))
    old_files = previous.files
    changed = [
        i for i, (new, old) in enumerate(zip(given, old_files, strict=True)) if new is not old
    ]
    if len(changed) > _MAX_SPLICED or any(given[i] is None for i in changed):
        return None
    files = cast(list[SourceFile], given)  # every one present: checked above
    if not changed:
        return _respliced(previous, state, files, configs, overlays)
    pairs = [(old_files[i], files[i]) for i in changed]
    new_state = state.copy()
    new_state.spliced = True
    new_state.configs = tuple(configs)
    known = new_state.known
    for old, new in pairs:
        if (
            _class_heads(new) != _class_heads(old)
            or export_aliases(new) != export_aliases(old)
            or not state.own_sql.get(old.path, False)
        ):
            return None
        known[new.path] = new
    model = ProjectModel(
        root=previous.root,
        files=files,
        configs=configs,
        problems=[],
        overlays=overlays,
    )
    changed_paths = {new.path for _, new in pairs}
    _index_known(state.known, known, changed_paths)
    # classes: each round asked again with the keys it had, the same names found in each
    renamed: dict[int, DurableObjectClass] = {}
    spliced_classes: list[DurableObjectClass] = []
    for _, new in pairs:
        path = new.path
        found: dict[int, DurableObjectClass] = {}
        rounds = state.class_rounds.get(path, [])
        for key, names in rounds:
            got = [
                cls
                for cls in per_file(new, "classes", key, partial(_extract_classes, new, key))
                if cls.node.start_byte not in found
            ]
            if tuple(c.name for c in got) != names:
                return None
            for cls in got:
                found[cls.node.start_byte] = cls
        classes = sorted(found.values(), key=lambda c: c.node.start_byte)
        before = state.classes_by_file.get(path, [])
        if [c.name for c in classes] != [c.name for c in before]:
            return None
        for cls in before:
            # another file's class extends one of these: its inherited aliases would change
            if state.base_count.get(cls.name, 0) > sum(1 for b in before if b.base == cls.name):
                return None
        for a, b in zip(before, classes, strict=True):
            renamed[id(a)] = b
        new_state.classes_by_file[path] = classes
        spliced_classes.extend(classes)
        new_state.class_rounds[path] = rounds
    for name in {c.name for c in spliced_classes}:
        new_state.by_name[name] = [renamed.get(id(c), c) for c in state.by_name[name]]
    new_classes = list(previous.classes)
    for _, new in pairs:
        block = _replace_block(
            new_classes,
            state.classes_by_file.get(new.path, []),
            new_state.classes_by_file[new.path],
        )
        if block is None:
            return None
        new_classes = block
    model.classes = new_classes
    _inherit_aliases(model, spliced_classes, lambda name: new_state.by_name.get(name, []))
    for cls in spliced_classes:
        cls.exported = cls.name in exported_names(cls.file)
    # SQL: no constant imported from or into the file, the same calls through wrappers elsewhere
    for _, new in pairs:
        classes = new_state.classes_by_file.get(new.path, [])
        summarized = state.summaries.get(new.path)
        light = None
        if summarized is not None and summarized.partial:
            light = _light_summary(new, classes, state.wrapper_names)
        if light is None and splice.splice_of(new) is None:
            # the whole file read again anyway: summarized as a whole build would (by its
            # heads when it hands nothing to exec() and names no wrapper), so that the next
            # keystrokes take the light path again
            light = _whole_light_summary(new, classes, state.wrapper_names)
        summary = new_state.summaries[new.path] = light or _wrapper_summary(new, classes)
        if sqlwrappers.adds_wrappers(summary, state.wrapper_names):
            # a file that was not summarized in full may call the new wrapper
            return None
        for importer in state.importers.get(new.path, ()):
            if importer in changed_paths:
                continue
            reader = known[importer]
            if any(
                target is new
                for target, _ in _imported_constants(reader, known, state.known_paths).values()
            ):
                return None
    by_file = {known[path]: summary for path, summary in new_state.summaries.items()}
    wrapped = resolve_wrappers(by_file, lambda file, spec: resolve_module(file.path, spec, known))
    new_state.wrapped = {file.path: calls for file, calls in wrapped.items()}
    for path in new_state.wrapped.keys() | state.wrapped.keys():
        if path not in changed_paths and new_state.wrapped.get(path) != state.wrapped.get(path):
            return None  # a wrapper of the edited file changed what another file's calls do
    importers = new_state.importers = dict(state.importers)
    for old, new in pairs:
        path = new.path
        classes = new_state.classes_by_file.get(path, [])
        ran = _file_statements(new, classes, known, state.known_paths, wrapped.get(new, {}))
        if not {*map(_FILE_OF, ran), *map(_CALL_FILE_OF, ran)} <= {new}:
            return None
        used, keys = _literal_starts_and_keys(ran, new)
        free = _loose_statements(new, classes, used)
        keys += map(_dedupe_key, free)
        both = ran + free
        # the first statement of each key (reversed: a dict keeps the last value it is given)
        unique = dict(zip(reversed(keys), reversed(both), strict=True))
        if len(unique) == len(both):  # no two alike (most files): nothing dropped
            new_state.executed[path] = ran[:]
            new_state.loose[path] = free[:]
        else:
            new_state.executed[path] = [
                s for s, k in zip(ran, keys[: len(ran)], strict=True) if unique[k] is s
            ]
            new_state.loose[path] = [
                s for s, k in zip(free, keys[len(ran) :], strict=True) if unique[k] is s
            ]
        for target in _import_targets(old, state.known, state.known_paths):
            if target is not None and target in importers:
                importers[target] = importers[target] - {path}
        for target in _import_targets(new, known, state.known_paths):
            if target is not None:
                importers[target] = importers.get(target, set()) | {path}
        new_state.accesses[path] = per_file(
            new, "namespace_accesses", state.bindings, partial(_accesses_of, new, state.bindings)
        )
    _assemble(model, new_state)
    _splice_scopes(previous, model, [(state, new_state, new.path) for _, new in pairs])
    model.__dict__[_FROM] = (
        weakref.ref(previous),
        Splice(
            files=pairs,
            accesses=[(state.accesses[o.path], new_state.accesses[n.path]) for o, n in pairs],
            statements=[
                (
                    state.executed[o.path] + state.loose[o.path],
                    new_state.executed[n.path] + new_state.loose[n.path],
                )
                for o, n in pairs
            ],
        ),
    )
    if all(a is b for a, b in zip(configs, state.configs, strict=True)):
        # the same config objects: the previous answers hold (paths -> their config)
        for name in ("_config_for_path_cache", "_configs_by_root"):
            if name in previous.__dict__:
                model.__dict__[name] = dict(previous.__dict__[name])
    model.__dict__[_STATE] = new_state
    return model


_FROM = "_spliced_from"


@dataclass(frozen=True)
class Splice:
    """What an edit changed between a model and the one it was spliced from: per edited file,
    (old, new) SourceFile, namespace accesses and statements (its own, in model order)."""

    files: list[tuple[SourceFile, SourceFile]]
    accesses: list[tuple[list[NamespaceAccess], list[NamespaceAccess]]]
    statements: list[tuple[list[SqlStatement], list[SqlStatement]]]


def spliced_from(model: ProjectModel) -> tuple[ProjectModel, Splice] | None:
    """(the model `model` was spliced from, what changed), while that model is alive (a weak
    reference: models never keep their predecessors), for derived data kept in its memo that an
    edit changes only in part (rules._bindings, the RpcTarget look-ups, growing tables)."""
    found = model.__dict__.get(_FROM)
    if found is None:
        return None
    previous = found[0]()
    return None if previous is None else (previous, found[1])


def _respliced(
    previous: ProjectModel,
    state: _State,
    files: list[SourceFile],
    configs: list[WranglerConfig],
    overlays: dict[Path, bytes],
) -> ProjectModel:
    """No file changed: a new model of the previous one's results (every list a copy)."""
    state = copy.copy(state)
    state.configs = tuple(configs)
    state.spliced = True
    model = ProjectModel(
        root=previous.root,
        files=files,
        configs=configs,
        problems=[],
        overlays=overlays,
    )
    _assemble(model, state)
    model.classes = list(previous.classes)
    for name in ("_statements_by_scope", "_schemas"):
        if name in previous.__dict__:
            model.__dict__[name] = dict(previous.__dict__[name])
    if all(a is b for a, b in zip(configs, previous.configs, strict=True)):
        for name in ("_config_for_path_cache", "_configs_by_root"):
            if name in previous.__dict__:
                model.__dict__[name] = dict(previous.__dict__[name])
    # nothing changed: the derived data of the previous model carries over as it is
    model.__dict__[_FROM] = (weakref.ref(previous), Splice(files=[], accesses=[], statements=[]))
    model.__dict__[_STATE] = state
    return model


def _assemble(model: ProjectModel, state: _State) -> None:
    """The model's statement and access lists from the per-file ones, in file order."""
    order = state.order
    model.statements = list(chain.from_iterable(map(state.executed.__getitem__, order)))
    model.statements.extend(chain.from_iterable(map(state.loose.__getitem__, order)))
    model.namespace_accesses = list(chain.from_iterable(map(state.accesses.__getitem__, order)))


_SCHEMA_KINDS = frozenset({"CREATE", "ALTER", "DROP"})  # what Schema reads of a scope


def _splice_scopes(
    previous: ProjectModel, model: ProjectModel, changes: list[tuple[_State, _State, Path]]
) -> None:
    """The statements per scope (and the scopes' schemas) of the previous model with the changed
    files' blocks replaced; left to the cached properties when a block has no place yet."""
    by_scope: dict[Path, list[SqlStatement]] | None = previous.__dict__.get("_statements_by_scope")
    if by_scope is None:
        return
    by_scope = dict(by_scope)
    # per scope: old statement id -> new statement, or None when the schema must be rebuilt
    renamed: dict[Path, dict[int, SqlStatement] | None] = {}
    # each changed block's DDL statements, kept for the next splice (whose old blocks these
    # are: the same list objects) so that only the new blocks are filtered
    known_ddl: dict[tuple[Path, str], tuple[list[SqlStatement], list[SqlStatement]]] = (
        previous.__dict__.get(_DDL_OF, {})
    )
    ddl_of: dict[tuple[Path, str], tuple[list[SqlStatement], list[SqlStatement]]] = {}
    model.__dict__[_DDL_OF] = ddl_of
    for old_state, new_state, path in changes:
        root = model._scope_root(path)
        items = by_scope.get(root, [])
        for part in ("executed", "loose"):
            old = getattr(old_state, part)[path]
            new = getattr(new_state, part)[path]
            replaced = _replace_block(items, old, new)
            if replaced is None:
                return
            items = replaced
            kept = known_ddl.get((path, part))
            old_ddl = kept[1] if kept is not None and kept[0] is old else _ddl(old)
            new_ddl = _ddl(new)
            ddl_of[path, part] = (new, new_ddl)
            same = renamed.setdefault(root, {})
            if same is not None and [(s.kind, s.text) for s in old_ddl] == [
                (s.kind, s.text) for s in new_ddl
            ]:
                same.update((id(a), b) for a, b in zip(old_ddl, new_ddl, strict=True))
            else:
                renamed[root] = None
        if items:
            by_scope[root] = items
        else:
            by_scope.pop(root, None)
    model.__dict__["_statements_by_scope"] = by_scope
    schemas: dict[Path, Schema] | None = previous.__dict__.get("_schemas")
    if schemas is None:
        return
    basis = {root: schema for root, schema in schemas.items() if root not in renamed}
    for root, pairs in renamed.items():
        schema = schemas.get(root)
        if schema is not None and pairs is not None:
            basis[root] = schema.rebased(pairs)
    model.__dict__["_schemas_basis"] = basis


_KIND_OF = operator.attrgetter("kind")
_DDL_OF = "_ddl_of"  # in a spliced model's __dict__: (path, part) -> (its block, _ddl of it)


def _ddl(statements: list[SqlStatement]) -> list[SqlStatement]:
    """The statements Schema reads (CREATE, ALTER, DROP), in order (at C speed: a big file's
    ~300 statements before and after each keystroke)."""
    return list(compress(statements, map(_SCHEMA_KINDS.__contains__, map(_KIND_OF, statements))))


def _index_known(
    before: dict[Path, SourceFile], after: dict[Path, SourceFile], paths: Iterable[Path]
) -> None:
    """resolve_module's text index of `after`, from that of `before` (`paths` differ)."""
    for owner, size, index, _ in _TEXT_INDEXES:
        if owner is before and size == len(before):
            updated = dict(index)
            for path in paths:
                updated[path.as_posix()] = after[path]
            # the answers are files: those of the changed paths are new objects (asked again)
            _TEXT_INDEXES.insert(0, (after, len(after), updated, {}))
            del _TEXT_INDEXES[2:]
            return


# -- per-file results reused between models ----------------------------------------------------
# The language server builds a new model on every (debounced) change but passes the unchanged
# files' SourceFile objects again. What a file yields (its classes, SQL, namespace accesses)
# is kept in that file's memo under a key holding everything else it depends on (names from
# other files, the other files' SourceFile objects, the classes found): a changed dependency is
# a new key, hence a recomputation. A few keys per file are kept (the class fix-point asks with
# growing name sets), the least recently used dropped first. See docs/performance.md.
_KEYS_PER_FILE = 4
T = TypeVar("T")


def per_file(file: SourceFile, name: str, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()` for `file`, reused while `key` is equal (keys compare SourceFile and class
    objects by identity: they are eq=False)."""
    entries: dict[Hashable, Any] = file.memo.setdefault(f"model:{name}", {})
    if key in entries:
        value = entries.pop(key)
    else:
        value = compute()
        if len(entries) >= _KEYS_PER_FILE:
            entries.pop(next(iter(entries)))  # the least recently used
    # last in the dict: the result the last model used, which the next version of the file
    # starts from (analyzers.splice)
    entries[key] = value
    return value  # type: ignore[no-any-return]


def _class_heads(file: SourceFile) -> tuple[frozenset[str], frozenset[str]]:
    """(base identifiers, names) of the file's class declarations: the only things
    find_classes compares with facts from elsewhere (known DO names, bound class names)."""
    cached: tuple[frozenset[str], frozenset[str]] | None = file.memo.get("class_heads")
    if cached is None and splice.splice_of(file) is not None:
        # an edit inside members changes no class head: the splice carried them over (without
        # it, this walk would index every node type of the whole re-parsed file)
        cached = file.memo.get("class_heads")
    if cached is None:
        bases: set[str] = set()
        names: set[str] = set()
        for decl in class_declarations(file):
            name = decl.child_by_field_name("name")
            if name is not None:
                names.add(node_text(file.data, name))
            extends, _ = heritage(file, decl)
            if extends:
                bases.add(_base_identifier(extends))
        cached = file.memo["class_heads"] = (frozenset(bases), frozenset(names))
    return cached


def _classes_in(file: SourceFile, known: set[str], bound: set[str]) -> list[DurableObjectClass]:
    bases, names = _class_heads(file)
    key = (bases & known, names & bound)

    return per_file(file, "classes", key, partial(_extract_classes, file, key))


def _extract_classes(
    file: SourceFile, key: tuple[frozenset[str], frozenset[str]]
) -> list[DurableObjectClass]:
    """The file's classes for one key: carried over from the file's previous version outside
    the edited members (analyzers.splice), else found in the whole file."""
    found = splice.spliced(
        splice.splice_of(file),
        lambda s: splice.classes(s, s.old.memo.get("model:classes", {}), key),
    )
    return found if found is not None else find_classes(file, set(key[0]), set(key[1]))


def _named_by(config: WranglerConfig) -> set[str]:
    # bindings, and classes a migration or the `exports` block creates (Durable Objects too,
    # reached through `ctx.exports` without a binding)
    return {b.class_name for b in config.bindings} | config.declared_classes()


def _find_classes(model: ProjectModel, state: _State) -> None:
    everywhere: set[str] = set()
    by_config: dict[Path, set[str]] = {}
    for config in model.configs:
        by_config[config.path] = _named_by(config)
        everywhere |= by_config[config.path]
    # `export { ProjectFilesystem as DurableObjectFilesystem }`: the binding names the alias
    for file in model.files:
        for exported, local in export_aliases(file).items():
            if exported in everywhere:
                everywhere.add(local)
                owner = model.config_for_path(file.path)
                if owner is not None:
                    by_config[owner.path].add(local)

    def bound_for(file: SourceFile) -> set[str]:
        # a class is named by its own Worker's config: a same-named class of another project
        # in the same folder tree is not this binding's class. A file outside every Worker
        # project (a library) may be bound by any of them.
        config = model.config_for_path(file.path)
        return by_config[config.path] if config is not None else everywhere

    known: set[str] = set()
    found: dict[int, DurableObjectClass] = {}
    # what each file was asked and answered per round (replayed by _splice)
    rounds: dict[Path, list[tuple[tuple[frozenset[str], frozenset[str]], tuple[str, ...]]]] = {}
    bounds = [bound_for(file) for file in model.files]  # once, not once per round
    # Subclasses of DO classes may live in files read before their base: iterate to a fixpoint.
    for _ in range(5):
        before = len(found)
        for file, bound in zip(model.files, bounds, strict=True):
            bases, names = _class_heads(file)
            key = (bases & known, names & bound)
            new: list[str] = []
            for cls in _classes_in(file, known, bound):
                at = cls.node.start_byte ^ hash(cls.file.path)
                if at not in found:
                    found[at] = cls
                    known.add(cls.name)
                    new.append(cls.name)
            rounds.setdefault(file.path, []).append((key, tuple(new)))
        if len(found) == before:
            break
    model.classes = sorted(found.values(), key=lambda c: (str(c.file.path), c.node.start_byte))
    _inherit_aliases(model)
    # a class exported under its own name from the module that declares it
    for cls in model.classes:
        cls.exported = cls.name in exported_names(cls.file)
    state.class_rounds = rounds
    state.bound = {f.path: bound for f, bound in zip(model.files, bounds, strict=True)}
    for cls in model.classes:
        state.classes_by_file.setdefault(cls.file.path, []).append(cls)
        state.by_name.setdefault(cls.name, []).append(cls)
        if cls.base:
            state.base_count[cls.base] = state.base_count.get(cls.base, 0) + 1


def _inherit_aliases(
    model: ProjectModel,
    only: list[DurableObjectClass] | None = None,
    by_name: Callable[[str], list[DurableObjectClass]] | None = None,
) -> None:
    """A subclass reaches its state through the aliases its base class defines (`this.db =
    ctx.storage.sql` in the base, `this.db.exec(…)` in the subclass), also across files. The
    base is looked for in the subclass's own Worker project first.

    only: the classes to merge for (default: every class); by_name: the classes of a name in
    model order (default: indexed from the model's classes)."""
    if by_name is None:
        index: dict[str, list[DurableObjectClass]] = {}
        for cls in model.classes:
            index.setdefault(cls.name, []).append(cls)
        by_name = lambda name: index.get(name, [])  # noqa: E731

    def own(cls: DurableObjectClass) -> Aliases:
        # the class's own aliases (a cached class object may carry a merge from a former model)
        return cls.__dict__.setdefault("_own_aliases", cls.aliases)  # type: ignore[no-any-return]

    def base_of(cls: DurableObjectClass) -> DurableObjectClass | None:
        candidates = [c for c in by_name(cls.base or "") if c is not cls]
        config = model.config_for_path(cls.file.path)
        same = [c for c in candidates if model.config_for_path(c.file.path) is config]
        pool = same or candidates
        return pool[0] if pool else None

    targets = model.classes if only is None else only
    for cls in targets:
        own(cls)
    for cls in targets:
        merged = own(cls)
        seen = {id(cls)}
        base = base_of(cls) if cls.base else None
        while base is not None and id(base) not in seen:
            seen.add(id(base))
            merged = merged.merged(own(base))
            base = base_of(base) if base.base else None
        cls.aliases = merged


def resolve_module(from_file: Path, spec: str, known: dict[Path, SourceFile]) -> SourceFile | None:
    """`./schema` from src/a.ts -> src/schema.ts (or .js, /index.ts …) among known files.

    Spelled with strings (the known paths by their POSIX text, indexed once per `known`):
    a Path per candidate cost ~15 object constructions per import. The answers are kept with
    that index, by importing file and specifier (the model and several rules resolve the
    same imports: ~3,600 look-ups for 1,000 files)."""
    if not spec.startswith("."):
        return None
    by_text, resolved = _by_text(known)
    key = (from_file, spec)
    if key in resolved:
        return resolved[key]
    base = posixpath.normpath(posixpath.join(from_file.parent.as_posix(), spec))
    name = base[base.rfind("/") + 1 :]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # Path.suffix
    stem = base[: -len(suffix)] if suffix in {".js", ".mjs", ".cjs", ".jsx"} else base
    found = by_text.get(base)
    if found is None:
        for suffix in (".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".jsx"):
            found = by_text.get(stem + suffix) or by_text.get(f"{base}/index{suffix}")
            if found is not None:
                break
    resolved[key] = found
    return found


# known-file maps by their paths' POSIX text, for the last few `known` dicts (kept alive here,
# so an id is not reused while its entry exists; a dict grown since is indexed again), each
# with resolve_module's answers from it: (importing file, specifier) -> file
_Resolved = dict[tuple[Path, str], SourceFile | None]
_TEXT_INDEXES: list[tuple[dict[Path, SourceFile], int, dict[str, SourceFile], _Resolved]] = []


def _by_text(known: dict[Path, SourceFile]) -> tuple[dict[str, SourceFile], _Resolved]:
    for owner, size, index, resolved in _TEXT_INDEXES:
        if owner is known and size == len(known):
            return index, resolved
    index = {path.as_posix(): file for path, file in known.items()}
    fresh: _Resolved = {}
    _TEXT_INDEXES.insert(0, (known, len(known), index, fresh))
    del _TEXT_INDEXES[2:]
    return index, fresh
    index = {path.as_posix(): file for path, file in known.items()}
    _TEXT_INDEXES.insert(0, (known, len(known), index))
    del _TEXT_INDEXES[2:]
    return index


def _relative_imports(file: SourceFile) -> tuple[tuple[Node, str], ...]:
    """The file's `import … from "./x"` statements with their specifiers (memo)."""
    cached: tuple[tuple[Node, str], ...] | None = file.memo.get("relative_imports")
    if cached is None:
        found = [
            (stmt, spec)
            for stmt, spec in import_statements(file)
            if spec is not None and spec.startswith(".")
        ]
        cached = file.memo["relative_imports"] = tuple(found)
    return cached


def _imported_constants(
    file: SourceFile, known: dict[Path, SourceFile], known_paths: frozenset[Path]
) -> dict[str, tuple[SourceFile, Node]]:
    """imported_constants, reused while the project's file list and the imported files are the
    same (resolving a specifier depends only on which paths exist)."""
    if not _relative_imports(file):
        return {}
    paths = _import_targets(file, known, known_paths)
    targets = tuple(known.get(p) if p is not None else None for p in paths)
    return per_file(file, "imported", targets, lambda: imported_constants(file, known))


def imported_constants(
    file: SourceFile, known: dict[Path, SourceFile]
) -> dict[str, tuple[SourceFile, Node]]:
    """String constants imported from other project files: local name (or ns.NAME) -> literal."""
    result: dict[str, tuple[SourceFile, Node]] = {}
    data = file.data
    for stmt, spec in _relative_imports(file):
        target = resolve_module(file.path, spec, known)
        if target is None:
            continue
        for item in import_items(stmt):
            if item.type == "import_specifier":
                name = item.child_by_field_name("name")
                alias = item.child_by_field_name("alias")
                # the named constants alone (not every constant of the target: sql.string_constant)
                if name is None:
                    continue
                value = string_constant(target, node_text(data, name))
                if value is not None:
                    result[node_text(data, alias or name)] = (target, value)
            else:
                ns = next((c for c in item.named_children if c.type == "identifier"), None)
                if ns is not None:
                    for const, literal in string_constants(target).items():
                        result[f"{node_text(data, ns)}.{const}"] = (target, literal)
    return result


def _state_params(file: SourceFile) -> Aliases:
    cached: Aliases | None = file.memo.get("typed_state_params")
    if cached is None:
        cached = file.memo["typed_state_params"] = typed_state_params(file, file.root)
    return cached


def _file_statements(
    file: SourceFile,
    classes: list[DurableObjectClass],
    known: dict[Path, SourceFile],
    known_paths: frozenset[Path],
    wrapped: dict[int, SqlParam],
) -> list[SqlStatement]:
    if not wrapped and file.lacks(b"exec", b"sql"):
        # no statement whatever the imports say (extract_statements' own check): the imported
        # constants are not looked up (each imported module's constants read)
        return per_file(file, "statements", (tuple(classes), None, ()), list)
    imported = _imported_constants(file, known, known_paths)
    key = (
        tuple(classes),
        tuple((name, target, node.start_byte) for name, (target, node) in imported.items()),
        tuple(sorted(wrapped.items())),
    )

    def extract(scope: Node | None = None) -> list[SqlStatement]:
        return extract_statements(file, classes, _state_params(file), imported, wrapped, scope)

    def compute() -> list[SqlStatement]:
        found = splice.spliced(
            splice.splice_of(file),
            lambda s: splice.statements(s, classes, key[1], wrapped, extract),
        )
        return found if found is not None else extract()

    return per_file(file, "statements", key, compute)


def _summary_key(classes: list[DurableObjectClass]) -> Hashable:
    """What a file's wrapper summary reads from outside the file: its classes, their aliases."""
    return (
        tuple(classes),
        tuple((frozenset(c.aliases.sql), frozenset(c.aliases.storage)) for c in classes),
    )


def _exec_sink_names(file: SourceFile, classes: list[DurableObjectClass]) -> frozenset[str]:
    """The functions of the file handing a parameter to exec() (`sqlwrappers.exec_sinks`),
    reused while its classes and their aliases are the same (a full build in the language
    server asks again of every file)."""
    return per_file(
        file,
        "exec_sinks",
        _summary_key(classes),
        lambda: frozenset(
            sink.func[1] for sink in sqlwrappers.exec_sinks(file, classes, _state_params(file))
        ),
    )


def _light_summary(
    file: SourceFile, classes: list[DurableObjectClass], names: frozenset[str]
) -> FileWrappers | None:
    """The heads-only summary of an edited file whose previous version had one and that still
    hands nothing to exec() and names no wrapper (`splice.light_wrappers`), as a whole build
    would summarize it; its exec() sink names (none) kept for the next version. None: the
    file is summarized in full (`_wrapper_summary`)."""
    key = _summary_key(classes)
    found = splice.spliced(
        splice.splice_of(file),
        lambda s: splice.light_wrappers(s, classes, key, _state_params(file), names),
    )
    if found is None:
        return None
    head, sinks = found
    per_file(file, "exec_sinks", key, lambda: sinks)
    return head


def _whole_light_summary(
    file: SourceFile, classes: list[DurableObjectClass], names: frozenset[str]
) -> FileWrappers | None:
    """`_wrapper_summaries`' answer for one file whose summary is not the previous one's:
    its heads when it hands no parameter to exec() and spells none of `names` (the previous
    model's wrapper names: the file's own no longer count, so the names a whole build would
    find are among them), else None (summarized in full)."""
    head = sqlwrappers.heads(file)
    if head is None:
        return None
    if not file.lacks(b"exec") and _exec_sink_names(file, classes):
        return None
    if names and not file.lacks(*(name.encode() for name in sorted(names))):
        return None
    return head


def _wrapper_summary(file: SourceFile, classes: list[DurableObjectClass]) -> FileWrappers:
    """The file's functions that may hand SQL to exec() (analyzers.sqlwrappers), reused while
    its classes and their aliases are the same."""
    key = _summary_key(classes)

    def compute() -> FileWrappers:
        found = splice.spliced(
            splice.splice_of(file),
            lambda s: splice.wrappers(s, classes, key, _state_params(file)),
        )
        return (
            found if found is not None else summarize_wrappers(file, classes, _state_params(file))
        )

    return per_file(file, "sql_wrappers", key, compute)


def _wrapper_summaries(
    files: list[SourceFile], classes_by_file: dict[Path, list[DurableObjectClass]]
) -> tuple[dict[SourceFile, FileWrappers], frozenset[str]]:
    """Every file's wrapper summary, in file order, as `resolve_wrappers` needs them, and the
    names of the functions that may be wrappers (`sqlwrappers.may_wrap`). A wrapper starts as
    a function handing a parameter to exec(): the files that say `exec` are read for those
    calls alone (`sqlwrappers.exec_sinks`); then only the files that say the name of a
    function that may be a wrapper are summarized in full (every call read), until no new
    name appears. The others' calls can neither make a wrapper nor reach one, and their
    summaries are their classes' bases and their imports (`sqlwrappers.heads`): most files of
    a project, every file of one whose exec() calls are all given SQL text. The same answers
    as summarizing every file in full (tests/test_speed_model.py)."""
    full: dict[SourceFile, FileWrappers] = {}
    light: dict[SourceFile, FileWrappers] = {}
    todo: list[SourceFile] = []
    names: set[str] = set()
    for file in files:
        head = sqlwrappers.heads(file)
        if head is None:
            todo.append(file)
            continue
        light[file] = head
        if not file.lacks(b"exec"):
            names.update(_exec_sink_names(file, classes_by_file.get(file.path, [])))
    if names:
        words = tuple(name.encode() for name in sorted(names))
        todo += [file for file in light if not file.lacks(*words)]
    while todo:
        for file in todo:
            full[file] = _wrapper_summary(file, classes_by_file.get(file.path, []))
            light.pop(file, None)
        found = sqlwrappers.may_wrap(full.values()) | names
        if found <= names:
            break
        fresh = tuple(name.encode() for name in sorted(found - names))
        names = found
        todo = [file for file in light if not file.lacks(*fresh)]
    return {file: full.get(file) or light[file] for file in files}, frozenset(names)


def _loose_statements(
    file: SourceFile, classes: list[DurableObjectClass], used: set[int]
) -> list[SqlStatement]:
    def read(scope: Node | None = None) -> list[SqlStatement]:
        found = loose_statements(file, used, scope)
        locate = class_locator(classes)
        for stmt in found:
            stmt.cls = locate(stmt.literal.start_byte, stmt.literal.end_byte)
        return found

    def compute() -> list[SqlStatement]:
        found = splice.spliced(
            splice.splice_of(file), lambda s: splice.loose(s, classes, used, read)
        )
        return found if found is not None else read()

    return per_file(file, "loose", (tuple(classes), frozenset(used)), compute)


def _import_targets(
    file: SourceFile, known: dict[Path, SourceFile], known_paths: frozenset[Path]
) -> tuple[Path | None, ...]:
    """The paths the file's relative imports resolve to (memo; see _imported_constants)."""
    imports = _relative_imports(file)
    if not imports:
        return ()
    return per_file(
        file,
        "import_paths",
        known_paths,
        lambda: tuple(
            target.path if (target := resolve_module(file.path, spec, known)) else None
            for _, spec in imports
        ),
    )


_FILE_OF = operator.attrgetter("file")
_CALL_FILE_OF = operator.attrgetter("call_file")


def _literal_starts_and_keys(
    statements: list[SqlStatement], file: SourceFile | None = None
) -> tuple[set[int], list[tuple[Path, int, int]]]:
    """{s.literal_start()} and [_dedupe_key(s)] of a file's statements in one pass, the
    statements the splice moved (splice.MovedStatement) read from their places as numbers;
    those the splice of `file` read while moving them when `statements` is its list."""
    spliced = file.memo.get("splice") if file is not None else None
    if spliced is not None and spliced.literals is not None:
        found, starts, known = spliced.literals
        spliced.literals = None  # taken once: the caller extends the keys
        if found is statements:
            return set(starts), known
    used: set[int] = set()
    keys: list[tuple[Path, int, int]] = []
    add, append = used.add, keys.append
    for stmt in statements:
        d = stmt.__dict__
        moved = d.get("_moved")
        if moved is not None and "literal" not in d and "call" not in d and "offsets" not in d:
            call_place, literal_place, base, shift = moved
            add((literal_place or call_place)[0])
            append((d["file"].path, base[0] + shift if base else 0, d["index_in_call"]))
        else:
            add(stmt.literal_start())
            append(_dedupe_key(stmt))
    return used, keys


# (file path, first SQL offset, index in its call): the same constant run from two places is
# one statement (splice.dedupe_key: a moved statement's from its places as numbers)
_dedupe_key: Callable[[SqlStatement], tuple[Path, int, int]] = splice.dedupe_key


def _find_sql(model: ProjectModel, state: _State) -> None:
    known = {f.path: f for f in model.files}
    known_paths = frozenset(known)
    classes_by_file = state.classes_by_file
    summaries, state.wrapper_names = _wrapper_summaries(model.files, classes_by_file)
    wrapped = resolve_wrappers(summaries, lambda file, spec: resolve_module(file.path, spec, known))
    executed: list[list[SqlStatement]] = []
    for file in model.files:
        classes = classes_by_file.get(file.path, [])
        executed.append(_file_statements(file, classes, known, known_paths, wrapped.get(file, {})))
    used_literals: dict[Path, set[int]] = {}
    for stmts in executed:
        for stmt in stmts:
            used_literals.setdefault(stmt.file.path, set()).add(stmt.literal_start())
    loose: list[list[SqlStatement]] = []
    for file in model.files:
        classes = classes_by_file.get(file.path, [])
        loose.append(_loose_statements(file, classes, used_literals.get(file.path, set())))
    # the same constant run from two places is still one statement in the source (each
    # statement's key computed once: the dedupe and the per-file lists below both need it)
    unique: dict[tuple[Path, int, int], SqlStatement] = {}
    first = unique.setdefault
    kept: set[int] = set()  # id() of the statements kept (all alive in `executed`/`loose`)
    for stmts in executed + loose:
        for stmt in stmts:
            if first(_dedupe_key(stmt), stmt) is stmt:
                kept.add(id(stmt))
    model.statements = list(unique.values())
    # per file, for _splice: what it yielded (after the dedupe), what it read from elsewhere
    state.known = known
    state.known_paths = known_paths
    state.wrapped = {file.path: calls for file, calls in wrapped.items()}
    state.summaries = {file.path: summary for file, summary in summaries.items()}
    for file, ran, free in zip(model.files, executed, loose, strict=True):
        path = file.path
        if not ran and not free:  # most files: no SQL
            state.executed[path] = []
            state.loose[path] = []
            state.own_sql[path] = True
        else:
            state.executed[path] = [s for s in ran if id(s) in kept]
            state.loose[path] = [s for s in free if id(s) in kept]
            state.own_sql[path] = all(s.file is file and s.call_file is file for s in ran) and all(
                s.file is file for s in free
            )
        for target in _import_targets(file, known, known_paths):
            if target is not None:
                state.importers.setdefault(target, set()).add(path)
    for stmt in model.statements:
        # a file whose literals another file's exec runs: its statements are not its own
        if stmt.call_file is not stmt.file:
            state.own_sql[stmt.file.path] = False


def _find_namespace_accesses(model: ProjectModel, state: _State) -> None:
    bindings = frozenset(b.name for c in model.configs for b in c.bindings)
    state.bindings = bindings
    for file in model.files:
        found = per_file(
            file, "namespace_accesses", bindings, partial(_accesses_of, file, bindings)
        )
        state.accesses[file.path] = found
        model.namespace_accesses.extend(found)


def _accesses_of(file: SourceFile, bindings: frozenset[str]) -> list[NamespaceAccess]:
    found = splice.spliced(
        splice.splice_of(file),
        lambda s: splice.accesses(s, bindings, lambda scope: _accesses_in(file, bindings, scope)),
    )
    return found if found is not None else _accesses_in(file, bindings)


def _accesses_in(
    file: SourceFile, bindings: frozenset[str], scope: Node | None = None
) -> list[NamespaceAccess]:
    found: list[NamespaceAccess] = []
    data = file.data
    for call in _access_candidates(file, scope):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        prop = func.child_by_field_name("property")
        obj = func.child_by_field_name("object")
        if prop is None or obj is None:
            continue
        method = node_text(data, prop)
        if method not in NAMESPACE_METHODS:
            continue
        receiver = normalize_expr(node_text(data, obj))
        binding = receiver.rsplit(".", 1)[-1]
        # env.X / this.env.X / c.env.X (Hono) — or any known binding name
        if not (binding in bindings or ".env." in f".{receiver}" or receiver.startswith("env.")):
            continue
        if method == "get" and binding not in bindings:
            continue  # `env.KV.get()` is a KV namespace, not a DO namespace
        args = call_args(call)
        found.append(NamespaceAccess(file, call, binding, method, args[0] if args else None))
    return found


_METHOD_WORDS = tuple(sorted(m.encode() for m in NAMESPACE_METHODS))
_MAX_HITS = 256  # more method names than this in a file: its calls are walked instead


def _access_candidates(file: SourceFile, scope: Node | None) -> list[Node]:
    """The calls of the file (inside `scope`) that may be namespace accesses, in pre-order: a
    call `x.m(…)` whose property `m` is a namespace method's name where that name occurs as a
    whole word in the file's bytes, found by a descent from the root to each occurrence (no
    walk of every call, no node index: most files name no namespace method, or only a few
    `get`s). With many occurrences, or a syntax error in the tree, every call is walked as
    before."""
    root = file.root
    node = scope or root
    lo, hi = node.start_byte, node.end_byte
    hits = None if root.has_error else word_hits(file.data, _METHOD_WORDS, lo, hi, _MAX_HITS)
    if hits is None:
        return list(walk_type(node, "call_expression"))
    found: dict[tuple[int, int], Node] = {}
    cursor = root.walk()
    for at in hits:
        path = node_at(cursor, root, at, 2)
        if len(path) < 3:
            continue
        prop, func, call = path
        if (
            prop.start_byte == at
            and func.type == "member_expression"
            and call.type == "call_expression"
            and lo <= call.start_byte
            and call.end_byte <= hi
        ):
            found[(call.start_byte, -call.end_byte)] = call
    return [found[key] for key in sorted(found)]


def iter_calls(file: SourceFile, scope: Node | None = None) -> Iterable[Node]:
    return walk_type(scope or file.root, "call_expression")


__all__ = ["NamespaceAccess", "Problem", "ProjectModel", "build_model", "walk"]
