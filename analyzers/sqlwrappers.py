"""SQL that reaches `exec()` through the project's own functions.

Real code rarely calls `sql.exec("…")` everywhere: it writes `query(sql, ...params)` once and
calls `this.query("SELECT …", id)`, hands `querySql([{ sql: "…", params }])` an array of
statements, keeps the wrapper in a base class or a `db.ts` module of its own, or wraps the
wrapper (`one()` calls `all()` calls `exec()`). This module finds those functions across the
project and tells `extract_statements` which calls hand it SQL and where:

1. Per file (`summarize`, memoised): every *sink*, an argument of a call inside a named function
   or method that comes from one of its parameters (the parameter itself, a property of it, an
   element of it through `for … of`, `.map()`/`.forEach()`, destructuring), and whom the call
   goes to: `exec()` on the storage SQL API, a function by name, `this.m()`, `x.m()` on a value
   whose class the file names (`db: Database`, `new Database(…)`), `ns.f()` of a namespace
   import. Also the file's classes with their bases and its relative imports.
2. Per project (`resolve`): a fixed point over the sinks. A function whose parameter reaches the
   first argument of `exec()` is a wrapper; so is one whose parameter reaches a wrapper's SQL
   parameter. A name resolves to the function of the same file, else to the one its import
   names; `this.m` to the method of the enclosing class or of the first base class (followed
   through imports into other files) that defines `m`.
3. Every call to a wrapper, with how the SQL sits in its arguments (`SqlParam`).

Not followed: wrappers reached through re-exports (`export * from`), through values whose class
the file does not spell (an untyped parameter, a factory's result), dynamic property names, and
SQL built at run time; their statements stay unseen or "loose" (still schema, never judged as
queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node

from durable_harden.analyzers.classes import (
    Aliases,
    DurableObjectClass,
    class_declarations,
    class_locator,
    import_statements,
)
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.sql import ELEMENT, SqlParam, exec_call_at, is_exec_receiver
from durable_harden.analyzers.tsutil import (
    FUNCTION_TYPES,
    call_args,
    import_items,
    node_text,
    normalize_expr,
    string_value,
    walk_type,
    word_hits,
)

# callbacks whose first parameter is an element of the receiver
_ELEMENT_CALLBACKS = frozenset({"map", "forEach", "flatMap", "filter", "some", "every", "find"})
_CLASS_TYPES = ("class_declaration", "abstract_class_declaration", "class")
_MAX_DEPTH = 8
_MAX_ROUNDS = 6

# whom a call goes to: ("exec",), ("fn", name), ("method", class, name),
# ("typed", class, name), ("ns", namespace, name)
Ref = tuple[str, ...]
FuncKey = tuple[str | None, str]  # (class name or None, function name) within one file


@frozen
class Sink:
    """In function `func`, argument `arg` of a call to `target` comes from parameter `param`
    along `path`; `forwards`: the call's further arguments are `...rest`, the parameter right
    after (so the wrapper's own further arguments reach the callee one for one)."""

    func: FuncKey
    param: int
    path: tuple[str, ...]
    target: Ref
    arg: int
    forwards: bool


@dataclass(eq=False)
class FileWrappers:
    """What one file says about wrappers (see the module docs)."""

    sinks: list[Sink] = field(default_factory=list)
    functions: set[FuncKey] = field(default_factory=set)
    bases: dict[str, str] = field(default_factory=dict)  # class name -> base identifier
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (spec, name|*)
    calls: list[tuple[int, Ref]] = field(default_factory=list)  # call start byte -> callee
    # only `bases` and `imports` (`heads`): a file that can hand no SQL to a wrapper
    partial: bool = False


def summarize(
    file: SourceFile, classes: list[DurableObjectClass], file_aliases: Aliases
) -> FileWrappers:
    imports, bases, _ = _heads(file)
    found = FileWrappers(bases=dict(bases), imports=dict(imports))
    found.sinks, found.calls = summarize_calls(
        file, file.root, classes, file_aliases, found.imports
    )
    found.functions = function_keys(file, file.root)
    return found


def heads(file: SourceFile) -> FileWrappers | None:
    """The part of `summarize` that other files' calls read of a file that holds no wrapper
    and no call to one (its classes' bases and its imports, which `resolve` follows to reach
    a base class elsewhere), or None when `resolve` could read more of it: a class the file
    both declares and imports (`class_home` would find it among its functions)."""
    imports, bases, names = _heads(file)
    if not names.isdisjoint(imports):
        return None
    return FileWrappers(bases=dict(bases), imports=dict(imports), partial=True)


def _heads(file: SourceFile) -> tuple[dict[str, tuple[str, str]], dict[str, str], frozenset[str]]:
    """(imports, bases, names of the classes declared), kept in the file's memo."""
    cached: tuple[dict[str, tuple[str, str]], dict[str, str], frozenset[str]] | None = (
        file.memo.get("wrapper_heads")
    )
    if cached is not None:
        return cached
    data = file.data
    bases: dict[str, str] = {}
    names: set[str] = set()
    for decl in class_declarations(file):  # (found from the keyword, without a walk)
        name = _class_name(data, decl)
        if name is None:
            continue
        names.add(name)
        for child in decl.children:
            if child.type != "class_heritage":
                continue
            for clause in child.children:
                value = clause.child_by_field_name("value")
                if clause.type == "extends_clause" and value is not None:
                    bases[name] = node_text(data, value).split("<", 1)[0].strip()
    cached = file.memo["wrapper_heads"] = (_imports(file), bases, frozenset(names))
    return cached


def _may_wrap_sink(summary: FileWrappers, sink: Sink, names: set[str] | frozenset[str]) -> bool:
    """The sink's function may be a wrapper when the functions named `names` may be."""
    target = sink.target
    if target[0] == "exec" or target[-1] in names:
        return True
    if target[0] == "fn":
        spec = summary.imports.get(target[1])
        return spec is not None and spec[1] in names
    return False


def adds_wrappers(summary: FileWrappers, names: frozenset[str]) -> bool:
    """Whether a file's (new) summary names a function that may be a wrapper beyond `names`
    (a closed set of `may_wrap` over the other files): then `may_wrap` over the files with
    this one grows, else `names` still holds every function that may be a wrapper."""
    return any(
        sink.func[1] not in names and _may_wrap_sink(summary, sink, names) for sink in summary.sinks
    )


def may_wrap(summaries: Iterable[FileWrappers]) -> set[str]:
    """The names of the functions that may turn out wrappers (`resolve`), from the sinks of
    the given summaries: a function with a sink to exec(), or to a function whose name (or the
    name its import gives) is one of them, and so on. With the names of every function that
    hands a parameter to exec() (`exec_sinks`, each spelled in its own file) added, a
    superset of the names of `resolve`'s wrappers whenever the summaries given are those of
    every file that spells one of the names found (`resolve` reaches a function through one of
    the names its caller's text spells: the callee, or the imported name). A file spelling
    none of them needs only its `heads` (docs/performance.md, "Issue 14: the per-file model,
    cheaper")."""
    sinks = [(summary, sink) for summary in summaries for sink in summary.sinks]
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for summary, sink in sinks:
            name = sink.func[1]
            if name not in names and _may_wrap_sink(summary, sink, names):
                names.add(name)
                changed = True
    return names


def function_keys(file: SourceFile, scope: Node) -> set[FuncKey]:
    """The names the project can call the functions in `scope` by."""
    found: set[FuncKey] = set()
    for func in walk_type(scope, *FUNCTION_TYPES):
        named = _function_key(file.data, func)
        if named is not None:
            found.add(named)
    return found


def summarize_calls(
    file: SourceFile,
    scope: Node,
    classes: list[DurableObjectClass],
    file_aliases: Aliases,
    imports: dict[str, tuple[str, str]],
) -> tuple[list[Sink], list[tuple[int, Ref]]]:
    """The sinks and the calls (start byte -> callee) of the calls in `scope` (the whole file,
    or one member of it when analyzers.splice re-reads only the edited member)."""
    return _sinks_and_calls(
        file, walk_type(scope, "call_expression"), classes, file_aliases, imports, False
    )


def exec_sinks(
    file: SourceFile, classes: list[DurableObjectClass], file_aliases: Aliases
) -> list[Sink]:
    """The sinks of `summarize` whose call is exec() on the storage SQL API: what makes a
    function a wrapper in the first place (`may_wrap`). Only the calls `….exec(` are read,
    found from the word `exec` in the file's bytes by a descent to each (the file's other
    calls, its declared types and imports are not looked at)."""
    root = file.root
    data = file.data
    hits = (
        None
        if root.has_error
        else word_hits(data, (b"exec",), 0, len(data), 256, lambda _, end: _no_text(data, end))
    )
    if hits is None:
        calls: list[Node] = list(walk_type(root, "call_expression"))
    else:
        calls = []
        cursor = root.walk()
        for at in hits:
            call = exec_call_at(cursor, root, at)
            if call is not None:
                calls.append(call)
    sinks, _ = _sinks_and_calls(file, calls, classes, file_aliases, {}, True)
    return sinks


def exec_sinks_within(
    file: SourceFile, scope: Node, classes: list[DurableObjectClass], file_aliases: Aliases
) -> list[Sink]:
    """`exec_sinks` of the calls inside `scope` alone (an edited member)."""
    calls = list(walk_type(scope, "call_expression"))
    sinks, _ = _sinks_and_calls(file, calls, classes, file_aliases, {}, True)
    return sinks


_SPACE = frozenset(b" \t\n\r\f\v")


def _no_text(data: bytes, after: int) -> bool:
    """False for `exec(` (or `exec<…>(` with plain type arguments) followed by a quote: the
    first argument is a string or template literal (or an expression starting with one), which
    never comes from a parameter."""
    size = len(data)
    while after < size and data[after] in _SPACE:
        after += 1
    if after < size and data[after] == 0x3C:  # <: `exec<{ n: number }>("…")`
        after = _after_type_arguments(data, after)
        while 0 <= after < size and data[after] in _SPACE:
            after += 1
    if after < 0 or after >= size or data[after] != 0x28:  # (
        return True
    after += 1
    while after < size and data[after] in _SPACE:
        after += 1
    return after >= size or data[after] not in b"\"'`"


# what plain type arguments hold: names, object types, unions, arrays, generics
_TYPE_ARGUMENT_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$ \t\n\r{}[]:;,.|&?"
)


