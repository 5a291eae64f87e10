"""obsolete-name-workaround: telling a Durable Object its own name, which it already knows."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel, spliced_from
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import REACH_ANY_CLASS, REACH_FACTS
from durable_harden.analyzers.rules._bindings import (
    NAMED_ID_METHODS,
    StubCall,
    accesses_to,
    id_methods,
    stub_calls,
    stub_expressions,
)
from durable_harden.analyzers.rules._common import (
    REF_CHANGELOG,
    REF_RULES,
    node_span,
    rpc_target_classes,
)
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import node_text, normalize_expr, walk_type

# where, what, related, data
Hit = tuple[SourceFile, Node, str, list[Related], dict[str, object]]

# RPC methods whose name says "here is who you are"
SETTER_NAME = later(r"^(init|initialize|setName|setId|setIdentity|setKey|setOwner|identify)$")

DOCS = RuleDocs(
    what="""
Reports code that exists only to tell a Durable Object its own name, when every caller in the
project reaches its namespace with `idFromName()` / `getByName()`:
- an `init(name)` / `setName(name)`-style RPC method whose body only stores its parameter
  (`storage.put(key, name)` or `this.field = name`), when its name says so or a caller passes it
  the same value it made the id from;
- an RPC parameter that every caller fills with the very value the id was made from
  (`env.LOG.getByName(userId).record(userId, …)`);
- an `RpcTarget` wrapper built around the object (or its stub) together with that name.
Callers are `env.BINDING.getByName(n)` / `env.BINDING.get(env.BINDING.idFromName(n))` anywhere in
the project, mapped to classes through the wrangler config. If any caller uses
`newUniqueId()` or `idFromString()`, nothing is reported (see `id-name-undefined`).
""",
    why="""
