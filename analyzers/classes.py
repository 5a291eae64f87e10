"""Finding Durable Object classes and how each reaches its state (ctx, storage, sql aliases)."""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from durable_harden.analyzers.budget import charge
from durable_harden.analyzers.exports import exported_names
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    import_items,
    node_at,
    node_text,
    normalize_expr,
    string_value,
    walk_type,
    word_hits,
)

# bytes that continue an identifier: a word followed by one is part of a longer name (non-ASCII
# letters too, but those are left to the node's type to tell)
_IDENTIFIER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")

# Base classes that make a class a Durable Object, by module they are imported from.
KNOWN_BASES: dict[str, frozenset[str]] = {
    "cloudflare:workers": frozenset({"DurableObject"}),
    "agents": frozenset({"Agent", "AIChatAgent", "McpAgent"}),
    "agents/ai-chat-agent": frozenset({"AIChatAgent"}),
    "@cloudflare/ai-chat": frozenset({"AIChatAgent"}),
    "agents/mcp": frozenset({"McpAgent"}),
    "partyserver": frozenset({"Server"}),
    "@cloudflare/containers": frozenset({"Container"}),
    "@cloudflare/actors": frozenset({"Actor"}),
}

HANDLER_METHODS = frozenset(
    {"constructor", "fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"}
)

# Parameter types that tell us a function receives DO state, whatever the parameter is called.
STATE_TYPES = {"DurableObjectState": "ctx", "DurableObjectStorage": "storage", "SqlStorage": "sql"}


@dataclass(eq=False)
class Aliases:
    """Spellings (normalised expression text) through which code reaches ctx, storage and sql."""

    ctx: set[str] = field(default_factory=set)
    storage: set[str] = field(default_factory=set)
    sql: set[str] = field(default_factory=set)

    def kind_of(self, expr: str) -> str | None:
        if expr in self.sql:
            return "sql"
        if expr in self.storage:
            return "storage"
        if expr in self.ctx:
            return "ctx"
        return None

    def merged(self, other: Aliases) -> Aliases:
        return Aliases(self.ctx | other.ctx, self.storage | other.storage, self.sql | other.sql)


@dataclass(eq=False)
class DurableObjectClass:
    """A class the model takes for a Durable Object, with its methods and why it is one."""

    name: str
    file: SourceFile
    node: Node
    name_node: Node
    base: str | None
    # why we think it is a DO: "extends", "library", "legacy", "subclass", "binding"
    reason: str
    methods: dict[str, Node] = field(default_factory=dict)
    aliases: Aliases = field(default_factory=Aliases)
    exported: bool = False

    @functools.cached_property
    def body(self) -> Node | None:
        # one Node object per class: tree-sitter keeps the children it listed on it, which
        # the class's readers (methods, members, rules) then share
        return self.node.child_by_field_name("body")

    @property
    def constructor(self) -> Node | None:
        return self.methods.get("constructor")

    @property
    def alarm(self) -> Node | None:
        return self.methods.get("alarm")

    @property
    def rpc_methods(self) -> dict[str, Node]:
        return {
            name: node
            for name, node in self.methods.items()
            if name not in HANDLER_METHODS and not name.startswith("#")
        }


def class_locator(
    classes: list[DurableObjectClass],
) -> Callable[[int, int], DurableObjectClass | None]:
    """A look-up of the innermost class (of one file) containing a byte range: O(log n + depth)."""
    ordered = sorted(classes, key=lambda c: (c.node.start_byte, -c.node.end_byte))
    starts = [c.node.start_byte for c in ordered]
    parent: list[int] = []
    stack: list[int] = []
    for index, cls in enumerate(ordered):
        while stack and ordered[stack[-1]].node.end_byte < cls.node.end_byte:
            stack.pop()
        parent.append(stack[-1] if stack else -1)
        stack.append(index)

    def locate(start: int, end: int) -> DurableObjectClass | None:
        index = bisect.bisect_right(starts, start) - 1
        while index >= 0:
            node = ordered[index].node
            if node.start_byte <= start and end <= node.end_byte:
                return ordered[index]
            index = parent[index]
        return None

    return locate


