"""Fixes for websocket-not-hibernatable.

- `server.accept()` -> `this.ctx.acceptWebSocket(server)` when the socket has no listeners:
  safe only when nothing sees the difference (no `webSocket*` handler methods, no base class that
  may define them, no `getWebSockets()` in the class); otherwise unsafe, because the socket's
  dropped messages and its close now reach those handlers;
- unsafe: the same, plus every `addEventListener("message" | "close" | "error")` body on that
  socket moves into `webSocketMessage` / `webSocketClose` / `webSocketError` (merged into
  existing handlers behind a tag check), with the socket and event renamed to the handler's
  parameters. `const` locals of the accepting method the listeners read travel in the socket's
  attachment (`serializeAttachment({ … })` where the first listener was, `deserializeAttachment()`
  in each handler). Refused when a listener closes over a parameter or a `let`, or uses the
  event in a way we cannot map. A `this.<list>.push(<socket element>)` of the accepting method is
  rebuilt in the constructor from `getWebSockets()` (the list is empty after a wake); refused
  when the element holds more than the socket. A moved close listener that closes the socket
  gets no second `close()`.
- nothing when the socket is handed to other code: that code may listen on it, and listeners of
  a hibernatable socket never fire.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass, ctx_expression
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIFECYCLE, REF_WEBSOCKETS
from durable_harden.analyzers.rules._websocket import (
    LISTENER_EVENTS,
    SocketUse,
    ctx_reachable,
)
from durable_harden.analyzers.rules.websocket_not_hibernatable import AcceptState
from durable_harden.analyzers.rules.websocket_state_in_memory import lost_socket_fields
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    node_text,
    normalize_expr,
    walk,
)
from durable_harden.codeactions._tsedit import (
    append_member,
    body_indent,
    indent_unit,
    insert_into_body_start,
    is_async,
    line_start,
    member_indent,
    method_params,
    quote_char,
    reindent,
    remove_statement,
    statement_of,
)
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import websocket_case
from durable_harden.codeactions.spec import (
    SAFE_OR_UNSAFE,
    TIER_HIBERNATION,
    UNSAFE,
    FixDocs,
    FixSpec,
    Offer,
)
from durable_harden.codeactions.websocket_state_in_memory import (
    Accepted,
    Carry,
    Merge,
    carry_fields,
)

# handler -> (parameter list with types, default parameter names, event property -> parameter)
HANDLERS: dict[str, tuple[list[tuple[str, str]], dict[str, int]]] = {
    "webSocketMessage": ([("ws", "WebSocket"), ("message", "string | ArrayBuffer")], {"data": 1}),
    "webSocketClose": (
        [("ws", "WebSocket"), ("code", "number"), ("reason", "string"), ("wasClean", "boolean")],
        {"code": 1, "reason": 2, "wasClean": 3},
    ),
    "webSocketError": ([("ws", "WebSocket"), ("error", "unknown")], {"error": 1}),
}

CLOSE_GUARD = "{ws}.close({code} === 1004 || {code} === 1005 || {code} === 1006 || {code} === 1015 ? 1000 : {code}, {reason})"


def guarded_close(ws: str, code: str, reason: str) -> str:
    """`ws.close(...)` that never passes a code `close()` refuses (1004, 1005, 1006, 1015)."""
    return CLOSE_GUARD.format(ws=ws, code=code, reason=reason)


CannotMove = CannotFix  # the one error a builder raises (codeactions/fix.py)

# other names for a new handler's parameters when the moved body already uses the usual one
_PARAM_ALTERNATIVES = {
    "ws": ("socket", "webSocket", "peer"),
    "message": ("data", "payload", "incoming"),
    "code": ("closeCode",),
    "reason": ("closeReason",),
    "wasClean": ("clean",),
    "error": ("err", "failure"),
}


def _param_names(handler: str, taken: set[str] | None = None) -> list[str]:
    """The parameter names of a new `handler`, avoiding `taken`."""
    names: list[str] = []
    for default, _ in HANDLERS[handler][0]:
        options = (default, *_PARAM_ALTERNATIVES.get(default, ()))
        name = next((n for n in options if n not in (taken or set()) and n not in names), None)
        if name is None:
            raise CannotMove(f"the listener uses every name for `{handler}`'s `{default}`")
        names.append(name)
    return names


@dataclass
class _Moved:
    """A listener body moved into a hibernation handler."""

    handler: str
    statements: str  # body text with names replaced, not yet indented
    carried: set[str] = field(default_factory=set)  # locals of the accepting method it reads
    # identifiers the moved text keeps as written (not renamed to a handler parameter): a
    # handler parameter of the same name would capture them (`for (const [ws] of map)`)
    names: set[str] = field(default_factory=set)


def _find_use(finding: Finding) -> tuple[DurableObjectClass, SocketUse, Node]:
    state = state_of(finding, AcceptState)
    return state.cls, state.use, state.accept


def _uses_of_pair(finding: Finding) -> list[SocketUse]:
    """Every use of the finding's `WebSocketPair` (`server_sockets` of the class, those of that
    pair), as the rule found them."""
    return list(state_of(finding, AcceptState).group)


def _socket_text(data: bytes, accept: Node) -> str:
    func = accept.child_by_field_name("function")
    obj = func.child_by_field_name("object") if func is not None else None
    if obj is None:
        raise CannotMove("unexpected accept() shape")
    return normalize_expr(node_text(data, obj))


def _accept_edit(cls: DurableObjectClass, call: Node) -> Edit:
    socket = _socket_text(cls.file.data, call)
    return Edit(
        cls.file.path,
        call.start_byte,
        call.end_byte,
        f"{ctx_expression(cls)}.acceptWebSocket({socket})",
    )


def _declared_in(data: bytes, scope: Node, before: int) -> set[str]:
    """Names declared in scope (params, const/let, destructuring) outside the listener."""
    names: set[str] = set()
    for node in walk(scope):
        if node.type in {"variable_declarator", "required_parameter", "optional_parameter"}:
            target = node.child_by_field_name("name") or node.child_by_field_name("pattern")
            if target is None:
                continue
            for ident in walk(target):
                if ident.type in {"identifier", "shorthand_property_identifier_pattern"}:
                    names.add(node_text(data, ident))
    return names


def _render(data: bytes, replacements: list[tuple[int, int, str]], start: int, end: int) -> str:
    """The source text of [start, end) with the replacements inside it applied (an outer one
    wins over those nested in it)."""
    pieces: list[str] = []
    cursor = start
    for r_start, r_end, text in sorted(r for r in replacements if start <= r[0] < end):
        if r_start < cursor or r_end > end:
            continue
        pieces.append(data[cursor:r_start].decode())
        pieces.append(text)
        cursor = r_end
    pieces.append(data[cursor:end].decode())
    return "".join(pieces)


def _move_listener(
    cls: DurableObjectClass,
    use: SocketUse,
    event: str,
    call: Node,
    params: list[str],
    attach_sets: Sequence[Node] = (),
) -> _Moved:
    """`attach_sets`: `this.<map>.set(socket, value)` calls in the body whose value must also
    become the socket's attachment (websocket-state-in-memory's edit, written into the moved
    text with the handler's names)."""
    data = cls.file.data
    handler = LISTENER_EVENTS[event]
    args = call_args(call)
    if len(args) < 2 or args[1].type not in {"arrow_function", "function_expression"}:
        raise CannotMove(f'the "{event}" listener is not an inline function')
    if len(args) > 2:
        raise CannotMove(f'the "{event}" listener has options')
    func = args[1]
    body = func.child_by_field_name("body")
    if body is None:
        raise CannotMove("listener without a body")
    event_param: str | None = None
    _, prop_map = HANDLERS[handler]
    # `({ data })` / `({ code, reason })`: each destructured property is a handler parameter
    destructured: dict[str, str] = {}
    single = func.child_by_field_name("parameter")
    if single is not None:
        event_param = node_text(data, single)
    else:
        plist = method_params(data, func)
        if len(plist) > 1:
            raise CannotMove("listener with several parameters")
        event_param = plist[0] if plist else None
        if event_param is not None and not event_param.isidentifier():
            pattern = _param_pattern(func)
            if pattern is None or pattern.type != "object_pattern":
                raise CannotMove("the listener's parameter is a pattern we cannot map")
            for entry in pattern.named_children:
                if entry.type != "shorthand_property_identifier_pattern":
                    raise CannotMove("the listener's parameter is a pattern we cannot map")
                name = node_text(data, entry)
                if name not in prop_map:
                    raise CannotMove(f"the listener reads `{name}` of the event")
                destructured[name] = params[prop_map[name]]
            event_param = None
    # what the body refers to that lives in the accepting method
    locals_outside = _declared_in(data, use.scope, call.start_byte) - _declared_in(
        data, func, call.start_byte
    )
    socket_names = {n for n in use.names if "[" not in n}
    carried: set[str] = set()
    replacements: list[tuple[int, int, str]] = []
    for node in walk(body):
        if node.type == "member_expression" and event_param is not None:
            obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
            if obj is not None and prop is not None and node_text(data, obj) == event_param:
                name = node_text(data, prop)
                if event == "error" and name in {"error", "message"}:
                    replacements.append((node.start_byte, node.end_byte, params[1]))
                    continue
                if name not in prop_map:
                    raise CannotMove(f"the listener reads `{event_param}.{name}`")
                replacements.append((node.start_byte, node.end_byte, params[prop_map[name]]))
                continue
        if node.type == "subscript_expression":
            text = normalize_expr(node_text(data, node))
            if text in use.names:
                replacements.append((node.start_byte, node.end_byte, params[0]))
                continue
        if node.type == "shorthand_property_identifier":  # `{ id, data }` in an object literal
            name = node_text(data, node)
            if name in destructured:
                replacements.append(
                    (node.start_byte, node.end_byte, f"{name}: {destructured[name]}")
                )
            elif name in socket_names:
                replacements.append((node.start_byte, node.end_byte, f"{name}: {params[0]}"))
            elif name == event_param:
                raise CannotMove(f"the listener uses `{event_param}` itself")
            elif name in locals_outside:
                carried.add(name)
            continue
        if node.type == "identifier":
            name = node_text(data, node)
            parent = node.parent
            if parent is not None and parent.type == "member_expression":
                obj = parent.child_by_field_name("object")
                if obj is None or obj.start_byte != node.start_byte:
                    continue  # a property name
            if any(s <= node.start_byte < e for s, e, _ in replacements):
                continue
            if name in destructured:
                replacements.append((node.start_byte, node.end_byte, destructured[name]))
            elif name in socket_names:
                replacements.append((node.start_byte, node.end_byte, params[0]))
            elif name == event_param:
                if event == "error":
                    replacements.append((node.start_byte, node.end_byte, params[1]))
                else:
                    raise CannotMove(f"the listener uses `{event_param}` itself")
            elif name in locals_outside:
                carried.add(name)
    kept = {
        node_text(data, n)
        for n in walk(body)
        if n.type
        in {"identifier", "shorthand_property_identifier", "shorthand_property_identifier_pattern"}
        and not any(s <= n.start_byte < e for s, e, _ in replacements)
    }
    for set_call in attach_sets:
        if not (body.start_byte <= set_call.start_byte < body.end_byte):
            continue
        stmt = set_call.parent
        args = call_args(set_call)
        if stmt is None or stmt.type != "expression_statement" or len(args) != 2:
            raise CannotMove("a value stored into a socket map in an unexpected shape")
        key = _render(data, replacements, args[0].start_byte, args[0].end_byte)
        value = _render(data, replacements, args[1].start_byte, args[1].end_byte)
        indent = data[line_start(data, stmt.start_byte) : stmt.start_byte].decode()
        lead = f"\n{indent}" if not indent.strip() else " "
        replacements.append(
            (stmt.start_byte, stmt.start_byte, f"{key}.serializeAttachment({value});{lead}")
        )
    # the body's text with replacements applied
    if body.type == "statement_block":
        inner_start, inner_end = body.start_byte + 1, body.end_byte - 1
    else:
        inner_start, inner_end = body.start_byte, body.end_byte
    text = _render(data, replacements, inner_start, inner_end)
    if body.type != "statement_block":
        text = text.strip() + ";"
    else:
        text = text.strip("\n").rstrip()
        if text.strip() == "":
            text = ""
    return _Moved(handler, text, carried, kept)