def _after_type_arguments(data: bytes, at: int) -> int:
    """The offset after the type arguments `<…>` opening at `at`, or -1 when they hold anything
    but names, object and array types, unions and nested arguments (a string type, a function
    type's `=>`, a comment …): then the caller keeps the call (reads it as before)."""
    depth = 0
    size = len(data)
    while at < size:
        byte = data[at]
        if byte == 0x3C:  # <
            depth += 1
        elif byte == 0x3E:  # >
            depth -= 1
            if not depth:
                return at + 1
        elif byte not in _TYPE_ARGUMENT_BYTES:
            return -1
        at += 1
    return -1


def _sinks_and_calls(
    file: SourceFile,
    candidates: Iterable[Node],
    classes: list[DurableObjectClass],
    file_aliases: Aliases,
    imports: dict[str, tuple[str, str]],
    exec_only: bool,
) -> tuple[list[Sink], list[tuple[int, Ref]]]:
    data = file.data
    sinks: list[Sink] = []
    calls: list[tuple[int, Ref]] = []
    # an exec() callee does not depend on the declared types (`_callee` answers it first)
    types = {} if exec_only else declared_types(file)
    locate = class_locator(classes)
    own_aliases: dict[int, Aliases] = {}
    memo: _Memo = {}
    for call in candidates:
        if exec_only:
            first = call_args(call)[:1]
            if not first or first[0].type not in _ORIGIN_TYPES:
                continue  # SQL given as text (most exec() calls): no sink, callee not needed
        func_node = call.child_by_field_name("function")
        if func_node is None:
            continue
        ref = _callee(data, call, func_node, types, imports, file_aliases, locate, own_aliases)
        if ref is None or (exec_only and ref[0] != "exec"):
            continue
        if ref[0] != "exec":
            calls.append((call.start_byte, ref))
        args = call_args(call)
        if not any(arg.type in _ORIGIN_TYPES for arg in (args[:1] if ref[0] == "exec" else args)):
            continue  # no argument can come from a parameter (_origin): no sink
        owner = _addressable_function(data, call, memo)
        if owner is None:
            continue
        func, key = owner
        params = _params(func)
        for index, arg in enumerate(args):
            if ref[0] == "exec" and index > 0:
                break
            origin = _origin(data, arg, func, params, 0, memo)
            if origin is None:
                continue
            param, path = origin
            rest = args[index + 1 :]
            forwards = (
                not path
                and len(rest) == 1
                and rest[0].type == "spread_element"
                and param + 1 < len(params)
                and params[param + 1][1]
                and _spread_name(data, rest[0]) == node_text(data, params[param + 1][0])
            )
            sinks.append(Sink(key, param, path, ref, index, bool(forwards)))
    return sinks, calls