def import_statements(file: SourceFile) -> tuple[tuple[Node, str | None], ...]:
    """The file's top-level import statements with the module each names (None when its
    source is not a plain string), read once per file (the classes' bases, the wrapper
    summaries and the imported constants each read them)."""
    cached: tuple[tuple[Node, str | None], ...] | None = file.memo.get("import_statements")
    if cached is None:
        data = file.data
        found: list[tuple[Node, str | None]] = []
        for stmt in file.root.named_children:
            if stmt.type != "import_statement":
                continue
            source = stmt.child_by_field_name("source")
            found.append((stmt, string_value(data, source) if source is not None else None))
        cached = file.memo["import_statements"] = tuple(found)
    return cached


def imported_bases(file: SourceFile) -> dict[str, str]:
    """Local names bound to a known DO base class in this file: local -> canonical name."""
    found: dict[str, str] = {}
    data = file.data
    for stmt, module in import_statements(file):
        if module is None or module not in KNOWN_BASES:
            continue
        for spec in import_items(stmt):
            if spec.type != "import_specifier":
                continue
            name = spec.child_by_field_name("name")
            alias = spec.child_by_field_name("alias")
            if name is None:
                continue
            canonical = node_text(data, name)
            if canonical in KNOWN_BASES[module]:
                found[node_text(data, alias or name)] = canonical
    return found


_CLASS_TYPES = ("class_declaration", "abstract_class_declaration", "class")
_CLASS_WORD_LIMIT = 64  # more places spelling `class` than this: the file's node index instead


def class_declarations(file: SourceFile) -> list[Node]:
    """`walk_type(file.root, "class_declaration", "abstract_class_declaration", "class")`: the
    class nodes and the `class` keyword tokens of the file, in pre-order."""
    if file.lacks(b"class"):  # most files declare no class: no walk (docs/performance.md)
        return []
    # kept per file: the class heads, the classes, the wrapper heads and a rule each ask
    cached: tuple[Node, ...] | None = file.memo.get("class_declarations")
    if cached is None:
        found = _class_nodes_from_keywords(file)
        if found is None:
            found = list(walk_type(file.root, *_CLASS_TYPES))
        cached = file.memo["class_declarations"] = tuple(found)
    return list(cached)


def _class_nodes_from_keywords(file: SourceFile) -> list[Node] | None:
    """The same nodes found from the keyword's bytes, without a walk or the file's node index
    (building the index for class detection was ~12% of a cold check on corpus-dev, where most
    files saying `class` hold no Durable Object: docs/performance.md, "Issue 14: the cold
    check, cheaper again"). Every class node has a `class` keyword token as a child (the
    grammar's only use of the keyword), and a token spelling it is those five bytes followed by
    no identifier character (`className` is one identifier). So: each such place, descended to
    (`tsutil.node_at`); a `class` token there, and its parent when that is a class node. None
    (walk instead) with a syntax error (a MISSING or joined token), or over the limit."""
    root = file.root
    if root.has_error:
        return None
    data = file.data
    places: list[int] = []
    at = data.find(b"class")
    while at >= 0:
        after = at + 5
        if after >= len(data) or data[after] not in _IDENTIFIER_BYTES:
            places.append(at)
            if len(places) > _CLASS_WORD_LIMIT:
                return None
        at = data.find(b"class", after)
    charge(file.path)  # the analysis budget, as walk_type would (analyzers.budget)
    found: list[Node] = []
    cursor = root.walk()
    for place in places:
        nodes = node_at(cursor, root, place, 1)
        if not nodes:
            continue
        token = nodes[0]
        if token.start_byte != place or token.type != "class" or token.is_named:
            continue  # a comment, a string, a property or a longer name spelling the word
        if len(nodes) > 1 and nodes[1].type in _CLASS_TYPES and nodes[1].is_named:
            found.append(nodes[1])
        found.append(token)
    found.sort(key=lambda n: (n.start_byte, -n.end_byte))
    return found


def heritage(file: SourceFile, cls: Node) -> tuple[str | None, list[str]]:
    """(extends expression text, implemented interface names)."""
    extends: str | None = None
    implements: list[str] = []
    for child in cls.children:
        if child.type != "class_heritage":
            continue
        for clause in child.children:
            if clause.type == "extends_clause":
                value = clause.child_by_field_name("value")
                if value is not None:
                    extends = node_text(file.data, value)
            elif clause.type == "implements_clause":
                implements.extend(
                    node_text(file.data, n) for n in clause.named_children if n.type != "comment"
                )
    return extends, implements