def _const_declarator(cls: DurableObjectClass, use: SocketUse, name: str) -> Node | None:
    """The `const <name> = …` of the accepting method (not a parameter, not `let`)."""
    data = cls.file.data
    for node in walk(use.scope):
        if node.type != "variable_declarator":
            continue
        target = node.child_by_field_name("name")
        if target is None or target.type != "identifier" or node_text(data, target) != name:
            continue
        decl = node.parent
        if decl is None or decl.type != "lexical_declaration":
            return None
        if not node_text(data, decl).startswith("const"):
            return None
        return node
    return None


def _declared_types(cls: DurableObjectClass, use: SocketUse, names: list[str]) -> dict[str, str]:
    data = cls.file.data
    types: dict[str, str] = {}
    for name in names:
        node = _const_declarator(cls, use, name)
        annotation = node.child_by_field_name("type") if node is not None else None
        if annotation is not None:
            types[name] = node_text(data, annotation).lstrip(":").strip()
    return types


def _attach_edit(
    cls: DurableObjectClass, use: SocketUse, socket: str, names: list[str], calls: list[Node]
) -> Edit:
    """What the listeners closed over per connection goes with the socket:
    `server.serializeAttachment({ name, room })` where the first listener was added (every
    carried value is a `const` declared before it), read back in each handler with
    `deserializeAttachment()`. Values must survive structured clone (strings, numbers, plain
    objects): a reviewer checks that."""
    data = cls.file.data
    class_text = data[cls.node.start_byte : cls.node.end_byte]
    if b"serializeAttachment(" in class_text or b"deserializeAttachment(" in class_text:
        raise CannotMove("the class already uses attachments: merging them needs a human")
    first = min((statement_of(c) for c in calls), key=lambda n: n.start_byte)
    for name in names:
        node = _const_declarator(cls, use, name)
        if node is None:
            raise CannotMove(
                f"the listener uses `{name}` from the accepting method, which is not a `const` "
                "(a parameter or a variable it changes cannot be carried in an attachment)"
            )
        if node.end_byte > first.start_byte:
            raise CannotMove(f"`{name}` is declared after the listener is added")
    indent = data[line_start(data, first.start_byte) : first.start_byte].decode()
    at = line_start(data, first.start_byte)
    text = f"{indent}{socket}.serializeAttachment({{ {', '.join(names)} }});\n"
    return Edit(cls.file.path, at, at, text)


