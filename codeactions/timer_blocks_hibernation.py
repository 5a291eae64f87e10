"""Fix for timer-blocks-hibernation (unsafe): the timer becomes an alarm.

The callback body moves to the alarm path (through `codeactions._alarm`, which adds a schedule
table when `alarm()` already serves another purpose); the delay becomes `Date.now() + <delay>`;
`setInterval` becomes an alarm that re-arms itself while no stop is recorded: every
`clearInterval`/`clearTimeout` of the handle becomes a stop written to storage at the same place.
An interval never cleared re-arms only while `getWebSockets()` has sockets for its work, or is not
converted. Refused when the handle is read other than by a start guard, when the callback or delay uses local variables of the
function that set the timer (they would not survive hibernation: a human must store them), when
the timer is in a helper function outside the class, or the callback is not an inline arrow or a
`this.method` reference.
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_ALARMS, REF_LIFECYCLE
from durable_harden.analyzers.rules.timer_blocks_hibernation import TimerState
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    enclosing,
    node_text,
    normalize_expr,
    walk,
    walk_type,
)
from durable_harden.codeactions._alarm import AlarmWork, plan_alarm_work
from durable_harden.codeactions._tsedit import (
    is_async,
    member_expressions_named,
    quote_char,
    reindent,
    statement_of,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import timer_case
from durable_harden.codeactions.spec import TIER_HIBERNATION, UNSAFE, FixDocs, FixSpec, Offer

CannotConvert = CannotFix  # the one error a builder raises (codeactions/fix.py)


def _locals_of(data: bytes, func: Node) -> set[str]:
    names: set[str] = set()
    for node in walk(func):
        if node.type in {"variable_declarator", "required_parameter", "optional_parameter"}:
            target = node.child_by_field_name("name") or node.child_by_field_name("pattern")
            if target is not None:
                names.update(
                    node_text(data, n)
                    for n in walk(target)
                    if n.type in {"identifier", "shorthand_property_identifier_pattern"}
                )
    return names


def _free_locals(data: bytes, node: Node, outer_locals: set[str]) -> set[str]:
    inner = _locals_of(data, node)
    used: set[str] = set()
    for ident in walk(node):
        if ident.type == "identifier" and node_text(data, ident) in outer_locals - inner:
            used.add(node_text(data, ident))
    return used


def _callback_body(data: bytes, callback: Node) -> tuple[str, str]:
    """(statements, kind name)."""
    if callback.type == "arrow_function":
        params = callback.child_by_field_name("parameters")
        if callback.child_by_field_name("parameter") is not None or (
            params is not None and params.named_child_count
        ):
            raise CannotConvert("the callback takes parameters")
        body = callback.child_by_field_name("body")
        if body is None:
            raise CannotConvert("empty callback")
        if body.type == "statement_block":
            raw = data[body.start_byte + 1 : body.end_byte - 1].decode().strip("\n").rstrip()
            text = reindent(raw, "")
        else:
            text = node_text(data, body).strip()
            if text.startswith("void "):
                text = text[5:]
            text += ";"
        kind = "timer"
        expr = body
        if body.type == "statement_block" and body.named_child_count == 1:
            expr = body.named_children[0]
            if expr.type == "expression_statement" and expr.named_child_count:
                expr = expr.named_children[0]
        if expr.type == "unary_expression":
            expr = expr.child_by_field_name("argument") or expr
        if expr.type == "await_expression" and expr.named_child_count:
            expr = expr.named_children[0]
        if expr.type == "call_expression":
            callee = normalize_expr(node_text(data, expr.child_by_field_name("function") or expr))
            if callee.startswith("this.") and callee.count(".") == 1:
                kind = callee[5:]
        return text, kind
    text = normalize_expr(node_text(data, callback))
    if text.startswith("this.") and text.count(".") == 1:
        return f"await {text}();", text[5:]
    raise CannotConvert("the callback is not an inline arrow function or a method of the class")


_CLEARS = {"setInterval": "clearInterval", "setTimeout": "clearTimeout"}


def _split_and(data: bytes, node: Node) -> list[str]:
    if node.type == "binary_expression":
        op = node.child_by_field_name("operator")
        if op is not None and node_text(data, op) == "&&":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None:
                return _split_and(data, left) + _split_and(data, right)
    return [node_text(data, node)]


def _free_name(taken: str, base: str) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _clear_sites(data: bytes, cls: DurableObjectClass, clear: str, target: str) -> list[Node]:
    """Every `clearInterval(<target>)` (or clearTimeout) call in the class."""
    sites: list[Node] = []
    for call in walk_type(cls.node, "call_expression"):  # the class's calls, pre-order
        func = call.child_by_field_name("function")
        if func is None or node_text(data, func) != clear:
            continue
        args = call_args(call)
        if args and normalize_expr(node_text(data, args[0])) == target:
            sites.append(call)
    return sites


def _guard_if(data: bytes, call: Node, target: str) -> Node | None:
    """The `if` directly around a clear call whose condition tests the handle."""
    if_stmt = enclosing(call, "if_statement")
    if if_stmt is None:
        return None
    cond = if_stmt.child_by_field_name("condition")
    if cond is None or target not in normalize_expr(node_text(data, cond)):
        return None
    return if_stmt


def _handle_reads_elsewhere(
    data: bytes,
    cls: DurableObjectClass,
    target: str,
    timer_stmt: Node,
    method: Node,
    allowed: list[Node],
) -> list[Node]:
    """Reads of the timer handle (`this.loop`) the fix cannot keep the meaning of. Allowed: an
    assignment to it, the clear calls and the conditions of the `if`s around them (rewritten),
    and a start guard in the method that starts the timer (`if (this.loop) return;`), which a
    pending alarm now answers."""
    bad: list[Node] = []
    # a member expression spelled `target` ends with its property: only those are looked at
    prop = target.rsplit(".", 1)[-1] if "." in target else ""
    for node in member_expressions_named(cls.file, cls.node, prop):
        if normalize_expr(node_text(data, node)) != target:
            continue
        if any(a.start_byte <= node.start_byte < a.end_byte for a in allowed):
            continue
        if timer_stmt.start_byte <= node.start_byte < timer_stmt.end_byte:
            continue
        parent = node.parent
        if (
            parent is not None
            and parent.type == "assignment_expression"
            and parent.child_by_field_name("left") == node
        ):
            continue
        guard = enclosing(node, "if_statement")
        if guard is not None and method.start_byte <= guard.start_byte < method.end_byte:
            cond = guard.child_by_field_name("condition")
            if cond is not None and cond.start_byte <= node.start_byte < cond.end_byte:
                if guard.start_byte < timer_stmt.start_byte:
                    continue
        bad.append(node)
    return bad


def _uses_sockets(data: bytes, cls: DurableObjectClass, callback: Node) -> bool:
    """The timer's work reaches `getWebSockets()` (in the callback or a method it calls)."""
    from durable_harden.analyzers.rules._alarms import this_calls

    seen: set[str] = set()
    frontier: list[Node] = [callback]
    text = normalize_expr(node_text(data, callback))
    if text.startswith("this.") and text[5:] in cls.methods:
        frontier.append(cls.methods[text[5:]])
    while frontier:
        node = frontier.pop()
        if b"getWebSockets(" in data[node.start_byte : node.end_byte]:
            return True
        for name in this_calls(cls, node):
            if name not in seen:
                seen.add(name)
                frontier.append(cls.methods[name])
    return False