def _base_identifier(extends: str) -> str:
    # `Agent<Env, State>` -> `Agent`; `mixin(Base)` stays as is and matches nothing
    return extends.split("<", 1)[0].strip()


def class_methods(file: SourceFile, body: Node) -> dict[str, Node]:
    methods: dict[str, Node] = {}
    for member in body.named_children:
        entry = method_entry(file, member)
        if entry is not None:
            methods.setdefault(entry[0], member if not entry[1] else entry[2])
    return methods


# field values that count as methods: `alarm = async () => {...}`
_METHOD_VALUES = frozenset({"arrow_function", "function_expression"})


def method_entry(file: SourceFile, member: Node) -> tuple[str, bool, Node] | None:
    """(name, whether the method is the member's value, that value) when a class member
    defines a method (class_methods' entries; analyzers.splice carries them over an edit)."""
    kind = member.type
    if kind == "method_definition":
        name = member.child_by_field_name("name")
        if name is not None:
            return node_text(file.data, name), False, member
    elif kind == "public_field_definition":
        # `alarm = async () => {...}` counts as a method for our purposes
        name = member.child_by_field_name("name")
        value = member.child_by_field_name("value")
        if name is not None and value is not None and value.type in _METHOD_VALUES:
            return node_text(file.data, name), True, value
    return None


def _legacy_constructor_state_param(file: SourceFile, ctor: Node | None) -> str | None:
    if ctor is None:
        return None
    params = ctor.child_by_field_name("parameters")
    if params is None:
        return None
    first = next((p for p in params.named_children if p.type != "comment"), None)
    if first is None:
        return None
    pattern = first.child_by_field_name("pattern")
    type_ann = first.child_by_field_name("type")
    if pattern is None:
        return None
    if type_ann is not None and "DurableObjectState" in node_text(file.data, type_ann):
        return node_text(file.data, pattern)
    return None


def first_param_name(file: SourceFile, func: Node) -> str | None:
    params = func.child_by_field_name("parameters")
    if params is None:
        return None
    first = next((p for p in params.named_children if p.type != "comment"), None)
    if first is None:
        return None
    pattern = first.child_by_field_name("pattern")
    if pattern is None or pattern.type != "identifier":
        return None
    return node_text(file.data, pattern)


def typed_state_params(file: SourceFile, scope: Node) -> Aliases:
    """Parameters anywhere in `scope` typed DurableObjectState / DurableObjectStorage / SqlStorage."""
    found = Aliases()
    for kind, name in state_param_names(file, scope):
        getattr(found, kind).add(name)
    return found


def alias_pairs(scope: Node, file: SourceFile | None = None) -> list[tuple[Node, Node, bool]]:
    """(target, value, is a class field) of every assignment, declarator and field in `scope`
    (a node of `file`'s tree, when given): all derive_aliases reads of it (through the nodes'
    text)."""
    pairs: list[tuple[Node, Node, bool]] = []
    for node in walk_type(
        scope, "assignment_expression", "variable_declarator", "public_field_definition", file=file
    ):
        kind = node.type
        if kind == "assignment_expression":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None:
                pairs.append((left, right, False))
        elif kind == "variable_declarator":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and value is not None:
                pairs.append((name, value, False))
        elif kind == "public_field_definition":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and value is not None:
                pairs.append((name, value, True))
    return pairs


def state_param_names(file: SourceFile, scope: Node) -> list[tuple[str, str]]:
    """(kind, name) of each parameter in `scope` typed DurableObjectState / DurableObjectStorage
    / SqlStorage, in order."""
    found: list[tuple[str, str]] = []
    if file.lacks(b"DurableObjectSt", b"SqlStorage"):  # the type's name is in its text
        return found
    params = _typed_params_from_words(file, scope)
    if params is None:
        params = list(walk_type(scope, "required_parameter", "optional_parameter"))
    for param in params:
        type_ann = param.child_by_field_name("type")
        pattern = param.child_by_field_name("pattern")
        if type_ann is None or pattern is None or pattern.type != "identifier":
            continue
        type_text = node_text(file.data, type_ann).lstrip(":").strip()
        kind = STATE_TYPES.get(type_text)
        if kind is not None:
            found.append((kind, node_text(file.data, pattern)))
    return found


