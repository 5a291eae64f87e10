"""rpc-result-not-disposed: an RPC result that holds stubs, kept without `using`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import HANDLER_METHODS, DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel, spliced_from
from durable_harden.analyzers.reuse import REACH_FACTS
from durable_harden.analyzers.rules._bindings import stub_calls
from durable_harden.analyzers.rules._common import REF_RULES, node_span, rpc_target_classes
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, walk_type

DOCS = RuleDocs(
    what="""
Reports `const x = await stub.m()` when the Durable Object method `m` returns something that
holds stubs: an instance of a class extending `RpcTarget`, or a function (both cross the RPC
boundary as stubs). Results kept with `using` are not reported.
""",
    why="""
Stubs inside an RPC result keep the remote object (and the connection to it) alive until they
are disposed. Without disposal the runtime logs "An RPC result was not disposed properly" and
holds the resources until garbage collection, which may be never in a busy isolate.
""",
    example="""
```ts
const session = await env.ROOMS.getByName(room).open(user);  // reported
using session = await env.ROOMS.getByName(room).open(user);  // fixed: disposed at scope end
```
""",
    references=(f"{REF_RULES} (dispose RPC results that hold stubs)",),
)


def _rpc_targets(model: ProjectModel) -> set[str]:
    """The project's RpcTarget class names (once per model: model.memo; a copy)."""
    cached: frozenset[str] | None = model.memo.get("rpc_targets")
    if cached is None:
        cached = _from_previous(model)
        if cached is not None:
            model.memo["rpc_targets"] = cached
    if cached is None:
        names: set[str] = set()
        for file in model.files:
            names.update(_file_rpc_targets(file))
        cached = model.memo["rpc_targets"] = frozenset(names)
    return set(cached)


def _from_previous(model: ProjectModel) -> frozenset[str] | None:
    """The previous model's names, when the model was spliced from it (analyzers.model) and the
    edited files declare the same RpcTarget classes as before."""
    found = spliced_from(model)
    if found is None:
        return None
    previous, splice = found
    names: frozenset[str] | None = previous.memo.get("rpc_targets")
    if names is None or any(
        _file_rpc_targets(old) != _file_rpc_targets(new) for old, new in splice.files
    ):
        return None
    return names


def _file_rpc_targets(file: SourceFile) -> frozenset[str]:
    """The file's classes extending RpcTarget."""
    return frozenset(rpc_target_classes(file))


_WORD = re.compile(r"\w+")


def returns_stubs(cls: DurableObjectClass, method: Node, targets: set[str]) -> bool:
    data = cls.file.data
    ret_type = method.child_by_field_name("return_type")
    if ret_type is not None and targets:
        text = node_text(data, ret_type)
        # a target named as a whole word: a name of word characters is one of the text's
        # words; others (a `$` in the name) by the pattern
        if not targets.isdisjoint(_WORD.findall(text)) or any(
            re.search(rf"\b{re.escape(t)}\b", text) for t in targets if not _WORD.fullmatch(t)
        ):
            return True
    for ret in walk_type(method, "return_statement"):
        value = next((c for c in ret.named_children if c.type != "comment"), None)
        if value is None:
            continue
        if value.type == "new_expression":
            ctor = value.child_by_field_name("constructor")
            if ctor is not None and node_text(data, ctor) in targets:
                return True
        if value.type in {"arrow_function", "function_expression"}:
            return True
    return False


def check(model: ProjectModel) -> Iterator[Finding]:
    targets = _rpc_targets(model)
    for cls in model.classes:
        methods = cls.methods
        # whether a method returns stubs, asked only for the methods a call site reaches (a
        # class of thousands of methods is called through a few of them); an RPC method is
        # one of `cls.rpc_methods`, looked up without building that map per class and run
        holding: dict[str, bool] = {}
        for call in stub_calls(model, cls):
            name = call.method
            if name not in holding:
                rpc = name not in HANDLER_METHODS and not name.startswith("#")
                node = methods.get(name) if rpc else None
                holding[name] = node is not None and returns_stubs(cls, node, targets)
            if not holding[name]:
                continue
            node = call.call
            parent = node.parent
            if parent is None or parent.type != "await_expression":
                continue
            declarator = parent.parent
            if declarator is None or declarator.type != "variable_declarator":
                continue
            declaration = declarator.parent
            if declaration is None or declaration.type != "lexical_declaration":
                continue
            keyword = declaration.children[0] if declaration.children else None
            if keyword is None or keyword.type != "const":
                continue  # `using` (or let/var, which `using` cannot replace blindly)
            yield RULE.finding(
                "not-disposed",
                f"`{call.method}()` returns stubs; keep its result with `using` so they are "
                "disposed, or the runtime warns that an RPC result was not disposed.",
                node_span(call.file, keyword),
                data={"class": cls.name, "method": call.method},
            )


RULE = Rule(
    id="rpc-result-not-disposed",
    title="An RPC result holding stubs is never disposed",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "not-disposed": "a call that returns stubs whose result is not kept with `using`",
    },
)


def _target_names(model: ProjectModel) -> frozenset[str]:
    return frozenset(_rpc_targets(model))


# returns_stubs reads the project's RpcTarget names: part of the language server's key
REACH_FACTS[RULE.id] = _target_names