def build(finding: Finding, model: ProjectModel) -> Fix:
    state = state_of(finding, TimerState)
    cls, call = state.cls, state.call
    data = cls.file.data
    path = cls.file.path
    func = enclosing(call, *FUNCTION_TYPES)
    while func is not None:
        outer = enclosing(func, *FUNCTION_TYPES)
        if outer is None or outer.start_byte < cls.node.start_byte:
            break
        func = outer
    if func is None or func.type != "method_definition":
        raise CannotConvert("the timer is not in a method")
    args = call_args(call)
    if len(args) != 2:
        raise CannotConvert("extra timer arguments")
    callback, delay = args
    outer_locals = _locals_of(data, func)
    if _free_locals(data, callback, outer_locals) or _free_locals(data, delay, outer_locals):
        raise CannotConvert("the callback uses locals of the method (store them first)")
    body, kind = _callback_body(data, callback)
    delay_text = node_text(data, delay)
    interval = finding.data["timer"] == "setInterval"
    # what the timer's id was stored in: `this.t = setInterval(…)` / `const t = setTimeout(…)`
    stmt = statement_of(call)
    parent = call.parent
    target: str | None = None
    if parent is not None and parent.type == "assignment_expression":
        left = parent.child_by_field_name("left")
        target = normalize_expr(node_text(data, left)) if left is not None else None
        if target is not None and not target.startswith("this."):
            raise CannotConvert("the timer id is kept in a local variable")
    elif parent is not None and parent.type == "variable_declarator":
        raise CannotConvert("the timer id is kept in a local variable")
    elif parent is None or parent.type != "expression_statement":
        raise CannotConvert("the timer's value is used")
    # How the timer stopped: every clear call of its handle. Each becomes a stop of the alarm at
    # the same place (so it stops when, and only when, the code stopped the timer); the `if`
    # around it loses its test of the handle, which is never set any more.
    clear_name = _CLEARS[finding.data["timer"]]
    sites = _clear_sites(data, cls, clear_name, target) if target is not None else []
    guards = [g for g in (_guard_if(data, c, target or "") for c in sites) if g is not None]
    if target is not None:
        allowed = [*(call_args(c)[0] for c in sites)]
        allowed += [g.child_by_field_name("condition") for g in guards]  # type: ignore[misc]
        bad = _handle_reads_elsewhere(data, cls, target, stmt, func, allowed)
        if bad:
            raise CannotConvert(
                f"`{target}` is read elsewhere (line {bad[0].start_point[0] + 1}); with no timer "
                "it would never be set, so that code would change meaning"
            )
    ctx = ctx_expression(cls)
    q = quote_char(data)
    # the stop lives in storage: it survives hibernation, and it leaves the alarm itself alone
    # (another purpose may share it); the alarm armed before the stop fires once, sees it, ends
    key = f"{q}durable-harden:{kind}-stopped{q}"
    stopped = f"await {ctx}.storage.get<boolean>({key})"
    rearm_when: str | None = None
    stop_text = f"void {ctx}.storage.put({key}, true)"
    for call in sites:
        if stmt.start_byte <= call.start_byte < stmt.end_byte:
            # a stop inside the work itself moves with the work
            if node_text(data, call) not in body:
                raise CannotConvert("the stop inside the callback cannot be carried")
            body = body.replace(node_text(data, call), stop_text)
    if interval:
        rearm = f"await {{schedule:Date.now() + {delay_text}}};"
        if sites:
            rearm_when = f"!({stopped})"
        elif _uses_sockets(data, cls, callback):
            # no stop in the code: the work is for connected sockets, so it remains while any is
            rearm_when = f"{ctx}.getWebSockets().length > 0"
        else:
            raise CannotConvert(
                "the interval is never cleared and its work has no end the fix can see: an alarm "
                "re-arming forever would run (and bill) forever"
            )
        body = f"{body}\nif ({rearm_when}) {{\n  {rearm}\n}}"
    if sites:
        # no `return`: the work may share `alarm()` with other work that must still run
        wrapped = "\n".join(f"  {line}" if line.strip() else "" for line in body.split("\n"))
        body = f"if (!({stopped})) {{\n{wrapped}\n}}"
    plan = plan_alarm_work(cls, model, AlarmWork(kind=kind, body=body))
    at = f"Date.now() + {delay_text}"
    schedule = plan.schedule(at)
    in_ctor = func == cls.constructor
    if plan.shared:
        text = f"{'await' if is_async(data, func) and not in_ctor else 'void'} {schedule};"
    elif is_async(data, func) and not in_ctor:
        text = f"if ((await {plan.ctx}.storage.getAlarm()) === null) {{ await {schedule}; }}"
    else:
        text = (
            f"void {plan.ctx}.storage.getAlarm().then(async (pending) => {{\n"
            f"  if (pending === null) await {schedule};\n}});"
        )
    if sites:
        text = f"void {ctx}.storage.put({key}, false);\n{text}"
    indent = data[data.rfind(b"\n", 0, stmt.start_byte) + 1 : stmt.start_byte].decode()
    text = text.replace("\n", "\n" + indent)
    edits = [Edit(path, stmt.start_byte, stmt.end_byte, text), *plan.edits]
    outside = [c for c in sites if not (stmt.start_byte <= c.start_byte < stmt.end_byte)]
    for call in outside:
        edits.append(Edit(path, call.start_byte, call.end_byte, stop_text))
    for guard in guards:
        if stmt.start_byte <= guard.start_byte < stmt.end_byte:
            continue
        cond = guard.child_by_field_name("condition")
        assert cond is not None and target is not None
        cond_node = cond
        while cond_node.type == "parenthesized_expression" and cond_node.named_child_count == 1:
            cond_node = cond_node.named_children[0]
        kept = [p for p in _split_and(data, cond_node) if target not in normalize_expr(p)]
        edits.append(Edit(path, cond.start_byte, cond.end_byte, f"({' && '.join(kept) or 'true'})"))
    fast = delay.type == "number" and _ms(node_text(data, delay)) < 1000
    review = (
        "Timing changes: an alarm is durable and at-least-once, it fires even after the object "
        "was evicted, and a pending alarm is not pushed back by a second call the way a second "
        "timer would run. The callback now runs in `alarm()`, possibly after a wake, when "
        "in-memory fields are reset. "
    )
    if sites:
        review += (
            f"Where the code called `{clear_name}({target})` it now records the stop in storage "
            f"({key}); the alarm checks it before the work"
            + (" and before re-arming" if interval else "")
            + f", and starting again clears it. `{target}` is no longer set. "
        )
    elif interval:
        review += (
            f"The code never stopped the interval: the alarm re-arms only while `{rearm_when}`. "
        )
    if fast:
        review += (
            f"The delay ({delay_text} ms) is sub-second: every alarm is a billed invocation, so a "
            "fast game loop may be better kept while players are connected and stopped when idle. "
        )
    if plan.shared:
        review += (
            "`alarm()` already served another purpose: it now dispatches from the "
            "`_alarm_schedule` table; its old body is `alarmDefault()` and every `setAlarm()` of "
            "the class goes through `scheduleAlarm()`. Check `getAlarm()`/`deleteAlarm()` uses."
        )
    return Fix(
        fix_id="timer-blocks-hibernation.alarm",
        title=f"Replace `{finding.data['timer']}` with an alarm",
        safety=Safety.UNSAFE,
        edits=edits,
        review=review.strip(),
    )