def resolve(
    summaries: dict[SourceFile, FileWrappers],
    module: Callable[[SourceFile, str], SourceFile | None],
) -> dict[SourceFile, dict[int, SqlParam]]:
    """For each file, the calls (by start byte) that hand SQL to exec() through a wrapper."""
    by_path = {f.path: f for f in summaries}
    DefKey = tuple[SourceFile, str | None, str]

    def class_home(file: SourceFile, name: str) -> tuple[SourceFile, str] | None:
        summary = summaries.get(file)
        if summary is None:
            return None
        if name in summary.bases or any(k[0] == name for k in summary.functions):
            return file, name
        spec = summary.imports.get(name)
        if spec is not None and spec[1] != "*":
            target = module(file, spec[0])
            if target is not None and target.path in by_path:
                return by_path[target.path], spec[1]
        return None

    def method_home(file: SourceFile, cls: str, name: str) -> DefKey | None:
        home = class_home(file, cls)
        for _ in range(_MAX_DEPTH):
            if home is None:
                return None
            home_file, home_cls = home
            summary = summaries[home_file]
            if (home_cls, name) in summary.functions:
                return home_file, home_cls, name
            base = summary.bases.get(home_cls)
            home = class_home(home_file, base) if base else None
        return None

    def function_home(file: SourceFile, ref: Ref) -> DefKey | None:
        summary = summaries[file]
        kind = ref[0]
        if kind == "fn":
            name = ref[1]
            if (None, name) in summary.functions:
                return file, None, name
            spec = summary.imports.get(name)
            if spec is None or spec[1] == "*":
                return None
            target = module(file, spec[0])
            if target is None or target.path not in by_path:
                return None
            return by_path[target.path], None, spec[1]
        if kind == "ns":
            spec = summary.imports.get(ref[1])
            if spec is None or spec[1] != "*":
                return None
            target = module(file, spec[0])
            if target is None or target.path not in by_path:
                return None
            return by_path[target.path], None, ref[2]
        if kind in {"method", "typed"}:
            return method_home(file, ref[1], ref[2])
        return None

    homes: dict[tuple[SourceFile, Ref], DefKey | None] = {}

    def home_of(file: SourceFile, ref: Ref) -> DefKey | None:
        key = (file, ref)
        if key not in homes:
            homes[key] = function_home(file, ref)
        return homes[key]

    wrappers: dict[DefKey, SqlParam] = {}
    for _ in range(_MAX_ROUNDS):
        changed = False
        for file, summary in summaries.items():
            for sink in summary.sinks:
                own: DefKey = (file, sink.func[0], sink.func[1])
                if own in wrappers:
                    continue
                if sink.target[0] == "exec":
                    if sink.arg != 0:
                        continue
                    spec = SqlParam(sink.param, sink.path, sink.forwards)
                else:
                    home = home_of(file, sink.target)
                    inner = wrappers.get(home) if home is not None else None
                    if inner is None or inner.index != sink.arg:
                        continue
                    spec = SqlParam(
                        sink.param,
                        sink.path + inner.path,
                        sink.forwards and inner.forwards,
                    )
                wrappers[own] = spec
                changed = True
        if not changed:
            break
    result: dict[SourceFile, dict[int, SqlParam]] = {}
    if not wrappers:
        return result
    for file, summary in summaries.items():
        for start, ref in summary.calls:
            home = home_of(file, ref)
            via = wrappers.get(home) if home is not None else None
            if via is not None:
                result.setdefault(file, {})[start] = via
    return result


