"""The project model: built once per analysis, shared by every rule."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar

from tree_sitter import Node

from durable_harden.analyzers import splice
from durable_harden.analyzers.classes import (
    Aliases,
    DurableObjectClass,
    _base_identifier,
    class_declarations,
    class_locator,
    exported_names,
    find_classes,
    heritage,
    typed_state_params,
)
from durable_harden.analyzers.exports import export_aliases
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.source import SourceError, SourceFile, language_for, read_source
from durable_harden.analyzers.sql import (
    SqlParam,
    SqlStatement,
    extract_statements,
    loose_statements,
    string_constants,
)
from durable_harden.analyzers.sqlwrappers import FileWrappers
from durable_harden.analyzers.sqlwrappers import resolve as resolve_wrappers
from durable_harden.analyzers.sqlwrappers import summarize as summarize_wrappers
from durable_harden.analyzers.tsutil import (
    call_args,
    node_text,
    normalize_expr,
    string_value,
    walk,
    walk_type,
)
from durable_harden.analyzers.wrangler import ConfigError, WranglerConfig, load_config

NAMESPACE_METHODS = frozenset(
    {"idFromName", "getByName", "newUniqueId", "idFromString", "get", "jurisdiction"}
)


@dataclass(frozen=True)
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

    def configs_binding(self, class_name: str) -> list[WranglerConfig]:
        return [c for c in self.configs if any(b.class_name == class_name for b in c.bindings)]

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
        for stmt in self.statements:
            path = stmt.file.path
            root = roots.get(path)
            if root is None:
                root = roots[path] = self._scope_root(path)
            by_root.setdefault(root, []).append(stmt)
        return by_root

    @cached_property
    def _schemas(self) -> dict[Path, Schema]:
        by_root = self._statements_by_scope
        schemas = {root: Schema(stmts) for root, stmts in by_root.items()}
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
        return [c for c in self.classes if c.name == name]

    def file(self, path: Path) -> SourceFile | None:
        # asked once per finding and per edit by rules, fixes and the planner: index by path
        by_path = self.memo.get("files_by_path")
        if by_path is None or len(by_path) != len(self.files):
            by_path = self.memo["files_by_path"] = {f.path: f for f in self.files}
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
) -> ProjectModel:
    """Read and parse every file, then find classes, SQL and namespace accesses.

    overlays: buffer contents that win over the disk (open editor documents).
    parsed: files already parsed by the caller (the language server's cache), used as they are.
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
    _find_classes(model)
    _find_sql(model)
    _find_namespace_accesses(model)
    return model


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

    def compute() -> list[DurableObjectClass]:
        found = splice.spliced(
            splice.splice_of(file),
            lambda s: splice.classes(s, s.old.memo.get("model:classes", {}), key),
        )
        return found if found is not None else find_classes(file, set(key[0]), set(key[1]))

    return per_file(file, "classes", key, compute)


def _named_by(config: WranglerConfig) -> set[str]:
    # bindings, and classes a migration or the `exports` block creates (Durable Objects too,
    # reached through `ctx.exports` without a binding)
    return {b.class_name for b in config.bindings} | config.declared_classes()


def _find_classes(model: ProjectModel) -> None:
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
    # Subclasses of DO classes may live in files read before their base: iterate to a fixpoint.
    for _ in range(5):
        before = len(found)
        for file in model.files:
            for cls in _classes_in(file, known, bound_for(file)):
                key = cls.node.start_byte ^ hash(cls.file.path)
                if key not in found:
                    found[key] = cls
                    known.add(cls.name)
        if len(found) == before:
            break
    model.classes = sorted(found.values(), key=lambda c: (str(c.file.path), c.node.start_byte))
    _inherit_aliases(model)
    # a class exported under its own name from the module that declares it
    for cls in model.classes:
        cls.exported = cls.name in exported_names(cls.file)


def _inherit_aliases(model: ProjectModel) -> None:
    """A subclass reaches its state through the aliases its base class defines (`this.db =
    ctx.storage.sql` in the base, `this.db.exec(…)` in the subclass), also across files. The
    base is looked for in the subclass's own Worker project first."""
    by_name: dict[str, list[DurableObjectClass]] = {}
    for cls in model.classes:
        by_name.setdefault(cls.name, []).append(cls)
    own: dict[int, Aliases] = {}
    for cls in model.classes:
        # the class's own aliases (a cached class object may carry a merge from a former model)
        own[id(cls)] = cls.__dict__.setdefault("_own_aliases", cls.aliases)

    def base_of(cls: DurableObjectClass) -> DurableObjectClass | None:
        candidates = [c for c in by_name.get(cls.base or "", []) if c is not cls]
        config = model.config_for_path(cls.file.path)
        same = [c for c in candidates if model.config_for_path(c.file.path) is config]
        pool = same or candidates
        return pool[0] if pool else None

    for cls in model.classes:
        merged = own[id(cls)]
        seen = {id(cls)}
        base = base_of(cls)
        while base is not None and id(base) not in seen:
            seen.add(id(base))
            merged = merged.merged(own[id(base)])
            base = base_of(base)
        cls.aliases = merged


def resolve_module(from_file: Path, spec: str, known: dict[Path, SourceFile]) -> SourceFile | None:
    """`./schema` from src/a.ts -> src/schema.ts (or .js, /index.ts …) among known files.

    Spelled with strings (the known paths by their POSIX text, indexed once per `known`):
    a Path per candidate cost ~15 object constructions per import."""
    if not spec.startswith("."):
        return None
    base = posixpath.normpath(posixpath.join(from_file.parent.as_posix(), spec))
    name = base[base.rfind("/") + 1 :]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # Path.suffix
    stem = base[: -len(suffix)] if suffix in {".js", ".mjs", ".cjs", ".jsx"} else base
    by_text = _by_text(known)
    found = by_text.get(base)
    if found is not None:
        return found
    for suffix in (".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".jsx"):
        found = by_text.get(stem + suffix) or by_text.get(f"{base}/index{suffix}")
        if found is not None:
            return found
    return None


# known-file maps by their paths' POSIX text, for the last few `known` dicts (kept alive here,
# so an id is not reused while its entry exists; a dict grown since is indexed again)
_TEXT_INDEXES: list[tuple[dict[Path, SourceFile], int, dict[str, SourceFile]]] = []


def _by_text(known: dict[Path, SourceFile]) -> dict[str, SourceFile]:
    for owner, size, index in _TEXT_INDEXES:
        if owner is known and size == len(known):
            return index
    index = {path.as_posix(): file for path, file in known.items()}
    _TEXT_INDEXES.insert(0, (known, len(known), index))
    del _TEXT_INDEXES[2:]
    return index


def _relative_imports(file: SourceFile) -> tuple[tuple[Node, str], ...]:
    """The file's `import … from "./x"` statements with their specifiers (memo)."""
    cached: tuple[tuple[Node, str], ...] | None = file.memo.get("relative_imports")
    if cached is None:
        found: list[tuple[Node, str]] = []
        for stmt in file.root.named_children:
            if stmt.type != "import_statement":
                continue
            source = stmt.child_by_field_name("source")
            spec = string_value(file.data, source) if source is not None else None
            if spec is not None and spec.startswith("."):
                found.append((stmt, spec))
        cached = file.memo["relative_imports"] = tuple(found)
    return cached


def _imported_constants(
    file: SourceFile, known: dict[Path, SourceFile], known_paths: frozenset[Path]
) -> dict[str, tuple[SourceFile, Node]]:
    """imported_constants, reused while the project's file list and the imported files are the
    same (resolving a specifier depends only on which paths exist)."""
    imports = _relative_imports(file)
    if not imports:
        return {}
    paths = per_file(
        file,
        "import_paths",
        known_paths,
        lambda: tuple(
            target.path if (target := resolve_module(file.path, spec, known)) else None
            for _, spec in imports
        ),
    )
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
        constants = string_constants(target)
        for item in walk_type(stmt, "import_specifier", "namespace_import"):
            if item.type == "import_specifier":
                name = item.child_by_field_name("name")
                alias = item.child_by_field_name("alias")
                if name is not None and node_text(data, name) in constants:
                    result[node_text(data, alias or name)] = (
                        target,
                        constants[node_text(data, name)],
                    )
            else:
                ns = next((c for c in item.named_children if c.type == "identifier"), None)
                if ns is not None:
                    for const, literal in constants.items():
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


def _wrapper_summary(file: SourceFile, classes: list[DurableObjectClass]) -> FileWrappers:
    """The file's functions that may hand SQL to exec() (analyzers.sqlwrappers), reused while
    its classes and their aliases are the same."""
    key = (
        tuple(classes),
        tuple((frozenset(c.aliases.sql), frozenset(c.aliases.storage)) for c in classes),
    )

    def compute() -> FileWrappers:
        found = splice.spliced(
            splice.splice_of(file),
            lambda s: splice.wrappers(s, classes, key, _state_params(file)),
        )
        return (
            found if found is not None else summarize_wrappers(file, classes, _state_params(file))
        )

    return per_file(file, "sql_wrappers", key, compute)


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


def _find_sql(model: ProjectModel) -> None:
    known = {f.path: f for f in model.files}
    known_paths = frozenset(known)
    classes_by_file: dict[Path, list[DurableObjectClass]] = {}
    for cls in model.classes:
        classes_by_file.setdefault(cls.file.path, []).append(cls)
    summaries = {
        file: _wrapper_summary(file, classes_by_file.get(file.path, [])) for file in model.files
    }
    wrapped = resolve_wrappers(summaries, lambda file, spec: resolve_module(file.path, spec, known))
    statements: list[SqlStatement] = []
    for file in model.files:
        classes = classes_by_file.get(file.path, [])
        statements.extend(
            _file_statements(file, classes, known, known_paths, wrapped.get(file, {}))
        )
    used_literals: dict[Path, set[int]] = {}
    for stmt in statements:
        used_literals.setdefault(stmt.file.path, set()).add(stmt.literal.start_byte)
    for file in model.files:
        classes = classes_by_file.get(file.path, [])
        statements.extend(_loose_statements(file, classes, used_literals.get(file.path, set())))
    # the same constant run from two places is still one statement in the source
    unique: dict[tuple[Path, int, int], SqlStatement] = {}
    for stmt in statements:
        key = (stmt.file.path, stmt.offsets[0] if stmt.offsets else 0, stmt.index_in_call)
        unique.setdefault(key, stmt)
    model.statements = list(unique.values())


def _find_namespace_accesses(model: ProjectModel) -> None:
    bindings = frozenset(b.name for c in model.configs for b in c.bindings)
    for file in model.files:
        model.namespace_accesses.extend(
            per_file(file, "namespace_accesses", bindings, partial(_accesses_of, file, bindings))
        )


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
    for call in walk_type(scope or file.root, "call_expression"):
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


def iter_calls(file: SourceFile, scope: Node | None = None) -> Iterable[Node]:
    return walk_type(scope or file.root, "call_expression")


__all__ = ["NamespaceAccess", "Problem", "ProjectModel", "build_model", "walk"]
