"""timer-blocks-hibernation: setTimeout / setInterval in a Durable Object."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import (
    REF_ALARMS,
    REF_CHANGELOG,
    REF_LIFECYCLE,
    calls_mentioning,
    functions_called_from,
    node_span,
)
from durable_harden.analyzers.tsutil import call_args, node_text, normalize_expr, walk_type

TIMERS = {"setTimeout", "setInterval"}
GLOBAL_RECEIVERS = {"", "globalThis", "self", "window"}

DOCS = RuleDocs(
    what="""
Reports `setTimeout` and `setInterval` inside a Durable Object class, and inside functions of
the same file that the class calls, when the timer outlives the event that set it: a
fire-and-forget `setTimeout`, any `setInterval`, timers armed from the constructor or from
`webSocketMessage` and not awaited.

Not reported: a zero (or missing) delay used only to yield to the event loop, and timers that
live within one request or event, which keeps the object awake anyway (an alarm would be the
wrong advice): a `setTimeout` inside the executor of a promise the code awaits, returns or
passes to `Promise.race`/`all`/`allSettled`/`any` (an awaited sleep, a race timeout, a retry
backoff, a request timeout), and a `setTimeout` held in a variable that the same function
passes to `clearTimeout` after awaiting its work (a timeout cleared when the work completes), and
an abort timer (`setTimeout(() => controller.abort(), ms)` in a function that awaits work given
`controller.signal`: once the work is done the abort does nothing).
""",
    why="""
An idle Durable Object hibernates after about ten seconds only when nothing is pending: a
scheduled timer keeps it in memory, billed for duration, until the runtime evicts it (70–140 s
idle). From compatibility_date 2026-10-01 pending timers keep the object alive for up to 15
minutes, still billed. The timer is also lost whenever the object is evicted or redeployed, so
work scheduled with it may never run. An alarm (`this.ctx.storage.setAlarm()`) is durable, lets
the object hibernate, and wakes it when the work is due.
""",
    example="""