def _param_pattern(func: Node) -> Node | None:
    params = func.child_by_field_name("parameters")
    if params is None:
        return None
    for param in params.named_children:
        if param.type == "comment":
            continue
        return param.child_by_field_name("pattern") or param
    return None


def _collapse_blank_lines(data: bytes, removals: list[Edit]) -> list[Edit]:
    """Merge adjacent whole-line removals; when a removed run sat between two blank lines,
    take one of the blank lines with it."""
    merged: list[Edit] = []
    for edit in sorted(removals, key=lambda e: e.start):
        if merged and merged[-1].end == edit.start:
            merged[-1] = Edit(edit.path, merged[-1].start, edit.end, "")
        else:
            merged.append(edit)
    result: list[Edit] = []
    for edit in merged:
        blank_before = edit.start >= 2 and data[edit.start - 2 : edit.start] == b"\n\n"
        after_end = data.find(b"\n", edit.end)
        blank_after = after_end != -1 and not data[edit.end : after_end].strip()
        if blank_before and blank_after and data[edit.start - 1 : edit.start] == b"\n":
            edit = Edit(edit.path, edit.start, after_end + 1, "")
        result.append(edit)
    return result


_LIST_ADDS = frozenset({"push", "unshift"})


def _constructor_with_state(cls: DurableObjectClass, no_constructor: str) -> tuple[Node, list[str]]:
    """The constructor's body and parameter names, the first (the state object) a plain name;
    CannotMove (with `no_constructor` when there is none) otherwise."""
    ctor = cls.constructor
    block = ctor.child_by_field_name("body") if ctor is not None else None
    if ctor is None or block is None:
        raise CannotMove(no_constructor)
    params = method_params(cls.file.data, ctor)
    if not params or not params[0].isidentifier():
        raise CannotMove("the constructor's state parameter has no name")
    return block, params