_STATE_TYPE_WORDS = tuple(name.encode() for name in STATE_TYPES)
_PARAM_TYPES = frozenset({"required_parameter", "optional_parameter"})


def _typed_params_from_words(file: SourceFile, scope: Node) -> list[Node] | None:
    """The parameters of `scope` that state_param_names can take, in pre-order, found from the
    type names' places in the file's bytes without a walk of every parameter (which built the
    file's node index): a parameter typed exactly `DurableObjectState` (…) holds that name as a
    type's token right inside its type annotation. A superset (each is checked as in the
    walk); None (walk instead) with a syntax error or many places."""
    root = file.root
    if root.has_error:
        return None
    start, end = scope.start_byte, scope.end_byte
    places = word_hits(file.data, _STATE_TYPE_WORDS, start, end, _CLASS_WORD_LIMIT)
    if places is None:
        return None
    charge(file.path)  # the analysis budget, as walk_type would (analyzers.budget)
    found: dict[tuple[int, int], Node] = {}
    cursor = root.walk()
    for place in places:
        path = node_at(cursor, root, place, 2)
        if len(path) < 3 or path[0].start_byte != place or path[1].type != "type_annotation":
            continue
        param = path[2]
        if param.type in _PARAM_TYPES and start <= param.start_byte and param.end_byte <= end:
            found[(param.start_byte, param.end_byte)] = param
    return sorted(found.values(), key=lambda n: (n.start_byte, -n.end_byte))


def derive_aliases(file: SourceFile, scope: Node, seed: Aliases) -> Aliases:
    """Follow assignments in `scope` until no new alias appears.

    Handles `this.sql = ctx.storage.sql`, `const storage = this.ctx.storage`, class fields
    `sql = this.ctx.storage.sql`, and destructuring `const { sql } = this.ctx.storage`.
    """
    aliases = Aliases(set(seed.ctx), set(seed.storage), set(seed.sql))
    data = file.data
    # each pair's texts read once, not once per round (the rounds only look them up)
    pairs = [
        (target, target.type == "object_pattern", normalize_expr(node_text(data, value)), field)
        for target, value, field in alias_pairs(scope, file)
    ]
    targets: dict[int, str] = {}
    for _ in range(4):
        before = (len(aliases.ctx), len(aliases.storage), len(aliases.sql))
        for ctx in list(aliases.ctx):
            aliases.storage.add(f"{ctx}.storage")
        for storage in list(aliases.storage):
            aliases.sql.add(f"{storage}.sql")
        for at, (target, pattern, value_text, is_field) in enumerate(pairs):
            value_kind = aliases.kind_of(value_text)
            if pattern:
                # const { storage } = this.ctx / const { sql } = this.ctx.storage
                if value_kind not in {"ctx", "storage"}:
                    continue
                for prop in target.named_children:
                    prop_name = node_text(data, prop).split(":")[-1].strip()
                    key = node_text(data, prop).split(":")[0].strip()
                    if value_kind == "ctx" and key == "storage":
                        aliases.storage.add(prop_name)
                    elif value_kind == "storage" and key == "sql":
                        aliases.sql.add(prop_name)
                continue
            if value_kind is None:
                continue
            target_text = targets.get(at)
            if target_text is None:
                target_text = normalize_expr(node_text(data, target))
                if is_field:
                    target_text = f"this.{target_text}"
                targets[at] = target_text
            getattr(aliases, value_kind).add(target_text)
        if before == (len(aliases.ctx), len(aliases.storage), len(aliases.sql)):
            break
    return aliases


def expression_name(cls: Node) -> Node | None:
    """The name a class expression goes by: `const Durable = class extends …` (the variable),
    `function createRoom() { return class extends … }` (the factory)."""
    if cls.type != "class":
        return None
    parent = cls.parent
    while parent is not None and parent.type in {"parenthesized_expression", "as_expression"}:
        parent = parent.parent
    if parent is None:
        return None
    if parent.type == "variable_declarator":
        name = parent.child_by_field_name("name")
        return name if name is not None and name.type == "identifier" else None
    if parent.type in {"return_statement", "arrow_function"}:
        func: Node | None = parent
        while func is not None and func.type not in {
            "function_declaration",
            "arrow_function",
            "function_expression",
            "method_definition",
        }:
            func = func.parent
        if func is None:
            return None
        name = func.child_by_field_name("name")
        if name is None and func.parent is not None and func.parent.type == "variable_declarator":
            name = func.parent.child_by_field_name("name")
        return name
    return None


