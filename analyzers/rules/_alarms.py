"""Shared helpers for the alarm rules: storage calls (`setAlarm`, `getAlarm`, `deleteAll` …) of a
Durable Object class, which class member holds them, what the constructor reaches, inherited
`alarm()` handlers, and `getAlarm()` guards.

Platform facts these rules rely on (PLATFORM-FACTS.md, "Alarms"): one alarm per object and
`setAlarm()` replaces it; `setAlarm()` in a class with no `alarm()` throws a TypeError except in
the constructor (workerd io/worker.c++); retries happen only when `alarm()` throws.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import calls_mentioning
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    node_text,
    normalize_expr,
    walk,
    walk_type,
)

# Library base classes that implement `alarm()` themselves (Agents SDK schedules, partyserver's
# onAlarm, Containers, Actors): a subclass calling setAlarm() has a handler.
LIBRARY_HANDLES_ALARM = True


def storage_receiver(cls: DurableObjectClass, call: Node, methods: set[str]) -> str | None:
    """For `<storage>.<method>(…)` with method in `methods`, the receiver's source text."""
    func = call.child_by_field_name("function")
    if func is None or func.type != "member_expression":
        return None
    obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
    if obj is None or prop is None or node_text(cls.file.data, prop) not in methods:
        return None
    receiver = normalize_expr(node_text(cls.file.data, obj))
    if receiver in cls.aliases.storage or receiver.endswith(".storage"):
        return node_text(cls.file.data, obj)
    return None


def storage_calls(cls: DurableObjectClass, method: str, scope: Node | None = None) -> list[Node]:
    return [
        call
        for call in calls_mentioning(
            cls.file.data, scope or cls.node, method, file=cls.file, whole=True
        )
        if storage_receiver(cls, call, {method}) is not None
    ]


def member_of(cls: DurableObjectClass, node: Node) -> tuple[str | None, Node | None]:
    """The class member (method or field) that holds `node`: (name, member node)."""
    body = cls.body
    current: Node | None = node
    while current is not None and current.parent is not None:
        if body is not None and current.parent == body:
            name = current.child_by_field_name("name")
            return (node_text(cls.file.data, name) if name is not None else None), current
        current = current.parent
    return None, None


def method_node(cls: DurableObjectClass, name: str) -> Node | None:
    """The method_definition (or the field's function value) named `name`."""
    return cls.methods.get(name)


def this_calls(cls: DurableObjectClass, scope: Node) -> set[str]:
    """Names of `this.m(…)` methods of the class called inside scope."""
    data = cls.file.data
    found: set[str] = set()
    for call in walk_type(scope, "call_expression"):
        func = call.child_by_field_name("function")
        if func is None or func.type != "member_expression":
            continue
        obj, prop = func.child_by_field_name("object"), func.child_by_field_name("property")
        if obj is None or prop is None or node_text(data, obj) != "this":
            continue
        name = node_text(data, prop)
        if name in cls.methods:
            found.add(name)
    return found


def reached_from_constructor(cls: DurableObjectClass) -> dict[str, Node]:
    """The constructor and the methods it calls (transitively): name -> node."""
    ctor = cls.constructor
    if ctor is None:
        return {}
    reached = {"constructor": ctor}
    frontier = [ctor]
    while frontier:
        scope = frontier.pop()
        for name in this_calls(cls, scope):
            if name not in reached and name not in {"alarm", "fetch"}:
                reached[name] = cls.methods[name]
                frontier.append(cls.methods[name])
    return reached


_INSTALL = re.compile(r"""\.alarm\s*=[^=]|defineProperty\(\s*\w+\s*,\s*["'`]alarm["'`]""")


def installs_alarm(cls: DurableObjectClass) -> bool:
    """`alarm` defined on the instance at run time, which workerd calls like a method: `this.alarm
    = …` in the class, `Object.defineProperty(this, "alarm", …)`, or a function of the same file
    the class hands `this` to that sets `<param>.alarm = …` (`installAlarm(this)`)."""
    data = cls.file.data
    if re.search(
        r"this\.alarm\s*=[^=]|defineProperty\(\s*this\s*,\s*[\"'`]alarm", node_text(data, cls.node)
    ):
        return True
    helpers: set[str] = set()
    for call in walk_type(cls.node, "call_expression"):
        func = call.child_by_field_name("function")
        if (
            func is not None
            and func.type == "identifier"
            and any(node_text(data, a) == "this" for a in call_args(call))
        ):
            helpers.add(node_text(data, func))
    if not helpers:
        return False
    for func in walk_type(cls.file.root, "function_declaration"):
        name = func.child_by_field_name("name")
        if name is not None and node_text(data, name) in helpers:
            if _INSTALL.search(node_text(data, func)):
                return True
    for decl in walk_type(cls.file.root, "variable_declarator"):
        name, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
        if name is not None and value is not None and node_text(data, name) in helpers:
            if _INSTALL.search(node_text(data, value)):
                return True
    return False