def _socket_list_rebuild(
    cls: DurableObjectClass, groups: list[SocketUse], tag: str | None, q: str
) -> list[Edit]:
    """A socket kept in an in-memory list of the class (`this.sessions.push({ socket })`, a
    broadcast loops over it) is lost at hibernation: the woken object's list is empty and its
    broadcasts reach nobody. The constructor (which runs again on wake) rebuilds the list from
    `getWebSockets()`, with the same element built around each socket. Refused when the element
    holds anything but the socket (per-connection data needs an attachment), or the class has
    other hibernatable sockets the rebuild would mix in."""
    data = cls.file.data
    pushes: list[tuple[str, str, Node]] = []  # (field, method, the pushed element)
    for use in groups:
        names = {n for n in use.names if "[" not in n}
        for call in walk(use.scope):
            if call.type != "call_expression":
                continue
            func = call.child_by_field_name("function")
            if func is None or func.type != "member_expression":
                continue
            target = func.child_by_field_name("object")
            method = func.child_by_field_name("property")
            if target is None or method is None or node_text(data, method) not in _LIST_ADDS:
                continue
            holder = normalize_expr(node_text(data, target))
            if not holder.startswith("this.") or holder.count(".") != 1:
                continue
            args = call_args(call)
            if len(args) != 1 or not any(
                n.type in {"identifier", "shorthand_property_identifier"}
                and node_text(data, n) in names
                for n in walk(args[0])
            ):
                continue
            for node in walk(args[0]):
                if node.type not in {"identifier", "shorthand_property_identifier"}:
                    continue
                parent = node.parent
                if (
                    parent is not None
                    and parent.type == "member_expression"
                    and parent.child_by_field_name("object") != node
                ):
                    continue
                if node_text(data, node) not in names:
                    raise CannotMove(
                        f"`{holder}` keeps `{node_text(data, node)}` with the socket: after a wake "
                        "the list is empty and rebuilding it needs that value in an attachment"
                    )
            pushes.append((holder, node_text(data, method), args[0]))
    if not pushes:
        return []
    class_text = data[cls.node.start_byte : cls.node.end_byte]
    if tag is None and b"acceptWebSocket(" in class_text:
        raise CannotMove("the class has other hibernatable sockets a rebuilt list would mix in")
    block, params = _constructor_with_state(
        cls, "no constructor to rebuild the list of sockets in after a wake"
    )
    statements = [c for c in block.named_children if c.type != "comment"]
    first = statements[0] if statements else None
    inner = body_indent(data, block)
    unit = indent_unit(data)
    var = next(v for v in ("ws", "socket", "restored") if v not in params)
    lines: list[str] = []
    tags = f"{q}{tag}{q}" if tag is not None else ""
    for holder, add, element in pushes:
        names = {n for u in groups for n in u.names if "[" not in n}
        pieces: list[str] = []
        cursor = element.start_byte
        for node in walk(element):
            if node.type not in {"identifier", "shorthand_property_identifier"}:
                continue
            if node_text(data, node) not in names or node.start_byte < cursor:
                continue
            pieces.append(data[cursor : node.start_byte].decode())
            text = node_text(data, node)
            pieces.append(f"{text}: {var}" if node.type == "shorthand_property_identifier" else var)
            cursor = node.end_byte
        pieces.append(data[cursor : element.end_byte].decode())
        lines.append(f"{inner}{unit}{holder}.{add}({''.join(pieces)});")
    text = (
        f"{inner}// the sockets still open after a wake (the list is empty then)\n"
        f"{inner}for (const {var} of {params[0]}.getWebSockets({tags})) {{\n"
        + "\n".join(lines)
        + f"\n{inner}}}\n"
    )
    if first is not None and node_text(data, first).startswith("super("):
        at = data.find(b"\n", first.end_byte)
        at = len(data) if at == -1 else at + 1
    else:
        at = line_start(data, first.start_byte) if first is not None else block.start_byte + 1
        if first is None:
            text = "\n" + text
    return [Edit(cls.file.path, at, at, text)]


