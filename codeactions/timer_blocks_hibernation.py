"""Fix for timer-blocks-hibernation (unsafe): the timer becomes an alarm.

The callback body moves to the alarm path (through `codeactions._alarm`, which adds a schedule
table when `alarm()` already serves another purpose); the delay becomes `Date.now() + <delay>`;
`setInterval` becomes an alarm that re-arms itself while the condition under which the code used
to `clearInterval` does not hold. Refused when the callback or delay uses local variables of the
function that set the timer (they would not survive hibernation: a human must store them), when
the timer is in a helper function outside the class, or the callback is not an inline arrow or a
`this.method` reference.
"""

from __future__ import annotations

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    enclosing,
    node_text,
    normalize_expr,
    walk,
)
from durable_harden.codeactions._alarm import AlarmWork, plan_alarm_work
from durable_harden.codeactions._tsedit import (
    finding_class,
    is_async,
    node_at,
    reindent,
    statement_of,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety
from durable_harden.codeactions.harden.generated_tests import timer_case
from durable_harden.codeactions.spec import TIER_HIBERNATION, FixSpec

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


def _stop_condition(data: bytes, cls: DurableObjectClass, target: str | None) -> str | None:
    """The condition under which the class used to clearInterval(target)."""
    if target is None:
        return None
    for call in walk(cls.node):
        if call.type != "call_expression":
            continue
        func = call.child_by_field_name("function")
        if func is None or node_text(data, func) != "clearInterval":
            continue
        args = call_args(call)
        if not args or normalize_expr(node_text(data, args[0])) != target:
            continue
        if_stmt = enclosing(call, "if_statement")
        if if_stmt is None:
            return None
        cond = if_stmt.child_by_field_name("condition")
        if cond is None:
            return None
        while cond.type == "parenthesized_expression" and cond.named_child_count == 1:
            cond = cond.named_children[0]
        parts = _split_and(data, cond)
        kept = [p for p in parts if target not in normalize_expr(p)]
        return " && ".join(kept) if kept else None
    return None


def _split_and(data: bytes, node: Node) -> list[str]:
    if node.type == "binary_expression":
        op = node.child_by_field_name("operator")
        if op is not None and node_text(data, op) == "&&":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None:
                return _split_and(data, left) + _split_and(data, right)
    return [node_text(data, node)]


def build(finding: Finding, model: ProjectModel) -> Fix:
    cls = finding_class(finding, model)
    if cls is None:
        raise CannotConvert("class not found")
    data = cls.file.data
    path = cls.file.path
    call = node_at(cls.node, "call_expression", finding.data["call"])
    if call is None:
        raise CannotConvert("the timer is not inside the class")
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
    stop = _stop_condition(data, cls, target) if interval else None
    if interval:
        rearm = f"await {{schedule:Date.now() + {delay_text}}};"
        if stop:
            body = f"{body}\nif (!({stop})) {{\n  {rearm}\n}}"
        else:
            body = f"{body}\n{rearm}"
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
    indent = data[data.rfind(b"\n", 0, stmt.start_byte) + 1 : stmt.start_byte].decode()
    text = text.replace("\n", "\n" + indent)
    edits = [Edit(path, stmt.start_byte, stmt.end_byte, text), *plan.edits]
    fast = delay.type == "number" and _ms(node_text(data, delay)) < 1000
    review = (
        "Timing changes: an alarm is durable and at-least-once, it fires even after the object "
        "was evicted, and a pending alarm is not pushed back by a second call the way a second "
        "timer would run. The callback now runs in `alarm()`, possibly after a wake, when "
        "in-memory fields are reset. "
    )
    if interval and not stop:
        review += "No clearInterval condition was found: the alarm re-arms itself forever; add a condition. "
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


SPEC = FixSpec(
    "timer-blocks-hibernation",
    build,
    tier=TIER_HIBERNATION,
    label="timer moved to an alarm",
    test_case=timer_case,
)