def _class_name(data: bytes, decl: Node) -> str | None:
    name = decl.child_by_field_name("name")
    if name is None and decl.parent is not None and decl.parent.type == "variable_declarator":
        name = decl.parent.child_by_field_name("name")
    return node_text(data, name) if name is not None else None


def _imports(file: SourceFile) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    data = file.data
    for stmt, spec in import_statements(file):
        if spec is None or not spec.startswith("."):
            continue
        for item in import_items(stmt):
            if item.type == "import_specifier":
                name = item.child_by_field_name("name")
                alias = item.child_by_field_name("alias")
                if name is not None:
                    found[node_text(data, alias or name)] = (spec, node_text(data, name))
            else:
                ns = next((c for c in item.named_children if c.type == "identifier"), None)
                if ns is not None:
                    found[node_text(data, ns)] = (spec, "*")
    return found


def _type_name(data: bytes, node: Node | None) -> str | None:
    """`Database` of `: Database`, `: Database | undefined`, `: Database<T>`."""
    if node is None:
        return None
    text = node_text(data, node).lstrip(":").strip()
    names = [p.strip() for p in text.split("|") if p.strip() not in {"undefined", "null"}]
    if len(names) != 1:
        return None
    name = names[0].split("<", 1)[0].strip()
    return name if name.isidentifier() else None