def _carry_socket_state(
    cls: DurableObjectClass,
    groups: list[SocketUse],
    merge: Merge | None = None,
) -> Carry:
    """Socket-keyed collections the class would lose at its first hibernation, carried by
    websocket-state-in-memory's own edits (values into attachments, the constructor rebuilding
    them) in this same fix: otherwise the fix makes them empty after a wake and leaves that
    rule's finding behind. Nothing when the class already hibernates sockets (then that rule
    reports them already, with its own fix). Raises CannotFix when one cannot be carried."""
    data = cls.file.data
    if b"acceptWebSocket(" in data[cls.node.start_byte : cls.node.end_byte]:
        return Carry()
    fields = [node_text(data, name) for name in lost_socket_fields(cls)]
    if not fields:
        return Carry()
    listeners = [c for u in groups for _, c in u.listeners]
    closing = [c for u in groups for e, c in u.listeners if e in {"close", "error"}]
    accepted = [
        Accepted(statement_of(call), frozenset(u.names)) for u in groups for call in u.accepts
    ]
    return carry_fields(
        cls, fields, accepted=accepted, merge=merge, moved=listeners, closing=closing
    )


def _listener_fix(finding: Finding, model: ProjectModel) -> Fix:
    cls, use, accept = _find_use(finding)
    data = cls.file.data
    path = cls.file.path
    groups = _uses_of_pair(finding)
    listeners = [(u, e, c) for u in groups for e, c in u.listeners]
    typed = path.suffix in {".ts", ".tsx", ".mts", ".cts"}
    unit = indent_unit(data)
    mindent = member_indent(cls)
    tag_needed = any(LISTENER_EVENTS[e] in cls.methods for _, e, _ in listeners)
    tag = f"{cls.name[0].lower()}{cls.name[1:]}-socket"
    q = quote_char(data)
    edits: list[Edit] = _socket_list_rebuild(cls, groups, tag if tag_needed else None, q)
    socket = _socket_text(data, accept)
    tags = f", [{q}{tag}{q}]" if tag_needed else ""
    edits.append(
        Edit(
            path,
            accept.start_byte,
            accept.end_byte,
            f"{ctx_expression(cls)}.acceptWebSocket({socket}{tags})",
        )
    )
    new_methods: list[str] = []
    # names a new handler's parameters must not take: what its moved bodies keep as written
    kept_by: dict[str, set[str]] = {}
    for u, event, call in listeners:
        handler = LISTENER_EVENTS[event]
        if handler not in cls.methods:
            kept = _move_listener(cls, u, event, call, _param_names(handler)).names
            kept_by.setdefault(handler, set()).update(kept)

    def move_all(
        attach_sets: Sequence[Node],
    ) -> tuple[dict[str, list[str]], dict[str, set[str]], dict[str, list[str]], list[Edit]]:
        moved: dict[str, list[str]] = {}
        carried_by: dict[str, set[str]] = {}
        handler_params: dict[str, list[str]] = {}
        removals: list[Edit] = []
        for u, event, call in listeners:
            handler = LISTENER_EVENTS[event]
            existing = cls.methods.get(handler)
            default_params = _param_names(handler, kept_by.get(handler, set()))
            if existing is not None:
                params = method_params(data, existing)
                if len(params) < len(default_params):
                    # an existing handler that ignores some parameters: we cannot name them
                    needed = _move_listener(cls, u, event, call, default_params)
                    if any(p in needed.statements for p in default_params[len(params) :]):
                        raise CannotMove(
                            f"`{handler}` does not declare the parameters the body uses"
                        )
                    params = params + default_params[len(params) :]
            else:
                params = default_params
            item = _move_listener(cls, u, event, call, params, attach_sets)
            if existing is not None and item.names & set(params):
                shadowed = sorted(item.names & set(params))[0]
                raise CannotMove(f"the listener uses `{shadowed}`, a parameter of `{handler}`")
            moved.setdefault(handler, []).append(item.statements)
            carried_by.setdefault(handler, set()).update(item.carried)
            handler_params[handler] = params
            removals.append(remove_statement(path, data, statement_of(call)))
        return moved, carried_by, handler_params, removals

    moved, carried_by, handler_params, removals = move_all(())
    carried: set[str] = set().union(*carried_by.values()) if carried_by else set()
    merge: Merge | None = None
    if carried:
        attach = _attach_edit(cls, use, socket, sorted(carried), [c for _, _, c in listeners])
        first = min((statement_of(c) for _, _, c in listeners), key=lambda n: n.start_byte)
        if first.parent is not None:
            declarations = tuple(
                d for n in sorted(carried) if (d := _const_declarator(cls, use, n)) is not None
            )
            merge = Merge(tuple(sorted(carried)), first.parent, declarations)
    state = _carry_socket_state(cls, groups, merge)
    if state.in_moved:
        # values stored by the listeners: their attachment is written in the moved bodies
        moved, carried_by, handler_params, removals = move_all(state.in_moved)
    edits.extend(state.edits)
    if carried and not state.merged:
        edits.append(attach)
    if carried:
        for handler, names in carried_by.items():
            if not names:
                continue
            ws_param = handler_params[handler][0]
            clash = names & set(handler_params[handler])
            if clash:
                raise CannotMove(f"`{sorted(clash)[0]}` is also a parameter of `{handler}`")
            types = _declared_types(cls, use, sorted(names))
            cast = (
                " as { " + "; ".join(f"{n}: {types[n]}" for n in sorted(names)) + " }"
                if typed and all(types.get(n) for n in names)
                else ""
            )
            moved[handler].insert(
                0,
                f"const {{ {', '.join(sorted(names))} }} = {ws_param}.deserializeAttachment(){cast};",
            )
    edits.extend(_collapse_blank_lines(data, removals))
    config = model.config_for_class(cls)
    auto_close = config is not None and config.compat_at_least(
        "2026-04-07", "web_socket_auto_reply_to_close"
    )
    for handler, bodies in moved.items():
        existing = cls.methods.get(handler)
        if existing is not None:
            block = existing.child_by_field_name("body")
            if block is None or block.type != "statement_block":
                raise CannotMove(f"`{handler}` has no block body")
            if not is_async(data, existing) and any("await" in b for b in bodies):
                raise CannotMove(f"`{handler}` is not async")
            params = method_params(data, existing)
            inner = body_indent(data, block)
            joined = "\n".join(reindent(b, inner + unit) for b in bodies if b)
            guard = (
                f"{inner}if ({ctx_expression(cls)}.getTags({params[0]}).includes({q}{tag}{q})) {{\n"
                f"{joined}\n{inner}{unit}return;\n{inner}}}"
            )
            edits.append(insert_into_body_start(path, data, block, guard))
            continue
        sig, _ = HANDLERS[handler]
        chosen = handler_params[handler]
        # plain JavaScript gets no type annotations
        params_text = ", ".join(
            f"{n}: {t}" if typed else n for n, (_, t) in zip(chosen, sig, strict=True)
        )
        inner = mindent + unit
        lines = [reindent(b, inner) for b in bodies if b]
        closes = any(re.search(rf"\b{re.escape(chosen[0])}\.close\(", b) for b in bodies)
        if handler == "webSocketClose" and not auto_close and not closes:
            # (a moved listener that closes the socket already answers the handshake: a
            # second close() would throw)
            lines.append(inner + guarded_close(chosen[0], chosen[1], chosen[2]) + ";")
        body_text = "\n".join(lines)
        new_methods.append(
            f"{mindent}async {handler}({params_text}){': Promise<void>' if typed else ''} {{\n"
            f"{body_text}\n{mindent}}}"
        )
    if new_methods:
        edits.append(append_member(cls, "\n\n".join(new_methods)))
    return Fix(
        fix_id="websocket-not-hibernatable.move-listeners",
        title="Accept with `acceptWebSocket()` and move the socket's listeners into handler methods",
        safety=Safety.UNSAFE,
        edits=edits,
        review=(
            "The listener bodies now run in `webSocketMessage`/`webSocketClose`/`webSocketError`, "
            "possibly after the object woke from hibernation: the constructor has run again and "
            "fields hold only what it and the field initialisers give them. Check that the "
            "bodies need no other in-memory state set while the socket was accepted (a timer, a "
            "field set in `fetch()`)."
            + (
                " What the listeners read from the accepting method ("
                + ", ".join(f"`{n}`" for n in sorted(carried))
                + ") travels in the socket's attachment."
                if carried
                else ""
            )
            + (" " + " ".join(state.notes) if state.notes else "")
            + (
                " A `webSocketClose` that closes the socket was added: before compatibility_date "
                "2026-04-07 the runtime does not answer the close handshake itself."
                if "webSocketClose" in moved and not auto_close
                else ""
            )
        ),
    )