def find_classes(
    file: SourceFile, known_do_names: set[str], bound_names: set[str]
) -> list[DurableObjectClass]:
    """DO classes declared in `file`.

    known_do_names: classes already known to be DOs anywhere in the project (for subclasses);
    bound_names: class names bound in a wrangler config.
    """
    if file.lacks(b"class"):
        return []
    bases = imported_bases(file)
    exported = exported_names(file)
    result: list[DurableObjectClass] = []
    for cls in class_declarations(file):
        name_node = cls.child_by_field_name("name") or expression_name(cls)
        body = cls.child_by_field_name("body")
        if name_node is None or body is None:
            continue
        name = node_text(file.data, name_node)
        extends, implements = heritage(file, cls)
        base = _base_identifier(extends) if extends else None
        methods = class_methods(file, body)
        legacy_param = _legacy_constructor_state_param(file, methods.get("constructor"))
        reason: str | None = None
        if base is not None and base in bases:
            reason = "extends" if bases[base] == "DurableObject" else "library"
        elif base is not None and base in known_do_names:
            reason = "subclass"
        elif (
            any(i.split("<", 1)[0].strip() == "DurableObject" for i in implements)
            or legacy_param is not None
        ):
            reason = "legacy"
        elif name in bound_names:
            reason = "binding"
        if reason is None:
            continue
        seed = Aliases(ctx={"this.ctx"} if reason != "legacy" else set())
        if reason in {"legacy", "binding"} or legacy_param is not None:
            seed.ctx.add("this.state")
        ctor = methods.get("constructor")
        if ctor is not None:
            param = first_param_name(file, ctor)
            if param is not None:
                seed.ctx.add(param)
        aliases = derive_aliases(file, body, seed)
        result.append(
            DurableObjectClass(
                name=name,
                file=file,
                node=cls,
                name_node=name_node,
                base=base,
                reason=reason,
                methods=methods,
                aliases=aliases,
                exported=name in exported,
            )
        )
    return result


_EXTENDS = frozenset({"extends", "subclass", "library"})


def stored_state(cls: DurableObjectClass) -> str | None:
    """`this.<field>` holding DurableObjectState in a class that does not extend DurableObject:
    `this.state = state` in the constructor, or a parameter property
    (`constructor(private state: DurableObjectState)`); None when the state is not kept."""
    ctor = cls.constructor
    if ctor is None:
        return None
    data = cls.file.data
    params = ctor.child_by_field_name("parameters")
    first = (
        next((p for p in params.named_children if p.type != "comment"), None) if params else None
    )
    if first is None:
        return None
    pattern = first.child_by_field_name("pattern")
    name = node_text(data, pattern) if pattern is not None else ""
    if not name.isidentifier():
        return None
    if any(c.type in {"accessibility_modifier", "readonly"} for c in first.children):
        return f"this.{name}"
    body = node_text(data, ctor.child_by_field_name("body") or ctor)
    match = re.search(rf"\bthis\.(\w+)\s*=\s*{re.escape(name)}\s*(?:;|\n|$)", body)
    return f"this.{match.group(1)}" if match else None


def state_path(cls: DurableObjectClass) -> str | None:
    """How code inside the class's methods reaches DurableObjectState (`this.ctx`,
    `this.state`, another `this.…` alias), or None when the class has no such path.
    A class that does not extend DurableObject has only what its constructor stored: its
    `this.state` may be anything else (a game's state, found on corpus-dev)."""
    if cls.reason not in _EXTENDS:
        return stored_state(cls)
    ctx = cls.aliases.ctx
    for candidate in ("this.ctx", "this.state"):
        if candidate in ctx:
            return candidate
    this_names = sorted(c for c in ctx if c.startswith("this."))
    return this_names[0] if this_names else None


def ctx_expression(cls: DurableObjectClass) -> str:
    """`state_path`, or `this.ctx` (what generated code writes) when there is none."""
    return state_path(cls) or "this.ctx"