```ts
// Reported: keeps the object awake forever
this.presence = setInterval(() => this.broadcastPresence(), 30_000);

// Production pattern: an alarm that re-arms itself only while there is work
await this.ctx.storage.setAlarm(Date.now() + 30_000);
async alarm() {
  this.broadcastPresence();
  if (this.ctx.getWebSockets().length > 0) await this.ctx.storage.setAlarm(Date.now() + 30_000);
}
```
""",
    references=(
        f"{REF_LIFECYCLE} (hibernation conditions)",
        f"{REF_ALARMS}",
        f"{REF_CHANGELOG} (2026-10-01: pending I/O keeps objects alive up to 15 min)",
    ),
)


def _is_yield(args: list[Node], data: bytes) -> bool:
    if len(args) < 2:
        return True  # no delay: runs on the next turn
    delay = normalize_expr(node_text(data, args[1]))
    return delay in {"0", "0.0", "undefined"}


def _callback_method(data: bytes, args: list[Node]) -> str | None:
    """`m` for a callback `() => this.m()`, `() => { this.m(); }`, `this.m.bind(this)`, `this.m`."""
    if not args:
        return None
    text = re.sub(r"\s+", "", node_text(data, args[0]))
    callback = r"(?:\(\)=>\{?this\.(\w+)\(\);?\}?|this\.(\w+)(?:\.bind\(this\))?)"
    match = re.fullmatch(callback, text)
    return (match.group(1) or match.group(2)) if match else None


def _method_starts(cls: DurableObjectClass) -> list[tuple[int, int, str, Node]]:
    """The class's methods by start byte (looked up by bisection: a class with thousands of
    methods and timers made the linear scan O(n²))."""
    return sorted((m.start_byte, m.end_byte, name, m) for name, m in cls.methods.items())


def _arming_method(methods: list[tuple[int, int, str, Node]], call: Node) -> str | None:
    """The class method (taking no parameters) whose body starts the timer, if any."""
    index = bisect.bisect_right(methods, call.start_byte, key=lambda m: m[0]) - 1
    # methods do not overlap; the first one containing the call is the last one starting at or
    # before it (a nested method, e.g. an object literal's, is not a class method)
    if index < 0:
        return None
    start, end, name, method = methods[index]
    if not start <= call.start_byte < end:
        return None
    params = method.child_by_field_name("parameters")
    if params is None or params.named_child_count:
        return None
    return name


FUNCTIONS = frozenset(
    {"arrow_function", "function_expression", "function_declaration", "method_definition"}
)
PROMISE_COMBINATORS = frozenset({"race", "all", "allSettled", "any"})


def _enclosing_function(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in FUNCTIONS:
        parent = parent.parent
    return parent


def _promise_of_executor(func: Node, data: bytes) -> Node | None:
    """`new Promise(<func>)`: the new-expression whose executor is `func`."""
    args = func.parent
    new = args.parent if args is not None and args.type == "arguments" else None
    if new is None or new.type != "new_expression":
        return None
    ctor = new.child_by_field_name("constructor")
    return new if ctor is not None and node_text(data, ctor) == "Promise" else None


def _awaited_in_event(promise: Node, data: bytes) -> bool:
    """The promise is awaited, returned or raced by the code that made it: the request or event
    that created it stays in flight until it settles."""
    node: Node | None = promise
    outer = _enclosing_function(promise)
    if outer is not None and outer.type == "arrow_function":
        body = outer.child_by_field_name("body")
        if (
            body is not None
            and body.start_byte <= promise.start_byte
            and (body.type != "statement_block")
        ):
            return True  # `(ms) => new Promise(…)`: a sleep helper returns it to its caller
    while node is not None and node != outer:
        if node.type in {"await_expression", "return_statement"}:
            return True
        if node.type == "call_expression":
            func = node.child_by_field_name("function")
            text = normalize_expr(node_text(data, func)) if func is not None else ""
            if text.startswith("Promise.") and text.split(".", 1)[1] in PROMISE_COMBINATORS:
                return True
        if node.type == "variable_declarator" and outer is not None:
            name = node.child_by_field_name("name")
            if name is None or name.type != "identifier":
                return False
            var = node_text(data, name)
            for use in walk_type(outer, "await_expression", "return_statement"):
                if any(node_text(data, i) == var for i in walk_type(use, "identifier")):
                    return True
            return False
        node = node.parent
    return False


def lives_within_event(call: Node, data: bytes) -> bool:
    """A timer that cannot outlive the request or event that set it: armed inside the executor
    of a promise that event awaits (an awaited sleep, a `Promise.race` timeout, a request
    timeout), or cleared by `clearTimeout` in the function that armed it once the work is done.
    The in-flight event keeps the object awake anyway; an alarm would be the wrong advice."""
    func = _enclosing_function(call)
    while func is not None:
        promise = _promise_of_executor(func, data)
        if promise is not None:
            return _awaited_in_event(promise, data)
        # a callback nested in the executor (`() => { … setTimeout(…) }` inside the promise)
        # belongs to the timer's own callback chain: look further out only through arrows
        if func.type != "arrow_function":
            break
        func = _enclosing_function(func)
    if _is_abort_timer(call, data):
        return True
    holder = call.parent
    if holder is not None and holder.type == "variable_declarator":
        name = holder.child_by_field_name("name")
        scope = _enclosing_function(call)
        if name is not None and scope is not None:
            var = node_text(data, name)
            for other in walk_type(scope, "call_expression"):
                callee = other.child_by_field_name("function")
                if callee is None or node_text(data, callee) not in {"clearTimeout"}:
                    continue
                if any(node_text(data, a) == var for a in call_args(other)):
                    # cleared in a `finally` or after an awaited piece of work
                    return _has_await_before(scope, other)
    return False


def _is_abort_timer(call: Node, data: bytes) -> bool:
    """`setTimeout(() => controller.abort(), ms)` in a function that awaits work given
    `controller.signal`: a request timeout. Once the work is done the abort does nothing; the
    timer cancels this event's own work and does not carry work of its own past it."""
    args = call_args(call)
    if not args or args[0].type not in {"arrow_function", "function_expression"}:
        return False
    body = args[0].child_by_field_name("body")
    if body is not None and body.type == "statement_block":
        statements = [c for c in body.named_children if c.type != "comment"]
        if len(statements) != 1 or statements[0].type != "expression_statement":
            return False
        body = statements[0].named_children[0] if statements[0].named_children else None
    if body is None or body.type != "call_expression":
        return False
    callee = body.child_by_field_name("function")
    if callee is None or callee.type != "member_expression":
        return False
    prop, obj = callee.child_by_field_name("property"), callee.child_by_field_name("object")
    if prop is None or obj is None or node_text(data, prop) != "abort":
        return False
    scope = _enclosing_function(call)
    if scope is None:
        return False
    signal = f"{normalize_expr(node_text(data, obj))}.signal"
    return any(
        signal in normalize_expr(node_text(data, awaited))
        for awaited in walk_type(scope, "await_expression")
    ) or any(
        signal in normalize_expr(node_text(data, decl)) and _awaits_name(scope, decl, data)
        for decl in walk_type(scope, "variable_declarator")
    )