def _new_class(data: bytes, value: Node | None) -> str | None:
    while value is not None and value.type in {"as_expression", "parenthesized_expression"}:
        value = value.named_children[0] if value.named_children else None
    if value is None or value.type != "new_expression":
        return None
    ctor = value.child_by_field_name("constructor")
    if ctor is None or ctor.type != "identifier":
        return None
    return node_text(data, ctor)


def declared_types(file: SourceFile) -> dict[str, str]:
    """Spellings whose class the file states: parameters and variables typed or made with
    `new` (`db`), fields and constructor parameter properties (`this.db`). One class per
    spelling in the file; a spelling given two classes is dropped (never a guess). Kept in the
    file's memo (carried over from the previous version by analyzers.splice when the edited
    member states the same)."""
    cached: dict[str, str] | None = file.memo.get("declared_types")
    if cached is None:
        counts: dict[str, dict[str, int]] = {}
        for spelling, cls in type_notes(file, file.root):
            by_class = counts.setdefault(spelling, {})
            by_class[cls] = by_class.get(cls, 0) + 1
        # how many notes give each spelling each class: an edit's notes are taken out and
        # added back (analyzers.splice `_carry_memos`) instead of reading the file again
        file.memo["declared_type_counts"] = counts
        cached = file.memo["declared_types"] = declared_from_counts(counts)
    return cached


def declared_from_counts(counts: dict[str, dict[str, int]]) -> dict[str, str]:
    """`declared_types` from the count of notes of each (spelling, class)."""
    return {k: next(iter(v)) for k, v in counts.items() if len(v) == 1}


def counts_after(
    counts: dict[str, dict[str, int]],
    removed: list[tuple[str, str]],
    added: list[tuple[str, str]],
) -> dict[str, dict[str, int]]:
    """`declared_type_counts` with an edited region's old notes taken out and its new ones
    added (a new dict: the previous version keeps its own)."""
    after = dict(counts)  # the spellings the notes name get their own copies below
    for spelling in {spelling for spelling, _ in (*removed, *added)}:
        after[spelling] = dict(after.get(spelling, {}))
    for sign, notes in ((-1, removed), (1, added)):
        for spelling, cls in notes:
            by_class = after.setdefault(spelling, {})
            by_class[cls] = by_class.get(cls, 0) + sign
            if not by_class[cls]:
                del by_class[cls]
            if not by_class:
                del after[spelling]
    return after


def type_notes(file: SourceFile, scope: Node) -> list[tuple[str, str]]:
    """(spelling, class) of every statement in `scope` that says a spelling's class."""
    data = file.data
    notes: list[tuple[str, str]] = []

    def note(spelling: str, cls: str | None) -> None:
        if cls:
            notes.append((spelling, cls))

    for param in walk_type(scope, "required_parameter", "optional_parameter"):
        pattern = param.child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            continue
        name = node_text(data, pattern)
        cls = _type_name(data, param.child_by_field_name("type"))
        note(name, cls)
        if any(c.type == "accessibility_modifier" or c.type == "readonly" for c in param.children):
            note(f"this.{name}", cls)
    for decl in walk_type(scope, "variable_declarator"):
        target = decl.child_by_field_name("name")
        if target is None or target.type != "identifier":
            continue
        name = node_text(data, target)
        note(name, _type_name(data, decl.child_by_field_name("type")))
        note(name, _new_class(data, decl.child_by_field_name("value")))
    for fld in walk_type(scope, "public_field_definition"):
        target = fld.child_by_field_name("name")
        if target is None:
            continue
        name = f"this.{node_text(data, target)}"
        note(name, _type_name(data, fld.child_by_field_name("type")))
        note(name, _new_class(data, fld.child_by_field_name("value")))
    for assign in walk_type(scope, "assignment_expression"):
        left = assign.child_by_field_name("left")
        if left is not None and left.type == "member_expression":
            note(
                normalize_expr(node_text(data, left)),
                _new_class(data, assign.child_by_field_name("right")),
            )
    return notes