HANDLER_NAMES = tuple(LISTENER_EVENTS.values())


def events_reach_class_code(cls: DurableObjectClass) -> list[str]:
    """What of the class would see a socket once it is hibernatable: its `webSocket*` handler
    methods (a base class we cannot see may define them too) and `getWebSockets()` calls."""
    seen = [name for name in HANDLER_NAMES if name in cls.methods]
    if cls.reason in {"subclass", "library"}:
        seen.append(f"handlers `{cls.base}` may define")
    if b"getWebSockets(" in cls.file.data[cls.node.start_byte : cls.node.end_byte]:
        seen.append("getWebSockets()")
    return seen


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    if finding.data.get("kind") != "accept":
        return []
    cls, _, accept = _find_use(finding)
    groups = _uses_of_pair(finding)
    keep: list[Edit] = []
    if not ctx_reachable(cls):
        # a legacy class that kept no DurableObjectState (only `state.storage`): keep it
        try:
            keep = _keep_state(cls)
        except CannotMove:
            return []
    if any(u.handoffs for u in groups):
        # code the socket is handed to may listen on it: on a hibernatable socket its
        # listeners never fire again, so no fix (safe or not) is correct
        return []
    has_listeners = any(u.listeners for u in groups)
    if enclosing_is_outside(cls, accept):
        return []
    if not has_listeners:
        try:
            state = _carry_socket_state(cls, groups)
        except CannotMove:
            return []  # a collection of sockets would be empty after a wake
        reached = events_reach_class_code(cls)
        # Safe only when nothing can tell the difference: no listener before, no handler
        # method or getWebSockets() that would now see the socket's events or list it, and no
        # collection of sockets that a wake would empty.
        safety = Safety.UNSAFE if reached or state.edits else Safety.SAFE
        review = "Events of this socket now arrive at the class's `webSocket*` handler methods."
        if reached:
            review = (
                "This socket had no listeners: its messages and its close were dropped. Now they "
                f"reach {', '.join(f'`{r}`' if '`' not in r else r for r in reached)}, which "
                "must handle this socket (state it never had: check `webSocketClose` and any "
                "broadcast over `getWebSockets()`)."
            )
        if state.edits:
            review += (
                " The object can now hibernate with this socket open; the constructor (which "
                "runs again on every wake) rebuilds the socket collections from the open sockets. "
                + " ".join(state.notes)
            )
        return [
            Fix(
                fix_id="websocket-not-hibernatable.accept",
                title=f"Accept with `{ctx_expression(cls)}.acceptWebSocket()`",
                safety=Safety.UNSAFE if keep else safety,
                edits=[*keep, _accept_edit(cls, accept), *state.edits],
                review=review.strip() + (KEPT_STATE if keep else ""),
            )
        ]
    try:
        fix = _listener_fix(finding, model)
    except CannotMove:
        return []
    if keep:
        fix.edits = [*keep, *fix.edits]
        fix.review += KEPT_STATE
    return [fix]


