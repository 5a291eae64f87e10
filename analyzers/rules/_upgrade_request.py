"""The request that reaches a Durable Object's WebSocket upgrade branch, derived from its code.

Used by the generated harden test for `websocket-not-hibernatable`: it sends this request to the
object's own `fetch()` and expects a 101 with a socket accepted through the hibernation API. The
request is only derived when every condition on the way from `fetch()` to `new WebSocketPair()`
is understood; otherwise `upgrade_url` returns None and the caller writes a weaker test (a wrong
URL would make the generated test fail for the user).

Understood, on the path from `fetch()` (through `this.method(...)` calls with one call site) to
the pair:
- enclosing `if (cond) { ... }` (cond must hold) and earlier early exits
  `if (cond) { return/throw }` (cond must not hold);
- `switch (<path>) { case "lit": ... }` on the pathname or a path segment;
- conditions over `request.headers.get("Upgrade")` ("websocket"), `request.method` ("GET"),
  the pathname (`===`, `startsWith`, `endsWith`), a path segment from
  `const [, , room, action] = url.pathname.split("/")`, and query parameters
  (`url.searchParams.get("user")` truthy / not null, `searchParams.has("user")`), through
  `const` variables, `!`, `&&` (must hold) and `||` (must not hold).
Anything else on the way gives up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    node_text,
    normalize_expr,
    string_value,
    walk,
)

HOST = "https://durable-harden.test"
FILLER = "durable-harden"
_MAX_DEPTH = 4


class _GiveUp(Exception):
    pass


@dataclass
class _Request:
    """What the request must have (path, segments, query) to reach the upgrade branch."""

    segments: dict[int, str] = field(default_factory=dict)
    path: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    no_query: set[str] = field(default_factory=set)

    def url(self) -> str:
        if self.path is not None:
            path = self.path
            parts = path.split("/")
            if any(i >= len(parts) or parts[i] != v for i, v in self.segments.items()):
                raise _GiveUp
            if not path.startswith(self.prefix or "") or not path.endswith(self.suffix or ""):
                raise _GiveUp
        else:
            if self.segments and (self.prefix or self.suffix):
                raise _GiveUp
            if self.segments:
                if self.segments.get(0, "") != "":
                    raise _GiveUp
                last = max(self.segments)
                path = "/" + "/".join(self.segments.get(i, FILLER) for i in range(1, last + 1))
            else:
                path = (self.prefix or "") + (self.suffix or "")
                path = path if path.startswith("/") else "/" + path
                if self.prefix and self.suffix and not path.endswith(self.suffix):
                    raise _GiveUp
        if set(self.query) & self.no_query:
            raise _GiveUp
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return HOST + path + (f"?{query}" if query else "")


# what an expression stands for: ("pathname",), ("segment", i), ("query", name),
# ("has", name), ("header", name), ("method",), ("literal", value), ("null",)
_Term = tuple


_QUERY_GET = re.compile(r"\.searchParams\.get\((['\"])([^'\"]+)\1\)$")
_QUERY_HAS = re.compile(r"\.searchParams\.has\((['\"])([^'\"]+)\1\)$")
_HEADER = re.compile(r"\.headers\.get\((['\"])([^'\"]+)\1\)$")


class _Scope:
    def __init__(self, data: bytes, cls: DurableObjectClass) -> None:
        self.data = data
        self.cls = cls
        self.vars: dict[str, _Term] = {}

    def text(self, node: Node) -> str:
        return node_text(self.data, node)

    def bind(self, method: Node) -> None:
        for decl in walk(method):
            if decl.type != "variable_declarator":
                continue
            name = decl.child_by_field_name("name")
            value = decl.child_by_field_name("value")
            if name is None or value is None:
                continue
            if name.type == "identifier":
                term = self.term(value)
                if term is not None:
                    self.vars[self.text(name)] = term
            elif name.type == "array_pattern" and self._is_path_split(value):
                index = 0
                for child in name.children:
                    if child.type == ",":
                        index += 1
                    elif child.type == "identifier":
                        self.vars[self.text(child)] = ("segment", index)
                    elif child.type == "assignment_pattern":
                        left = child.child_by_field_name("left")
                        if left is not None and left.type == "identifier":
                            self.vars[self.text(left)] = ("segment", index)

    def _is_path_split(self, value: Node) -> bool:
        text = normalize_expr(self.text(value))
        match = re.match(r"^(.*)\.split\((['\"])/\2\)$", text)
        return match is not None and self._is_pathname(match.group(1))

    def _is_pathname(self, text: str) -> bool:
        return text.endswith(".pathname") or self.vars.get(text) == ("pathname",)

    def term(self, node: Node) -> _Term | None:
        while node.type in ("parenthesized_expression", "non_null_expression"):
            node = node.named_children[0]
        if node.type == "string":
            value = string_value(self.data, node)
            return ("literal", value) if value is not None else None
        if node.type in ("null", "undefined"):
            return ("null",)
        text = normalize_expr(self.text(node))
        if node.type == "identifier":
            return self.vars.get(text)
        if self._is_pathname(text):
            return ("pathname",)
        for pattern, kind in ((_QUERY_GET, "query"), (_QUERY_HAS, "has"), (_HEADER, "header")):
            match = pattern.search(text)
            if match:
                value = match.group(2)
                return (kind, value.lower() if kind == "header" else value)
        if text.endswith(".method"):
            return ("method",)
        return None


def _require(scope: _Scope, req: _Request, cond: Node, want: bool) -> None:
    """Make `cond` evaluate to `want` for the request, or give up."""
    while cond.type == "parenthesized_expression":
        cond = cond.named_children[0]
    if cond.type == "unary_expression" and scope.text(cond).startswith("!"):
        inner = cond.child_by_field_name("argument")
        if inner is None:
            raise _GiveUp
        _require(scope, req, inner, not want)
        return
    if cond.type == "binary_expression":
        op_node = cond.child_by_field_name("operator")
        op = scope.text(op_node) if op_node is not None else ""
        left = cond.child_by_field_name("left")
        right = cond.child_by_field_name("right")
        if left is None or right is None:
            raise _GiveUp
        if (op == "&&" and want) or (op == "||" and not want):
            _require(scope, req, left, want)
            _require(scope, req, right, want)
            return
        if op in ("===", "==", "!==", "!="):
            equal = want if op in ("===", "==") else not want
            _compare(scope, req, scope.term(left), scope.term(right), equal)
            return
        raise _GiveUp
    if cond.type == "call_expression":
        func = cond.child_by_field_name("function")
        args = cond.child_by_field_name("arguments")
        if func is not None and func.type == "member_expression" and args is not None:
            obj = func.child_by_field_name("object")
            prop = func.child_by_field_name("property")
            values = [a for a in args.named_children if a.type != "comment"]
            if obj is not None and prop is not None and len(values) == 1:
                what = scope.term(obj)
                lit = scope.term(values[0])
                method = scope.text(prop)
                if what == ("pathname",) and lit and lit[0] == "literal" and want:
                    if method == "startsWith" and req.prefix in (None, lit[1]):
                        req.prefix = lit[1]
                        return
                    if method == "endsWith" and req.suffix in (None, lit[1]):
                        req.suffix = lit[1]
                        return
        term = scope.term(cond)
        if term and term[0] == "has":
            _query(req, term[1], want)
            return
        raise _GiveUp
    term = scope.term(cond)
    if term and term[0] in ("query", "has"):
        _query(req, term[1], want)
        return
    raise _GiveUp


def _query(req: _Request, name: str, present: bool) -> None:
    if present:
        req.query[name] = FILLER
    else:
        req.no_query.add(name)


def _compare(
    scope: _Scope, req: _Request, left: _Term | None, right: _Term | None, equal: bool
) -> None:
    if left is None or right is None:
        raise _GiveUp
    if left[0] in ("literal", "null"):
        left, right = right, left
    if right[0] == "null":
        if left[0] == "query":
            _query(req, left[1], not equal)
            return
        raise _GiveUp
    if right[0] != "literal":
        raise _GiveUp
    value = right[1]
    kind = left[0]
    if kind == "header" and left[1] == "upgrade" and value == "websocket" and equal:
        return
    if kind == "method" and value == "GET" and equal:
        return
    if not equal:
        raise _GiveUp  # "anything but X": not derived
    if kind == "pathname" and req.path in (None, value):
        req.path = value
        return
    if kind == "segment" and req.segments.get(left[1], value) == value and "/" not in value:
        req.segments[left[1]] = value
        return
    if (
        kind == "query"
        and req.query.get(left[1], value) == value
        and re.fullmatch(r"[\w.-]+", value)
    ):
        req.query[left[1]] = value
        return
    raise _GiveUp


def _exits(node: Node) -> bool:
    """Whether `node` contains a return/throw of its own function (not of a nested one)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in ("return_statement", "throw_statement"):
            return True
        if current.type in FUNCTION_TYPES and current is not node:
            continue
        stack.extend(current.named_children)
    return False