def _enclosing_class(data: bytes, node: Node) -> str | None:
    parent = node.parent
    while parent is not None:
        if parent.type in _CLASS_TYPES:
            return _class_name(data, parent)
        parent = parent.parent
    return None


def _callee(
    data: bytes,
    call: Node,
    func: Node,
    types: dict[str, str],
    imports: dict[str, tuple[str, str]],
    file_aliases: Aliases,
    locate: Callable[[int, int], DurableObjectClass | None],
    own_aliases: dict[int, Aliases],
) -> Ref | None:
    if func.type == "identifier":
        return ("fn", node_text(data, func))
    if func.type != "member_expression":
        return None
    prop = func.child_by_field_name("property")
    obj = func.child_by_field_name("object")
    if prop is None or obj is None:
        return None
    name = node_text(data, prop)
    receiver = normalize_expr(node_text(data, obj))
    if name == "exec":
        cls = locate(call.start_byte, call.end_byte)
        aliases = (
            cls.aliases.merged(file_aliases)
            if cls
            else _class_aliases(data, call, file_aliases, own_aliases)
        )
        if is_exec_receiver(receiver, aliases):
            return ("exec",)
    if receiver == "this":
        cls_name = _enclosing_class(data, call)
        return ("method", cls_name, name) if cls_name else None
    if receiver in types:
        return ("typed", types[receiver], name)
    if receiver in imports and imports[receiver][1] == "*":
        return ("ns", receiver, name)
    return None


def _class_aliases(
    data: bytes, call: Node, file_aliases: Aliases, cache: dict[int, Aliases]
) -> Aliases:
    """Aliases inside a class that is not a Durable Object (a `Database` helper holding the
    SqlStorage it was given): `this.x` for a constructor parameter property typed SqlStorage,
    and `this.x = <sql alias>` assignments."""
    parent = call.parent
    while parent is not None and parent.type not in _CLASS_TYPES:
        parent = parent.parent
    if parent is None:
        return file_aliases
    cached = cache.get(parent.start_byte)
    if cached is not None:
        return cached
    sql = set(file_aliases.sql)
    storage = set(file_aliases.storage)
    for param in walk_type(parent, "required_parameter", "optional_parameter"):
        pattern = param.child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            continue
        if not any(c.type in {"accessibility_modifier", "readonly"} for c in param.children):
            continue
        name = node_text(data, pattern)
        if name in file_aliases.sql:
            sql.add(f"this.{name}")
        elif name in file_aliases.storage:
            storage.add(f"this.{name}")
    for assign in walk_type(parent, "assignment_expression"):
        left, right = assign.child_by_field_name("left"), assign.child_by_field_name("right")
        if left is None or right is None:
            continue
        target = normalize_expr(node_text(data, left))
        value = normalize_expr(node_text(data, right))
        if (
            value in sql
            or value == "storage.sql"
            or value.endswith(".storage.sql")
            or (value.endswith(".sql") and value[: -len(".sql")] in storage)
        ):
            sql.add(target)
        elif value in storage or value.endswith(".storage"):
            storage.add(target)
    aliases = Aliases(set(file_aliases.ctx), storage, sql)
    cache[parent.start_byte] = aliases
    return aliases


def _function_key(data: bytes, func: Node) -> FuncKey | None:
    """(class, name) of a method or class-field function, (None, name) of a named function or
    one assigned to a variable; None for an anonymous callback."""
    if func.type == "method_definition":
        name = func.child_by_field_name("name")
        cls = _enclosing_class(data, func)
        return (cls, node_text(data, name)) if name is not None and cls else None
    name = func.child_by_field_name("name")
    if func.type in {"function_declaration", "generator_function_declaration"} and name:
        return (None, node_text(data, name))
    parent = func.parent
    if parent is not None and parent.type == "variable_declarator":
        target = parent.child_by_field_name("name")
        if target is not None and target.type == "identifier":
            return (None, node_text(data, target))
    if parent is not None and parent.type == "public_field_definition":
        target = parent.child_by_field_name("name")
        cls = _enclosing_class(data, parent)
        if target is not None and cls:
            return (cls, node_text(data, target))
    return None