def _ms(text: str) -> float:
    try:
        return float(text.replace("_", ""))
    except ValueError:
        return float("inf")


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "timer moved to an alarm",
            UNSAFE,
            """
The timer becomes an alarm: the callback body moves to `alarm()` (through a schedule table when
the alarm already serves another purpose) and any state it closes over must be stored.

The timer's stop is carried. Every `clearInterval(<handle>)` / `clearTimeout(<handle>)` of the
class becomes `void ctx.storage.put("durable-harden:<kind>-stopped", true)` at the same place
(inside the moved work too); starting the timer writes `false`; the alarm returns before the
work when the stop is recorded and, for an interval, re-arms only while it is not. The stop is
kept in storage so it survives hibernation and leaves an alarm shared with other work alone. An
`if` around a clear call loses its test of the handle (the handle is never set any more). An
interval the code never clears re-arms only while its work has sockets to serve
(`getWebSockets().length > 0`, when the work reaches `getWebSockets()`). The re-arm is always
conditional, so the alarm never trips `alarm-retry-suppressed`.

State the timer kept must keep its meaning: a start guard that tests the handle in the method
that starts the timer (`if (this.loop) return;`) is kept (a pending alarm now answers it: the
start is guarded by `getAlarm() === null`).
""",
            why="""
Unsafe: timing changes (alarms have at-least-once delivery and second-level granularity in
practice), and what the callback kept in memory is lost at hibernation.
""",
        ),
    ),
    review="""
What the callback relied on in memory, and whether its new timing is acceptable.
""",
    not_offered="""
An interval the code never clears whose work serves no sockets: an alarm re-arming itself
forever would run, and bill, forever. Any other read of the handle than a start guard
(`get running()`). A callback or delay that uses locals of the method that set the timer.
""",
    references=(
        REF_LIFECYCLE + " (pending timers keep the object from hibernating)",
        REF_ALARMS + " (at-least-once; one alarm per object)",
    ),
)


SPEC = FixSpec(
    "timer-blocks-hibernation",
    build,
    tier=TIER_HIBERNATION,
    label="timer moved to an alarm",
    test_case=timer_case,
    docs=FIX_DOCS,
)