def _constrain_path(scope: _Scope, req: _Request, target: Node, method: Node) -> None:
    """Conditions on the way from the start of `method` to `target`."""
    child = target
    node = target.parent
    while node is not None and node.start_byte >= method.start_byte and node != method:
        if node.type in FUNCTION_TYPES:
            raise _GiveUp  # inside a callback: when it runs is not known
        if node.type == "if_statement":
            cond = node.child_by_field_name("condition")
            consequence = node.child_by_field_name("consequence")
            if cond is None:
                raise _GiveUp
            inside = consequence is not None and (
                consequence.start_byte <= child.start_byte < consequence.end_byte
            )
            if child != cond:
                _require(scope, req, cond, inside)
        elif node.type == "switch_case":
            value = node.child_by_field_name("value")
            switch = node.parent.parent if node.parent is not None else None
            subject = switch.child_by_field_name("value") if switch is not None else None
            if value is None or subject is None:
                raise _GiveUp
            _compare(scope, req, scope.term(subject), scope.term(value), True)
        elif node.type in ("statement_block", "switch_body"):
            for sibling in node.named_children:
                if sibling.start_byte >= child.start_byte:
                    break
                if sibling.type == "if_statement" and _exits(sibling):
                    cond = sibling.child_by_field_name("condition")
                    if cond is None or sibling.child_by_field_name("alternative") is not None:
                        raise _GiveUp
                    _require(scope, req, cond, False)
                elif sibling.type in ("return_statement", "throw_statement") or (
                    sibling.type in ("switch_statement", "try_statement") and _exits(sibling)
                ):
                    raise _GiveUp
        child = node
        node = node.parent


def _method_of(cls: DurableObjectClass, node: Node) -> tuple[str, Node] | None:
    for name, method in cls.methods.items():
        if method.start_byte <= node.start_byte < method.end_byte:
            return name, method
    return None


def _call_sites(scope: _Scope, name: str) -> list[Node]:
    sites = []
    for node in walk(scope.cls.node):
        if node.type != "call_expression":
            continue
        func = node.child_by_field_name("function")
        if func is not None and normalize_expr(scope.text(func)) == f"this.{name}":
            sites.append(node)
    return sites


def upgrade_url(cls: DurableObjectClass, pair: Node) -> str | None:
    """A URL whose GET with `Upgrade: websocket` reaches `pair` from `fetch()`, or None."""
    scope = _Scope(cls.file.data, cls)
    req = _Request()
    target = pair
    try:
        for _ in range(_MAX_DEPTH):
            found = _method_of(cls, target)
            if found is None:
                return None
            name, method = found
            scope.vars = {}
            scope.bind(method)
            _constrain_path(scope, req, target, method)
            if name == "fetch":
                return req.url()
            sites = _call_sites(scope, name)
            if len(sites) != 1:
                return None
            target = sites[0]
        return None
    except _GiveUp:
        return None
