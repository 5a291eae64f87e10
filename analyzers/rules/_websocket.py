"""Tracking the server half of `new WebSocketPair()` inside Durable Object classes.

Shared by the WebSocket rules and their fixes. A socket is followed through the shapes real code
uses: `const [client, server] = Object.values(pair)`, `pair[1]`, `const { 0: c, 1: s } = pair`,
`const ws = server`, and into a method of the same class it is passed to (`this.handle(server)`).
An outbound socket (`resp.webSocket` from `fetch()`) is never a WebSocketPair half, so it is
never tracked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, state_path
from durable_harden.analyzers.rules._common import spells
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    enclosing,
    node_text,
    normalize_expr,
    string_value,
    walk_type,
)

LISTENER_EVENTS = {
    "message": "webSocketMessage",
    "close": "webSocketClose",
    "error": "webSocketError",
}

# Calls that take a socket as an argument without taking ownership of it.
_BENIGN_METHODS = frozenset(
    {
        "set",
        "get",
        "add",
        "delete",
        "has",
        "push",
        "unshift",
        "send",
        "log",
        "warn",
        "error",
        "info",
        "debug",
        "stringify",
        "acceptWebSocket",
        "getTags",
        "includes",
        "indexOf",
    }
)


@dataclass(eq=False)
class SocketUse:
    """One server socket in one function scope of a DO class."""

    cls: DurableObjectClass
    pair: Node  # the `new WebSocketPair()` expression
    scope: Node  # the function whose body uses the socket under `names`
    names: set[str]  # normalised expressions naming the server socket in `scope`
    declaration: Node | None = None  # the identifier the server half is bound to, if any
    accepts: list[Node] = field(default_factory=list)  # `server.accept()` call expressions
    hibernatable: list[Node] = field(default_factory=list)  # `ctx.acceptWebSocket(server…)`
    listeners: list[tuple[str, Node]] = field(default_factory=list)  # (event, call)
    handoffs: list[Node] = field(default_factory=list)  # calls handing it to other code


def _scope_of(node: Node, cls: DurableObjectClass) -> Node:
    func = enclosing(node, *FUNCTION_TYPES)
    if func is None or not (cls.node.start_byte <= func.start_byte < cls.node.end_byte):
        return cls.node
    # an arrow function nested in a method: the method is the scope that names the socket
    while True:
        outer = enclosing(func, *FUNCTION_TYPES)
        if outer is None or outer.start_byte < cls.node.start_byte:
            return func
        func = outer


def _server_names_from_pair(
    file: SourceFile, pair: Node, scope: Node
) -> tuple[set[str], Node | None]:
    """Names for the server half of the pair created by `pair`, within `scope`."""
    data = file.data
    names: set[str] = set()
    declared: Node | None = None
    pair_vars: set[str] = set()
    parent = pair.parent
    while parent is not None and parent.type in {"parenthesized_expression", "as_expression"}:
        parent = parent.parent
    if parent is not None and parent.type == "variable_declarator":
        target = parent.child_by_field_name("name")
        if target is not None and target.type == "identifier":
            pair_vars.add(node_text(data, target))
        elif target is not None and target.type == "object_pattern":
            declared = _object_pattern_one(data, target)
    elif parent is not None and parent.type == "assignment_expression":
        target = parent.child_by_field_name("left")
        if target is not None:
            pair_vars.add(normalize_expr(node_text(data, target)))
    # Object.values(<pair>) / Object.values(new WebSocketPair()) destructured
    for decl in walk_type(scope, "variable_declarator", file=file):
        target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
        if target is None or value is None:
            continue
        value_text = normalize_expr(node_text(data, value))
        is_values = value.type == "call_expression" and value_text.startswith("Object.values(")
        refers = value.start_byte <= pair.start_byte < value.end_byte or any(
            value_text == f"Object.values({p})" for p in pair_vars
        )
        if is_values and refers and target.type == "array_pattern":
            items = [c for c in target.named_children if c.type != "comment"]
            if len(items) >= 2 and items[1].type == "identifier":
                declared = items[1]
        elif value_text in pair_vars and target.type == "object_pattern":
            declared = _object_pattern_one(data, target) or declared
    if declared is not None:
        names.add(node_text(data, declared))
    for p in pair_vars:
        names.update({f"{p}[1]", f'{p}["1"]', f"{p}['1']"})
    return names, declared


def _object_pattern_one(data: bytes, pattern: Node) -> Node | None:
    for prop in pattern.named_children:
        if prop.type != "pair_pattern":
            continue
        key, value = prop.child_by_field_name("key"), prop.child_by_field_name("value")
        if key is not None and value is not None and value.type == "identifier":
            if node_text(data, key).strip("\"'") == "1":
                return value
    return None


def _add_aliases(file: SourceFile, scope: Node, names: set[str]) -> bool:
    """`const ws = server` / `ws = pair[1]` inside the scope. True when no further alias is
    left to find (asking again would add nothing)."""
    data = file.data
    for _ in range(3):
        before = len(names)
        for decl in walk_type(scope, "variable_declarator", file=file):
            target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
            if target is not None and value is not None and target.type == "identifier":
                if normalize_expr(node_text(data, value)) in names:
                    names.add(node_text(data, target))
        if len(names) == before:
            return True
    return False


def _param_names(data: bytes, func: Node) -> list[str | None]:
    params = func.child_by_field_name("parameters")
    if params is None:
        return []
    result: list[str | None] = []
    for param in params.named_children:
        if param.type == "comment":
            continue
        pattern = param.child_by_field_name("pattern")
        result.append(
            node_text(data, pattern)
            if pattern is not None and pattern.type == "identifier"
            else None
        )
    return result


_CASTS = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "type_assertion",
        "non_null_expression",
        "satisfies_expression",
    }
)


def _uncast(node: Node) -> Node:
    """`(server as any)`, `(<WebSocket>server)`, `server!` -> `server`."""
    while node.type in _CASTS:
        inner = [c for c in node.named_children if c.type not in {"comment", "type_arguments"}]
        if not inner:
            break
        # `x as T` / `x satisfies T`: the expression comes first; `<T>x`: it comes last
        node = inner[-1] if node.type == "type_assertion" else inner[0]
    return node


def _collect(use: SocketUse, data: bytes, ctx_names: set[str], follow: list[SocketUse]) -> None:
    cls = use.cls
    for call in walk_type(use.scope, "call_expression", file=cls.file):
        func = call.child_by_field_name("function")
        if func is None:
            continue
        args = call_args(call)
        if func.type == "member_expression":
            obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
            if obj is None or prop is None:
                continue
            receiver = normalize_expr(node_text(data, _uncast(obj)))
            method = node_text(data, prop)
            if receiver in use.names and method == "accept" and not args:
                use.accepts.append(call)
                continue
            if receiver in use.names and method == "addEventListener" and args:
                event = string_value(data, args[0])
                if event in LISTENER_EVENTS:
                    use.listeners.append((event, call))
                continue
            if receiver in use.names:
                continue
            arg_texts = [normalize_expr(node_text(data, _uncast(a))) for a in args]
            if not any(t in use.names for t in arg_texts):
                continue
            if method == "acceptWebSocket" and receiver in ctx_names:
                use.hibernatable.append(call)
                continue
            if receiver == "this" and method in cls.methods:
                target = cls.methods[method]
                params = _param_names(data, target)
                for index, text in enumerate(arg_texts):
                    if text in use.names and index < len(params) and params[index]:
                        follow.append(SocketUse(cls, use.pair, target, {params[index] or ""}))
                continue
            if receiver.startswith("this.") and method in _BENIGN_METHODS:
                continue
            if method in _BENIGN_METHODS or receiver in {"console", "JSON", "Object"}:
                continue  # `Object.assign(server, …)` decorates the socket, accepts nothing
            use.handoffs.append(call)
        elif func.type == "identifier":
            arg_texts = [normalize_expr(node_text(data, a)) for a in args]
            if any(t in use.names for t in arg_texts):
                use.handoffs.append(call)


def server_sockets(cls: DurableObjectClass) -> list[SocketUse]:
    """Every server socket created by `new WebSocketPair()` in the class, with its uses."""
    data = cls.file.data
    ctx_names = set(cls.aliases.ctx)
    uses: list[SocketUse] = []
    if not spells(cls.file, b"WebSocketPair", cls.node.start_byte, cls.node.end_byte):
        # the constructor's text must be exactly `WebSocketPair`: without the word in the class
        # there is none (and no walk of every `new` of a class of thousands of members)
        return uses
    for node in walk_type(cls.node, "new_expression", file=cls.file):
        ctor = node.child_by_field_name("constructor")
        if ctor is None or node_text(data, ctor) != "WebSocketPair":
            continue
        scope = _scope_of(node, cls)
        names, declared = _server_names_from_pair(cls.file, node, scope)
        if not names:
            continue
        complete = _add_aliases(cls.file, scope, names)
        first = SocketUse(cls, node, scope, names, declared)
        pending = [first]
        seen: set[int] = set()
        while pending:
            use = pending.pop()
            key = use.scope.start_byte
            if key in seen:
                continue
            seen.add(key)
            if use is not first or not complete:  # (the pair's own scope: done just above)
                _add_aliases(cls.file, use.scope, use.names)
            follow: list[SocketUse] = []
            _collect(use, data, ctx_names, follow)
            uses.append(use)
            pending.extend(follow)
    return uses


def ctx_reachable(cls: DurableObjectClass) -> bool:
    """Whether methods of the class can reach DurableObjectState at all (see
    `classes.state_path`). A fix writing `this.ctx…` into any other class breaks it (found on
    corpus-dev: a binding-only class whose `this.state` is its game state)."""
    return state_path(cls) is not None


def only_closed(use: SocketUse) -> bool:
    """The socket is accepted only to send and close (`server.accept(); server.send(error);
    server.close(1008)`): it is never stored, handed on or listened to, so it does not keep the
    object awake, and making it hibernatable would only route its close to `webSocketClose`."""
    data = use.cls.file.data
    if use.listeners or use.handoffs or use.hibernatable or not use.accepts:
        return False
    if any(not n.isidentifier() for n in use.names):
        return False
    closed = False
    for node in walk_type(use.scope, "identifier", file=use.cls.file):
        name = node_text(data, node)
        if name not in use.names:
            continue
        parent = node.parent
        if parent is not None and parent.type == "array_pattern":
            continue  # the declaration
        if parent is None or parent.type != "member_expression":
            return False
        prop = parent.child_by_field_name("property")
        method = node_text(data, prop) if prop is not None else ""
        call = parent.parent
        if method not in {"accept", "send", "close"} or call is None:
            return False
        if call.type != "call_expression" or call.child_by_field_name("function") != parent:
            return False
        closed = closed or method == "close"
    return closed
