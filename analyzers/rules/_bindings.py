"""Shared look-ups for the identity and wrangler-config rules.

- which module a config's `main` is, and whether a name is a named export of it (following
  `export { X } from "./x"`, `export { A as X } from`, `export * from` chains);
- which Durable Object classes a namespace access (`env.BINDING.idFromName(...)`) reaches,
  through the wrangler config that governs the calling file;
- which classes a config (or one of its `env.<name>` sections) declares through migrations or
  the top-level `exports` block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.exports import export_entries
from durable_harden.analyzers.model import NamespaceAccess, ProjectModel, resolve_module
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    call_args,
    enclosing_function,
    node_text,
    normalize_expr,
    walk_type,
)
from durable_harden.analyzers.wrangler import DurableObjectBinding, WranglerConfig

# Ways of reaching an object by name: `this.ctx.id.name` is populated inside the object.
NAMED_ID_METHODS = frozenset({"idFromName", "getByName"})
# Ways of reaching an object without a name: `this.ctx.id.name` is undefined inside it.
UNNAMED_ID_METHODS = frozenset({"newUniqueId", "idFromString"})


# -- exports of the main module ---------------------------------------------------------------


def exports_name(
    file: SourceFile,
    name: str,
    known: dict[Path, SourceFile],
    _seen: frozenset[Path] = frozenset(),
) -> bool | None:
    """Is `name` a named export of `file`? True, False, or None when a re-export chain leaves
    the analysed files (a package, a file we did not read) and the answer is unknown."""
    if file.path in _seen:
        return False
    seen = _seen | {file.path}
    unknown = False
    for entry in export_entries(file):
        if entry.exported == name and entry.module is None:
            return True
        if entry.exported == name and entry.module is not None and entry.local is not None:
            target = resolve_module(file.path, entry.module, known)
            if target is None:
                unknown = True
                continue
            answer = exports_name(target, entry.local, known, seen)
            if answer is None:
                unknown = True
            elif answer:
                return True
            else:
                # `export { X } from "./x"` where ./x does not export X: still "exported" as
                # far as this module's syntax goes, but broken; report as not exported
                continue
        if entry.exported == "*" and entry.module is not None and name != "default":
            target = resolve_module(file.path, entry.module, known)
            if target is None:
                unknown = True
                continue
            answer = exports_name(target, name, known, seen)
            if answer:
                return True
            if answer is None:
                unknown = True
    if file.error_ranges:
        # a file with syntax errors may export `name` in a part tree-sitter could not read:
        # unknown, not "not exported" (a fix adding the export again would never converge)
        return None
    return None if unknown else False


def main_module_path(config: WranglerConfig, env: str | None) -> Path | None:
    """The entry module for the top level or an `env.<name>` section (which may override it)."""
    if env is not None:
        section = config.envs.get(env, {})
        value = section.get("main")
        if isinstance(value, str):
            return (config.root / value).resolve()
    return config.main


def main_module(model: ProjectModel, config: WranglerConfig, env: str | None) -> SourceFile | None:
    """The analysed entry module of the config (or its env section). Once per (config, env)
    and model: each binding asked, and the path is resolved on the file system."""
    memo: dict[tuple[int, str | None], tuple[WranglerConfig, SourceFile | None]] = (
        model.memo.setdefault("bindings:main_module", {})
    )
    entry = memo.get((id(config), env))
    if entry is None or entry[0] is not config:
        path = main_module_path(config, env)
        entry = memo[(id(config), env)] = (
            config,
            model.file(path) if path is not None else None,
        )
    return entry[1]


def known_files(model: ProjectModel) -> dict[Path, SourceFile]:
    """Every file by its path (the model's shared index: read only)."""
    return model.files_by_path()


# -- classes a config declares ----------------------------------------------------------------


def _live_from_migrations(items: Any) -> set[str]:
    live: set[str] = set()
    if not isinstance(items, list):
        return live
    for item in items:
        if not isinstance(item, dict):
            continue
        for key in ("new_classes", "new_sqlite_classes"):
            value = item.get(key)
            if isinstance(value, list):
                live.update(str(v) for v in value)
        for renamed in item.get("renamed_classes") or []:
            if isinstance(renamed, dict):
                live.discard(str(renamed.get("from")))
                live.add(str(renamed.get("to")))
        for transferred in item.get("transferred_classes") or []:
            if isinstance(transferred, dict):
                live.add(str(transferred.get("to")))
        deleted = item.get("deleted_classes")
        if isinstance(deleted, list):
            live.difference_update(str(v) for v in deleted)
    return live


def _live_from_exports(block: Any) -> set[str]:
    live: set[str] = set()
    if not isinstance(block, dict):
        return live
    for name, item in block.items():
        if isinstance(item, dict) and item.get("type") == "durable-object":
            if item.get("state", "created") != "deleted":
                live.add(str(name))
    return live


def declared_classes(config: WranglerConfig, env: str | None) -> set[str]:
    """Classes created by migrations or an `exports` entry, for the top level or an env.

    An env section may carry its own `migrations`/`exports`; the top-level ones count too
    (wrangler inherits them when the env does not override them), so the union is taken: a
    binding is reported only when no section anywhere could create its class.
    """
    live = set(config.declared_classes())
    live |= _live_from_migrations(config.values.get("migrations"))
    live |= _live_from_exports(config.values.get("exports"))
    if env is not None:
        section = config.envs.get(env, {})
        live |= _live_from_migrations(section.get("migrations"))
        live |= _live_from_exports(section.get("exports"))
    return live


def uses_exports_style(config: WranglerConfig) -> bool:
    """The config declares its classes in the top-level `exports` block, not migrations."""
    return isinstance(config.values.get("exports"), dict) and not isinstance(
        config.values.get("migrations"), list
    )


def local_bindings(config: WranglerConfig) -> Iterator[DurableObjectBinding]:
    """Bindings to classes of this Worker (a `script_name` binding names another Worker's)."""
    for binding in config.bindings:
        if binding.script_name is None or binding.script_name == config.name:
            yield binding


# -- namespace accesses -> classes ------------------------------------------------------------


def classes_of_access(model: ProjectModel, access: NamespaceAccess) -> set[str]:
    """Class names a namespace access reaches, through the config governing the caller (any
    config binding that name when the caller's own config does not)."""
    known = _access_classes(model)
    names = known.get(access)
    if names is None:
        names = known[access] = _classes_of_access(model, access)
    return set(names)


def _classes_of_access(model: ProjectModel, access: NamespaceAccess) -> frozenset[str]:
    config = model.config_for_path(access.file.path)
    names = model.classes_for_binding(config, access.binding) if config is not None else []
    if not names:
        names = model.classes_for_binding(None, access.binding)
    return frozenset(names)


def _access_classes(model: ProjectModel) -> dict[NamespaceAccess, frozenset[str]]:
    """Per model (model.memo): every namespace access -> the class names it reaches. Each
    answer is also kept on the access under the configs it read (by identity), so an unchanged
    file's accesses are not looked up again in the next model."""
    known: dict[NamespaceAccess, frozenset[str]] | None = model.memo.get("access_classes")
    if known is None and _from_previous(model):
        known = model.memo["access_classes"]
    if known is None:
        configs = tuple(model.configs)
        known = {}
        for access in model.namespace_accesses:
            kept = access.__dict__.get("_classes")
            if (
                kept is None
                or len(kept[0]) != len(configs)
                or any(a is not b for a, b in zip(kept[0], configs, strict=True))
            ):
                kept = access.__dict__["_classes"] = (configs, _classes_of_access(model, access))
            known[access] = kept[1]
        model.memo["access_classes"] = known
    return known


def _from_previous(model: ProjectModel) -> bool:
    """The access indexes of a model spliced from the previous one (analyzers.model._splice),
    from that model's: the edited files' accesses replaced, in place (model order kept). False
    when the previous model has none, the configs differ, or an edited file's accesses to a
    class have no place yet in that class's list."""
    from durable_harden.analyzers.model import _replace_block, spliced_from

    found = spliced_from(model)
    if found is None:
        return False
    previous, splice = found
    before: dict[NamespaceAccess, frozenset[str]] | None = previous.memo.get("access_classes")
    by_class: dict[str, list[NamespaceAccess]] | None = previous.memo.get("accesses_by_class")
    if (
        before is None
        or by_class is None
        or len(previous.configs) != len(model.configs)
        or any(
            a is not b and (a.path != b.path or a.data != b.data)
            for a, b in zip(previous.configs, model.configs, strict=True)
        )
    ):
        return False
    known = dict(before)
    by_class = dict(by_class)
    for old_accesses, new_accesses in splice.accesses:
        for access in old_accesses:
            known.pop(access, None)
        for access in new_accesses:
            known[access] = _classes_of_access(model, access)
        names = {n for a in old_accesses for n in before.get(a, ())}
        names |= {n for a in new_accesses for n in known[a]}
        for name in names:
            replaced = _replace_block(
                by_class.get(name, []),
                [a for a in old_accesses if name in before.get(a, ())],
                [a for a in new_accesses if name in known[a]],
            )
            if replaced is None:
                return False
            if replaced:
                by_class[name] = replaced
            else:
                by_class.pop(name, None)
    model.memo["access_classes"] = known
    model.memo["accesses_by_class"] = by_class
    return True


def accesses_to(model: ProjectModel, cls: DurableObjectClass) -> list[NamespaceAccess]:
    by_class: dict[str, list[NamespaceAccess]] | None = model.memo.get("accesses_by_class")
    if by_class is None:
        known = _access_classes(model)
        # carried over from the previous model with `access_classes` (_from_previous): a
        # keystroke's model has it without walking the project's accesses again
        by_class = model.memo.get("accesses_by_class")
    if by_class is None:
        by_class = {}
        for access, names in known.items():
            for name in names:
                by_class.setdefault(name, []).append(access)
        model.memo["accesses_by_class"] = by_class
    return list(by_class.get(cls.name, []))


def id_methods(accesses: Iterable[NamespaceAccess]) -> set[str]:
    """How the object ids are made (`get`/`jurisdiction` only pass an id along)."""
    return {a.method for a in accesses if a.method in NAMED_ID_METHODS | UNNAMED_ID_METHODS}


# -- stubs and the calls made on them -----------------------------------------------------------


@dataclass(eq=False)
class StubCall:
    """`<stub of cls>.method(args)` somewhere in the project."""

    file: SourceFile
    call: Node  # the call_expression
    method: str
    args: list[Node]
    access: NamespaceAccess
    name_expr: str | None  # normalised text of the name the id was made from, if by name


def _scope_of(node: Node) -> Node:
    scope = enclosing_function(node)
    while scope is not None and scope.type == "arrow_function":
        outer = enclosing_function(scope)
        if outer is None:
            break
        scope = outer
    root = node
    while root.parent is not None:
        root = root.parent
    return scope or root


def _declared_value(file: SourceFile, scope: Node, name: str, before: int) -> Node | None:
    """The value of the last `const|let name = value` in scope (of `file`) before an offset."""
    data = file.data
    found: Node | None = None
    for decl in walk_type(scope, "variable_declarator", file=file):
        target = decl.child_by_field_name("name")
        value = decl.child_by_field_name("value")
        if target is None or value is None or decl.start_byte > before:
            continue
        if target.type == "identifier" and node_text(data, target) == name:
            found = value
    if found is None:
        # `id = env.X.idFromString(s)` assigned after a `let id;`
        for assign in walk_type(scope, "assignment_expression", file=file):
            left, right = assign.child_by_field_name("left"), assign.child_by_field_name("right")
            if left is None or right is None or assign.start_byte > before:
                continue
            if left.type == "identifier" and node_text(data, left) == name:
                found = right
    return found


def _unwrap(node: Node) -> Node:
    while node.type in {"await_expression", "parenthesized_expression", "non_null_expression"}:
        inner = next((c for c in node.named_children if c.type != "comment"), None)
        if inner is None:
            break
        node = inner
    return node


def access_name_expr(model: ProjectModel, access: NamespaceAccess) -> str | None:
    """The name behind an access: `getByName(n)` / `idFromName(n)` -> n; `get(id)` follows the id
    to an `idFromName(n)` in the same function. None when the id was not made from a name."""
    data = access.file.data
    if access.method in NAMED_ID_METHODS:
        return normalize_expr(node_text(data, access.argument)) if access.argument else None
    if access.method != "get" or access.argument is None:
        return None
    arg = _unwrap(access.argument)
    if arg.type == "identifier":
        value = _declared_value(
            access.file, _scope_of(access.node), node_text(data, arg), arg.start_byte
        )
        if value is None:
            return None
        arg = _unwrap(value)
    by_node: dict[Node, NamespaceAccess] | None = model.memo.get("access_by_node")
    if by_node is None:  # once per model, not a scan of every access per access
        by_node = {}
        for candidate in model.namespace_accesses:
            by_node.setdefault(candidate.node, candidate)
        model.memo["access_by_node"] = by_node
    inner = by_node.get(arg)
    if inner is not None and inner.method == "idFromName" and inner.argument is not None:
        return normalize_expr(node_text(data, inner.argument))
    return None


def stub_expressions(access: NamespaceAccess) -> tuple[Node, str | None]:
    """The stub expression an access yields (`getByName`/`get` call) and the variable holding
    it when it is stored (`const stub = env.X.getByName(n)`)."""
    data = access.file.data
    node = access.node
    parent = node.parent
    while parent is not None and parent.type in {"await_expression", "parenthesized_expression"}:
        parent = parent.parent
    if parent is not None and parent.type == "variable_declarator":
        target = parent.child_by_field_name("name")
        if target is not None and target.type == "identifier":
            return node, node_text(data, target)
    return node, None


def stub_calls(model: ProjectModel, cls: DurableObjectClass) -> list[StubCall]:
    """Calls of methods on stubs of `cls`: `env.X.getByName(n).m()`, `stub.m()` after
    `const stub = env.X.get(env.X.idFromName(n))`, …

    Computed once per (model, class): several rules ask (model.memo["stub_calls"])."""
    known: dict[DurableObjectClass, list[StubCall]] = model.memo.setdefault("stub_calls", {})
    calls = known.get(cls)
    if calls is None:
        calls = known[cls] = _stub_calls(model, cls)
    return list(calls)


def _stub_calls(model: ProjectModel, cls: DurableObjectClass) -> list[StubCall]:
    calls: list[StubCall] = []
    for access in accesses_to(model, cls):
        if access.method not in {"getByName", "get"}:
            continue
        data = access.file.data
        name = access_name_expr(model, access)
        node, variable = stub_expressions(access)
        candidates: list[Node] = []
        member = node.parent
        if member is not None and member.type == "member_expression":
            call = member.parent
            if call is not None and call.type == "call_expression":
                candidates.append(call)
        if variable is not None:
            for call in walk_type(_scope_of(node), "call_expression", file=access.file):
                func = call.child_by_field_name("function")
                if (
                    func is None
                    or func.type != "member_expression"
                    or call.start_byte < node.end_byte
                ):
                    continue
                obj = func.child_by_field_name("object")
                if (
                    obj is not None
                    and obj.type == "identifier"
                    and node_text(data, obj) == variable
                ):
                    candidates.append(call)
        for call in candidates:
            func = call.child_by_field_name("function")
            prop = func.child_by_field_name("property") if func is not None else None
            if prop is None:
                continue
            calls.append(
                StubCall(access.file, call, node_text(data, prop), call_args(call), access, name)
            )
    return calls


def all_stub_calls(model: ProjectModel) -> list[StubCall]:
    """Stub calls for every Durable Object class, each call once."""
    cached: list[StubCall] | None = model.memo.get("all_stub_calls")
    if cached is None:
        cached = model.memo["all_stub_calls"] = _all_stub_calls(model)
    return list(cached)


def _all_stub_calls(model: ProjectModel) -> list[StubCall]:
    seen: set[tuple[Path, int]] = set()
    calls: list[StubCall] = []
    for cls in model.classes:
        for call in stub_calls(model, cls):
            key = (call.file.path, call.call.start_byte)
            if key not in seen:
                seen.add(key)
                calls.append(call)
    return calls