# What summarize_calls asks again and again of the same nodes (the functions around the calls,
# the declarations of the blocks around the uses), by (question, start, end) of the node: one
# summarize_calls run, one tree
_Memo = dict[tuple[str, int, int], Any]
# the node types _origin can trace to a parameter (after `as`, parentheses and `!`)
_ORIGIN_TYPES = frozenset(
    {
        "identifier",
        "member_expression",
        "subscript_expression",
        "as_expression",
        "parenthesized_expression",
        "non_null_expression",
    }
)


def _addressable_function(data: bytes, node: Node, memo: _Memo) -> tuple[Node, FuncKey] | None:
    """The innermost enclosing function with a name the project can call it by (callbacks in
    between are looked through: `queries.map(q => exec(q.sql))`)."""
    parent = node.parent
    while parent is not None:
        if parent.type in FUNCTION_TYPES:
            at = (parent.type, parent.start_byte, parent.end_byte)
            if at in memo:
                found: tuple[Node, FuncKey] | None = memo[at]
                return found
            key = _function_key(data, parent)
            if key is not None:
                found = memo[at] = (parent, key)
                return found
            if not _is_element_callback(data, parent) and parent.type != "arrow_function":
                memo[at] = None
                return None
            # a callback looked through: its own answer is the enclosing function's
            found = _addressable_function(data, parent, memo)
            memo[at] = found
            return found
        parent = parent.parent
    return None


def _params(func: Node) -> list[tuple[Node, bool]]:
    """(pattern, is rest) of each parameter; names are read by _binds."""
    params = func.child_by_field_name("parameters")
    single = func.child_by_field_name("parameter")
    if params is None:
        return [(single, False)] if single is not None else []
    found: list[tuple[Node, bool]] = []
    for p in params.named_children:
        if p.type not in {"required_parameter", "optional_parameter"}:
            continue
        pattern = p.child_by_field_name("pattern")
        if pattern is None:
            continue
        if pattern.type == "rest_pattern":
            inner = next((c for c in pattern.named_children if c.type == "identifier"), None)
            if inner is not None:
                found.append((inner, True))
            continue
        found.append((pattern, False))
    return found


def _spread_name(data: bytes, spread: Node) -> str | None:
    inner = spread.named_children[0] if spread.named_children else None
    return node_text(data, inner) if inner is not None and inner.type == "identifier" else None


def _binds(data: bytes, pattern: Node, name: str) -> tuple[str, ...] | None:
    """The path inside a value at which `pattern` binds `name` (`{ sql }` -> ("sql",))."""
    kind = pattern.type
    if kind in {"identifier", "shorthand_property_identifier_pattern"}:
        return () if node_text(data, pattern) == name else None
    if kind in {"assignment_pattern", "object_assignment_pattern"}:
        left = pattern.child_by_field_name("left") or (
            pattern.named_children[0] if pattern.named_children else None
        )
        return _binds(data, left, name) if left is not None else None
    if kind == "object_pattern":
        for prop in pattern.named_children:
            if prop.type == "shorthand_property_identifier_pattern":
                if node_text(data, prop) == name:
                    return (name,)
            elif prop.type == "object_assignment_pattern":
                left = prop.named_children[0] if prop.named_children else None
                if left is not None and node_text(data, left) == name:
                    return (name,)
            elif prop.type == "pair_pattern":
                key, value = prop.child_by_field_name("key"), prop.child_by_field_name("value")
                if key is None or value is None:
                    continue
                inner = _binds(data, value, name)
                if inner is not None:
                    return (node_text(data, key).strip("\"'"), *inner)
        return None
    if kind == "array_pattern":
        for element in pattern.named_children:
            inner = _binds(data, element, name)
            if inner is not None:
                return (ELEMENT, *inner)
    return None