def has_alarm_handler(cls: DurableObjectClass, model: ProjectModel) -> tuple[bool, str | None]:
    """(handler found or assumed, where from). Follows `extends` through project classes; an
    unknown base (not DurableObject, not in the project) is assumed to define one."""
    seen: set[str] = set()
    current: DurableObjectClass | None = cls
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if "alarm" in current.methods or installs_alarm(current):
            return True, None if current is cls else current.name
        if current.reason == "library":
            return LIBRARY_HANDLES_ALARM, current.base
        base = current.base
        if base is None or base == "DurableObject" or current.reason in {"extends", "legacy"}:
            return False, None
        candidates = model.classes_named(base)
        if not candidates:
            return True, base  # a base we cannot see: do not guess
        same_file = [c for c in candidates if c.file is current.file]
        current = (same_file or candidates)[0]
    return False, None


def _getalarm_names(data: bytes, scope: Node) -> set[str]:
    """Variables bound from a `getAlarm()` call in scope (`const pending = await s.getAlarm()`)."""
    names: set[str] = set()
    for decl in walk_type(scope, "variable_declarator", "assignment_expression"):
        target = decl.child_by_field_name("name") or decl.child_by_field_name("left")
        value = decl.child_by_field_name("value") or decl.child_by_field_name("right")
        if target is None or value is None:
            continue
        if "getAlarm(" in node_text(data, value):
            names.add(normalize_expr(node_text(data, target)))
    return names


def _mentions(data: bytes, node: Node, names: set[str]) -> bool:
    if "getAlarm(" in node_text(data, node):
        return True
    return any(
        normalize_expr(node_text(data, ident)) in names
        for ident in walk(node)
        if ident.type in {"identifier", "member_expression"}
    )


def getalarm_guarded(cls: DurableObjectClass, call: Node, scope: Node) -> bool:
    """Whether the call only runs after looking at the pending alarm: inside an `if`/ternary /
    `&&` whose condition reads `getAlarm()` (directly or through a variable bound from it), inside
    a `.getAlarm().then(…)` callback, or after an early return on such a condition."""
    data = cls.file.data
    names = _getalarm_names(data, scope)
    node = call
    while node.parent is not None and node != scope:
        parent = node.parent
        if parent.type in {"if_statement", "ternary_expression"}:
            cond = parent.child_by_field_name("condition")
            if cond is not None and cond != node and _mentions(data, cond, names):
                return True
        elif parent.type == "binary_expression":
            left = parent.child_by_field_name("left")
            if left is not None and left != node and _mentions(data, left, names):
                return True
        elif parent.type == "arguments" and parent.parent is not None:
            outer = parent.parent.child_by_field_name("function")
            if outer is not None and outer.type == "member_expression":
                obj = outer.child_by_field_name("object")
                if obj is not None and "getAlarm(" in node_text(data, obj):
                    return True
        elif parent.type == "statement_block":
            # `if (await s.getAlarm()) return;` earlier in the same block
            for stmt in parent.named_children:
                if stmt.start_byte >= node.start_byte:
                    break
                if stmt.type == "if_statement":
                    cond = stmt.child_by_field_name("condition")
                    cons = stmt.child_by_field_name("consequence")
                    if (
                        cond is not None
                        and cons is not None
                        and _mentions(data, cond, names)
                        and "return" in node_text(data, cons)
                    ):
                        return True
        node = parent
    return False


def enclosing_function_in(cls: DurableObjectClass, node: Node) -> Node | None:
    """The innermost function around node that lies inside the class."""
    parent = node.parent
    while parent is not None and parent != cls.node:
        if parent.type in FUNCTION_TYPES:
            return parent
        parent = parent.parent
    return None


def expression_statement_of(call: Node) -> Node | None:
    """The expression statement whose expression is the call (through `await`/`void`)."""
    node = call
    parent = node.parent
    while parent is not None and parent.type in {
        "await_expression",
        "unary_expression",
        "parenthesized_expression",
    }:
        if parent.type == "unary_expression":
            op = parent.child_by_field_name("operator")
            if op is None or op.type != "void":
                return None
        node = parent
        parent = node.parent
    if parent is not None and parent.type == "expression_statement":
        return parent
    return None