def _awaits_name(scope: Node, decl: Node, data: bytes) -> bool:
    """`const init = { signal: c.signal }` … `await fetch(url, init)`: the declared name is
    used in an awaited expression of the same function."""
    name = decl.child_by_field_name("name")
    if name is None or name.type != "identifier":
        return False
    var = node_text(data, name)
    return any(
        var in {node_text(data, n) for n in walk_type(awaited, "identifier")}
        for awaited in walk_type(scope, "await_expression")
    )


def _has_await_before(scope: Node, clear: Node) -> bool:
    return any(a.start_byte < clear.start_byte for a in walk_type(scope, "await_expression"))


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class TimerState:
    """What the fix needs: the class and the `setTimeout`/`setInterval` call."""

    cls: DurableObjectClass
    call: Node


def check(model: ProjectModel) -> Iterator[Finding]:
    for cls in model.classes:
        data = cls.file.data
        scopes = [cls.node, *functions_called_from(cls)]
        methods: list[tuple[int, int, str, Node]] | None = None  # sorted once a timer is found
        for scope in scopes:
            for call in calls_mentioning(data, scope, *TIMERS, file=cls.file):
                func = call.child_by_field_name("function")
                if func is None:
                    continue
                callee = normalize_expr(node_text(data, func))
                receiver, _, name = callee.rpartition(".")
                if name not in TIMERS or receiver not in GLOBAL_RECEIVERS:
                    continue
                args = call_args(call)
                if _is_yield(args, data) or (
                    name == "setTimeout" and lives_within_event(call, data)
                ):
                    continue
                if methods is None:
                    methods = _method_starts(cls)
                config = model.config_for_class(cls)
                long_lived = config is not None and config.compat_at_least("2026-10-01")
                extra = (
                    " With this compatibility_date a pending timer keeps the object alive, billed, for up to 15 minutes."
                    if long_lived
                    else ""
                )
                where = "" if scope is cls.node else " (in a function the class calls)"
                yield RULE.finding(
                    "timer",
                    f"`{name}` in Durable Object `{cls.name}`{where} keeps it from hibernating; "
                    f"schedule the work with `this.ctx.storage.setAlarm()` instead.{extra}",
                    node_span(cls.file, func),
                    data={
                        "class": cls.name,
                        "timer": name,
                        "delay": node_text(data, args[1]) if len(args) > 1 else None,
                        "call": [call.start_byte, call.end_byte],
                        # for the generated harden test: the method the timer's callback calls
                        # and the no-argument method that starts the timer (None if unknown)
                        "callback": _callback_method(data, args),
                        "arming_method": _arming_method(methods, call),
                    },
                    state=TimerState(cls, call),
                )


RULE = Rule(
    id="timer-blocks-hibernation",
    title="A timer keeps the Durable Object from hibernating",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "timer": "a setTimeout/setInterval that keeps the object from hibernating",
    },
)