Since changelog 2026-03-15 `this.ctx.id.name` is populated inside the object whenever the caller
used `idFromName()` or `getByName()`. The old advice ("a Durable Object cannot know its name:
pass it in an `init()` call or wrap the stub in an RpcTarget") is obsolete. The workaround costs
an extra round trip and a storage write per object, and it fails open: a caller that forgets
`init()` leaves the object without its name ("used before init()").
""",
    example="""
```ts
// Worker — reported: the object already knows userId
const sessions = env.SESSIONS.getByName(userId);
await sessions.init(userId);

// Durable Object
async init(name: string) { await this.ctx.storage.put("name", name); }

// Production pattern: read it where it is needed
const userId = this.ctx.id.name!;
```
""",
    references=(
        f"{REF_CHANGELOG} (2026-03-15: ctx.id.name populated for idFromName/getByName)",
        f"{REF_RULES}",
    ),
)


def _params(data: bytes, func: Node) -> list[tuple[str, Node]]:
    params = func.child_by_field_name("parameters")
    found: list[tuple[str, Node]] = []
    if params is None:
        return found
    for param in params.named_children:
        if param.type not in {"required_parameter", "optional_parameter"}:
            continue
        pattern = param.child_by_field_name("pattern")
        if pattern is not None and pattern.type == "identifier":
            found.append((node_text(data, pattern), param))
        else:
            found.append(("", param))
    return found


def _statements(func: Node) -> list[Node]:
    body = func.child_by_field_name("body")
    if body is None:
        return []
    if body.type != "statement_block":
        return [body]
    return [s for s in body.named_children if s.type != "comment"]


def _only_stores(cls: DurableObjectClass, func: Node, param: str) -> bool:
    """The body does nothing but store `param` (storage.put(_, param) / this.x = param)."""
    data = cls.file.data
    statements = _statements(func)
    if not statements:
        return False
    for stmt in statements:
        expr = stmt.named_children[0] if stmt.type == "expression_statement" else stmt
        if expr.type == "return_statement":
            expr = next(iter(expr.named_children), expr)
        while expr.type in {"await_expression", "parenthesized_expression"}:
            expr = expr.named_children[0]
        if expr.type == "assignment_expression":
            left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
            if (
                left is not None
                and right is not None
                and node_text(data, left).startswith("this.")
                and normalize_expr(node_text(data, right)) == param
            ):
                continue
            return False
        if expr.type == "call_expression":
            func_node = expr.child_by_field_name("function")
            args = expr.child_by_field_name("arguments")
            # tree-sitter reads `await storage.put<T>(k, v)` as a call of `await storage.put`
            callee = (
                normalize_expr(node_text(data, func_node).split("<", 1)[0].removeprefix("await "))
                if func_node
                else ""
            )
            receiver, _, method = callee.rpartition(".")
            values = [
                normalize_expr(node_text(data, a))
                for a in (args.named_children if args is not None else [])
            ]
            if method == "put" and receiver in cls.aliases.storage and param in values:
                continue
            return False
        return False
    return True


def _setter_findings(cls: DurableObjectClass, calls: list[StubCall]) -> Iterator[Hit]:
    data = cls.file.data
    for name, func in cls.rpc_methods.items():
        params = _params(data, func)
        if len(params) != 1 or not params[0][0]:
            continue
        param = params[0][0]
        if not _only_stores(cls, func, param):
            continue
        passing = [
            c
            for c in calls
            if c.method == name
            and c.args
            and c.name_expr is not None
            and normalize_expr(node_text(c.file.data, c.args[0])) == c.name_expr
        ]
        if not passing and not SETTER_NAME().match(name):
            continue
        name_node = func.child_by_field_name("name")
        if name_node is None:
            continue
        related = [
            Related(node_span(c.file, c.call), "passes the name the id was made from")
            for c in passing
        ]
        yield (
            cls.file,
            name_node,
            f"`{name}()` only tells `{cls.name}` its own name; every caller uses "
            "idFromName()/getByName(), so `this.ctx.id.name` already holds it.",
            related,
            {"kind": "setter", "method": name, "param": param},
        )


def _parameter_findings(cls: DurableObjectClass, calls: list[StubCall]) -> Iterator[Hit]:
    data = cls.file.data
    by_method: dict[str, list[StubCall]] = {}
    for call in calls:
        by_method.setdefault(call.method, []).append(call)
    for name, method_calls in by_method.items():
        func = cls.rpc_methods.get(name)
        if func is None or any(c.name_expr is None for c in method_calls):
            continue
        params = _params(data, func)
        if len(params) == 1 and _only_stores(cls, func, params[0][0]):
            continue  # reported as a setter
        for index, (param, node) in enumerate(params):
            if not param:
                continue
            if all(
                len(c.args) > index
                and normalize_expr(node_text(c.file.data, c.args[index])) == c.name_expr
                for c in method_calls
            ):
                related = [
                    Related(node_span(c.file, c.args[index]), "the same value the id was made from")
                    for c in method_calls
                ]
                yield (
                    cls.file,
                    node,
                    f"Parameter `{param}` of `{name}()` repeats `{cls.name}`'s own name at every "
                    "call; read `this.ctx.id.name` instead.",
                    related,
                    {"kind": "parameter", "method": name, "param": param, "index": index},
                )


def _rpc_target_wrappers(model: ProjectModel) -> dict[str, tuple[SourceFile, Node]]:
    """Classes extending RpcTarget anywhere in the project, found once per model."""
    cached: dict[str, tuple[SourceFile, Node]] | None = model.memo.get("rpc_target_wrappers")
    if cached is not None:
        return cached
    found = spliced_from(model)
    before = found[0].memo.get("rpc_target_wrappers") if found is not None else None
    if found is not None and before is not None:
        # the previous model's, with the edited files' entries replaced (same names: the
        # same places in the dict; another file's class of the same name still wins)
        wrappers = dict(before)
        for old, new in found[1].files:
            declared = file_rpc_target_wrappers(new)
            if declared.keys() != file_rpc_target_wrappers(old).keys():
                break
            for name, entry in declared.items():
                if wrappers[name][0] is old:
                    wrappers[name] = entry
        else:
            model.memo["rpc_target_wrappers"] = wrappers
            return wrappers
    wrappers = {}
    for file in model.files:
        wrappers.update(file_rpc_target_wrappers(file))
    model.memo["rpc_target_wrappers"] = wrappers
    return wrappers


def file_rpc_target_wrappers(file: SourceFile) -> dict[str, tuple[SourceFile, Node]]:
    """The file's classes extending RpcTarget, by name."""
    return {name: (file, node) for name, node in rpc_target_classes(file).items()}


def _wrapper_findings(model: ProjectModel, cls: DurableObjectClass) -> Iterator[Hit]:
    """`new Wrapper(this, name)` inside the class, or `new Wrapper(stub, name)` in a caller,
    where Wrapper extends RpcTarget."""
    wrappers = _rpc_target_wrappers(model)
    if not wrappers:
        return
    sites: list[tuple[SourceFile, Node]] = []
    data = cls.file.data
    # a `new` of a wrapper spells the wrapper's name: a file without any of the names has
    # none (no walk of its `new` expressions, nor its node index built for that)
    names = tuple(name.encode() for name in wrappers)
    news = () if cls.file.lacks(*names) else walk_type(cls.node, "new_expression")
    for new in news:
        ctor = new.child_by_field_name("constructor")
        args = new.child_by_field_name("arguments")
        if ctor is None or args is None or node_text(data, ctor) not in wrappers:
            continue
        texts = [normalize_expr(node_text(data, a)) for a in args.named_children]
        if "this" in texts and len(texts) >= 2:
            sites.append((cls.file, new))
    for access in accesses_to(model, cls):
        if access.method not in NAMED_ID_METHODS | {"get"} or access.file.lacks(*names):
            continue
        node, variable = stub_expressions(access)
        adata = access.file.data
        stub_texts = {normalize_expr(node_text(adata, node))}
        if variable:
            stub_texts.add(variable)
        root = node
        while root.parent is not None:
            root = root.parent
        for new in walk_type(root, "new_expression"):
            ctor = new.child_by_field_name("constructor")
            args = new.child_by_field_name("arguments")
            if ctor is None or args is None or node_text(adata, ctor) not in wrappers:
                continue
            texts = [normalize_expr(node_text(adata, a)) for a in args.named_children]
            if stub_texts & set(texts) and len(texts) >= 2:
                sites.append((access.file, new))
    seen: set[str] = set()
    for site_file, new in sites:
        ctor = new.child_by_field_name("constructor")
        if ctor is None:
            continue
        wrapper = node_text(site_file.data, ctor)
        if wrapper in seen:
            continue
        seen.add(wrapper)
        wfile, wname = wrappers[wrapper]
        yield (
            wfile,
            wname,
            f"RpcTarget wrapper `{wrapper}` carries `{cls.name}`'s name alongside the object; "
            "the object reads it from `this.ctx.id.name` since 2026-03-15.",
            [Related(node_span(site_file, new), "wrapper built here")],
            {"kind": "wrapper", "wrapper": wrapper},
        )


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class NameState:
    """What the fixes need: the class whose name is passed to it."""

    cls: DurableObjectClass


_MESSAGE_IDS = {
    "setter": "name-setter",
    "parameter": "name-parameter",
    "wrapper": "rpc-target-wrapper",
}


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        accesses = accesses_to(model, cls)
        methods = id_methods(accesses)
        if not methods or not methods <= NAMED_ID_METHODS:
            continue
        calls = stub_calls(model, cls)
        hits = [
            *_setter_findings(cls, calls),
            *_parameter_findings(cls, calls),
            *_wrapper_findings(model, cls),
        ]
        for file, node, message, related, data in hits:
            yield RULE.finding(
                _MESSAGE_IDS[str(data["kind"])],
                message,
                node_span(file, node),
                related=related,
                data={"class": cls.name, **data},
                state=NameState(cls),
            )


RULE = Rule(
    id="obsolete-name-workaround",
    title="Code that tells a Durable Object its own name (it already knows it)",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "name-setter": "a method that only tells the object its own name",
        "name-parameter": "a parameter that repeats the object's own name at every call",
        "rpc-target-wrapper": "an RpcTarget wrapper that carries the object's name",
    },
)


def _wrapper_places(model: ProjectModel) -> tuple[tuple[str, SourceFile], ...]:
    return tuple((name, file) for name, (file, _) in _rpc_target_wrappers(model).items())


# the language server's key: the wrappers built at a class's sites; a file declaring one may
# hold findings of any class (a wrapper's finding sits at its declaration)
REACH_FACTS[RULE.id] = _wrapper_places
REACH_ANY_CLASS[RULE.id] = lambda file: bool(file_rpc_target_wrappers(file))