def _is_element_callback(data: bytes, func: Node) -> bool:
    """`xs.map(x => …)` and friends: the function is the first argument of such a call."""
    args = func.parent
    call = args.parent if args is not None and args.type == "arguments" else None
    if call is None or call.type != "call_expression":
        return False
    callee = call.child_by_field_name("function")
    if callee is None or callee.type != "member_expression":
        return False
    prop = callee.child_by_field_name("property")
    first = call_args(call)[:1]
    return (
        prop is not None
        and node_text(data, prop) in _ELEMENT_CALLBACKS
        and bool(first)
        and first[0] == func
    )


Origin = tuple[int, tuple[str, ...]]


def _origin(
    data: bytes,
    expr: Node,
    func: Node,
    params: list[tuple[Node, bool]],
    depth: int,
    memo: _Memo,
) -> Origin | None:
    """Which parameter of `func` (and where inside it) `expr` comes from, if it does."""
    if depth > _MAX_DEPTH:
        return None
    while expr.type in {"as_expression", "parenthesized_expression", "non_null_expression"}:
        if not expr.named_children:
            return None
        expr = expr.named_children[0]
    if expr.type == "member_expression":
        obj, prop = expr.child_by_field_name("object"), expr.child_by_field_name("property")
        if obj is None or prop is None or prop.type != "property_identifier":
            return None
        base = _origin(data, obj, func, params, depth + 1, memo)
        return (base[0], (*base[1], node_text(data, prop))) if base else None
    if expr.type == "subscript_expression":
        obj, index = expr.child_by_field_name("object"), expr.child_by_field_name("index")
        if obj is None or index is None:
            return None
        base = _origin(data, obj, func, params, depth + 1, memo)
        if base is None:
            return None
        step = string_value(data, index) if index.type == "string" else ELEMENT
        if step is None or (index.type not in {"string", "number", "identifier"}):
            return None
        return (base[0], (*base[1], step))
    if expr.type != "identifier":
        return None
    return _identifier_origin(data, expr, node_text(data, expr), func, params, depth, memo)


def _identifier_origin(
    data: bytes,
    use: Node,
    name: str,
    func: Node,
    params: list[tuple[Node, bool]],
    depth: int,
    memo: _Memo,
) -> Origin | None:
    node = use.parent
    while node is not None:
        if node.type == "for_in_statement" and _is_of_loop(node):
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            inner = _binds(data, left, name) if left is not None else None
            if inner is not None and right is not None:
                base = _origin(data, right, func, params, depth + 1, memo)
                return (base[0], (*base[1], ELEMENT, *inner)) if base else None
        if node.type in {"statement_block", "program"} or node.type in FUNCTION_TYPES:
            for decl in _declarations_in(node, memo):
                target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
                if target is None or value is None or decl.start_byte > use.start_byte:
                    continue
                inner = _binds(data, target, name)
                if inner is not None:
                    base = _origin(data, value, func, params, depth + 1, memo)
                    return (base[0], (*base[1], *inner)) if base else None
        if node.type in FUNCTION_TYPES:
            own = _params(node)
            for index, (pattern, _rest) in enumerate(own):
                inner = _binds(data, pattern, name)
                if inner is None:
                    continue
                if node == func:
                    return (index, inner)
                if index == 0 and _is_element_callback(data, node):
                    call = node.parent.parent if node.parent is not None else None
                    callee = call.child_by_field_name("function") if call is not None else None
                    obj = callee.child_by_field_name("object") if callee is not None else None
                    base = _origin(data, obj, func, params, depth + 1, memo) if obj else None
                    return (base[0], (*base[1], ELEMENT, *inner)) if base else None
                return None
            if node == func:
                return None
        node = node.parent
    return None


def _is_of_loop(node: Node) -> bool:
    return any(c.type == "of" for c in node.children)


def _declarations_in(block: Node, memo: _Memo) -> list[Node]:
    """`const x = …` declarators directly in a block (or a function's body)."""
    at = ("declarations", block.start_byte, block.end_byte)
    found: list[Node] | None = memo.get(at)
    if found is None:
        found = memo[at] = _block_declarations(block)
    return found


def _block_declarations(block: Node) -> list[Node]:
    if block.type in FUNCTION_TYPES:
        body = block.child_by_field_name("body")
        if body is None or body.type != "statement_block":
            return []
        block = body
    found: list[Node] = []
    for stmt in block.named_children:
        if stmt.type in {"lexical_declaration", "variable_declaration"}:
            found.extend(c for c in stmt.named_children if c.type == "variable_declarator")
    return found