KEPT_STATE = (
    " The class kept no DurableObjectState (only its storage): the constructor now keeps it in "
    "`this.ctx` for `acceptWebSocket()`."
)


def _keep_state(cls: DurableObjectClass) -> list[Edit]:
    """`this.ctx = <state>;` first in the constructor of a class that kept only `state.storage`
    (and, in TypeScript, the field it needs), so that `this.ctx.acceptWebSocket()` exists.
    Refused when `this.ctx` means something else in the class, or the class has a base class
    (its constructor would come first)."""
    data = cls.file.data
    if cls.base is not None or b"this.ctx" in data[cls.node.start_byte : cls.node.end_byte]:
        raise CannotMove("`this.ctx` is taken, or the class has a base class")
    block, params = _constructor_with_state(cls, "no constructor: the state parameter has no name")
    statements = [c for c in block.named_children if c.type != "comment"]
    inner = body_indent(data, block)
    if statements:
        at = line_start(data, statements[0].start_byte)
        if data[at : statements[0].start_byte].strip():
            raise CannotMove("the constructor's first statement shares its line")
        edits = [Edit(cls.file.path, at, at, f"{inner}this.ctx = {params[0]};\n")]
    else:
        edits = [
            Edit(
                cls.file.path,
                block.start_byte + 1,
                block.start_byte + 1,
                f"\n{inner}this.ctx = {params[0]};",
            )
        ]
    if cls.file.path.suffix in {".ts", ".tsx", ".mts", ".cts"}:
        body = cls.body
        if body is None:
            raise CannotMove("class without a body")
        line_end = data.find(b"\n", body.start_byte)
        if line_end == -1 or data[body.start_byte + 1 : line_end].strip():
            raise CannotMove("the class body's first line holds code")
        indent = member_indent(cls)
        edits.append(
            Edit(
                cls.file.path,
                line_end + 1,
                line_end + 1,
                f"{indent}private ctx: DurableObjectState;\n",
            )
        )
    return edits


def enclosing_is_outside(cls: DurableObjectClass, node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type not in FUNCTION_TYPES:
        parent = parent.parent
    return parent is None or not (cls.node.start_byte <= parent.start_byte < cls.node.end_byte)


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "acceptWebSocket",
            SAFE_OR_UNSAFE,
            """
`server.accept()` becomes `this.ctx.acceptWebSocket(server)`. Events of a hibernatable socket go
only to the class's `webSocketMessage` / `webSocketClose` / `webSocketError` (listeners added with
`addEventListener` stop firing, checked in workerd), and `getWebSockets()` lists it. A
socket-keyed collection the class would lose at its first hibernation is carried in the same fix
(see below).
""",
            why="""
Safe (the program's meaning is kept) only when nothing can tell the difference: the socket has no
listeners, is handed to no other code, the class has no `webSocket*` handler method (nor a base
class that may have one) and no `getWebSockets()` call, and it keeps no socket-keyed collection
that hibernation would empty; its events were dropped before and still are. Otherwise unsafe: the
socket's messages and close now reach those handlers, which must handle a socket they never saw,
and a carried collection is rebuilt from the open sockets after a wake.
""",
        ),
        Offer(
            "listeners moved into handler methods",
            UNSAFE,
            """
When the socket has listeners, the listener bodies move into the handler methods (merged into
existing ones behind a tag check), with the socket and event values renamed to the handler's
parameters (a new handler's parameters take other names, `socket` for `ws`, when the moved body
already uses them). What the listeners closed over per connection (`const name = …` in `fetch()`)
goes with the socket: `server.serializeAttachment({ name })` where the first listener was added,
and `const { name } = ws.deserializeAttachment()` at the top of each handler that reads it (typed
when every carried `const` has a type annotation), so it is there after a wake.

A `Map`/`Set` keyed by `WebSocket` that the class writes and reads (what `websocket-state-in-memory`
would report once the class hibernates) is carried in the same fix, by that rule's own edits
(`codeactions/websocket_state_in_memory.py`, `carry_fields`): each value stored with
`this.map.set(server, value)` also becomes the socket's attachment (beside the `set`, also inside a
moved listener body), and the constructor (which runs again on every wake, with the sockets still
open) puts every open socket back into the map from its attachment; a `Set` holding every
accepted socket is refilled from `getWebSockets()`. Every other use of the collection (`get`,
`delete`, iteration, `size`, handing it to other code) stays as written and stays correct, because
the collection is whole again before any handler runs. When the listeners also closed over
values, one attachment holds both, written where the value is stored:

```ts
this.ctx.acceptWebSocket(server);
const member: Member = { name, joinedAt: Date.now() };
server.serializeAttachment({ room, members: member });
this.members.set(server, member);
// constructor, after super(ctx, env):
for (const ws of this.ctx.getWebSockets()) {
  const attachment = ws.deserializeAttachment() as { members?: Member } | null;
  if (attachment?.members !== undefined) {
    this.members.set(ws, attachment.members);
  }
}
```

Measured in workerd (tests/runtime/test_socket_state_runtime.py): a name and room set in `fetch()`
are read back by `webSocketMessage` after the object was evicted for inactivity (10 s in workerd)
and constructed again; without the constructor's rebuild the woken map is empty.

A list of sockets the class keeps in memory (`this.sessions.push({ socket })`, looped over to
broadcast) would be empty after a wake too: the constructor rebuilds it from `getWebSockets()`
with the same element around each socket. A moved `close` listener that closes the socket itself
gets no second `close()`. A legacy class that kept only `state.storage` keeps the state object in
`this.ctx` first in its constructor (a private field in TypeScript).
""",
            why="""
Unsafe: code moves between methods, and per-connection values now go through structured clone and
come back from attachments after a wake.
""",
        ),
    ),
    review="""
Every carried value survives structured clone (plain data) and stays within the attachment limit
(16 KiB serialized, 2 KiB before February 2026: the hibernation API reference below). Where the
review note names a `delete` outside `webSocketClose`/`webSocketError` (or a close/error
listener), the socket is closing there: an open socket removed from the collection is put back by
the rebuild after a wake. The moved bodies need no other in-memory state set while the socket was
accepted (a timer, a field set in `fetch()`).
""",
    not_offered="""
When a listener closes over a parameter or a variable that changes (`let`), a value declared
after the listener, when the class already uses attachments, when a listener uses the event in a
way that cannot be mapped, or when merging into an existing handler whose parameter the body
shadows; when a listed socket element holds more than the socket, or the class has other
hibernatable sockets a rebuilt list would mix in; in a legacy class where `this.ctx` means
something else. No fix at all when a socket-keyed collection cannot be carried, since the fix would then
empty it at the first wake: with closed-over values, a value stored inside a listener, in a
nested block or in several places; a value a listener stores that computes something (a call); a
value that is not plain data (a function, the socket); a stored value changed in place
(`map.get(ws).x = …`, through iteration: the attachment would keep the old value); two maps (a
socket has one attachment); a `Set` filled on a condition or with sockets accepted elsewhere; a
collection that is reassigned or cleared. No fix at all when the socket is handed to other code (a
library's room or connection manager, a proxy): its listeners would stop firing, so no rewrite is
correct; the finding stays for a human. (A socket accepted only to send an error frame and close
is not reported: it keeps nothing open, and made hibernatable its close would reach
`webSocketClose`, which may assume state that socket never had.)
""",
    references=(
        REF_WEBSOCKETS + " (acceptWebSocket, the handler methods, serializeAttachment ≤ 16 KiB)",
        REF_LIFECYCLE + " (a socket accepted with accept() keeps the object resident)",
    ),
)


SPEC = FixSpec(
    "websocket-not-hibernatable",
    build,
    tier=TIER_HIBERNATION,
    label="WebSocket Hibernation API",
    test_case=websocket_case,
    docs=FIX_DOCS,
)
