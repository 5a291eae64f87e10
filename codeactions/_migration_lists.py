"""Recognising a project's own schema-migrations list (reads code only; writing a step into it
is `codeactions/_migrations.py`).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.generated_names import MIGRATIONS_FIELD
from durable_harden.analyzers.generated_names import MIGRATIONS_RUNNER as RUNNER
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.tsutil import (
    call_args,
    callee_parts,
    contains,
    enclosing_function,
    method_name,
    node_text,
    string_value,
    walk_type,
)
from durable_harden.codeactions._tsedit import (
    nodes_within,
    statement_of,
)
from durable_harden.codeactions.fix import CannotFix

CannotMigrate = CannotFix  # the one error a builder raises (codeactions/fix.py)


def class_member(cls: DurableObjectClass, name: str) -> Node | None:
    body = cls.body
    if body is None:
        return None
    data = cls.file.data
    for member in body.named_children:
        field = member.child_by_field_name("name")
        if field is not None and node_text(data, field) == name:
            return member
    return None


# -- the project's own mechanism ----------------------------------------------------------------
#
# Many projects already keep their schema steps in a list run from the constructor, often in
# `src/migrations.ts` or `schema.ts`. A new step belongs at the end of that list, written the way
# the list's other steps are, rather than in a second mechanism beside it. Recognised lists:
#
#   (a) SQL strings / template literals:        `MIGRATIONS = ["CREATE …", "ALTER …"]`
#   (b) objects with an id and SQL or a function: `[{ version: "001", sql: "…" }]`,
#       `[{ id: 1, up: (sql) => { … } }]`
#   (c) functions:                              `[(sql: SqlStorage) => { … }]`
#
# run by a loop reached from the constructor (`for … of`, an index `for`, `forEach`), directly or
# through `this.method()` / a function of the project (imports followed). The runner either
# records applied steps in a table (an INSERT in the loop and a skip: `continue`/`return` under
# an `if`, a loop starting past 0, `.slice()`/`.filter()`) so a new step runs once, or re-runs
# every step on each start (nothing recorded, nothing skipped): then the appended step checks
# `pragma_table_info('<table>')` before `ALTER TABLE … ADD COLUMN` (workerd allows the
# table_info PRAGMA; SQLite has no `ADD COLUMN IF NOT EXISTS`). A re-run list of plain strings
# cannot hold such a check: no step is appended there. Anything between (an INSERT without a
# skip, unknown keys in the objects, a list whose `]` shares a line) is not guessed at.

_FUNCS = {"arrow_function", "function_expression", "function_declaration", "function"}
_OBJECT_ID_KEYS = ("id", "version", "name")
_OBJECT_KEYS = {"id", "version", "name", "description", "sql", "up"}
_INSERT_INTO = re.compile(r"\b(?:INSERT|REPLACE)\b(?:\s+OR\s+\w+)?\s+INTO\s+[\"`\[]?(\w+)", re.I)


@frozen
class StepSql:
    """One statement of a step: `sql` with `?` for `args` (TypeScript expressions of the class's
    file); `inline`, the same statement with the values written in SQL, for steps that are plain
    strings or live in another file; `adds_column` (table, column) for ALTER … ADD COLUMN."""

    sql: str
    args: tuple[str, ...] = ()
    inline: str | None = None
    adds_column: tuple[str, str] | None = None
    idempotent: bool = False  # harmless to run again (CREATE INDEX IF NOT EXISTS, …)


@frozen
class Step:
    """A migration step to add to the project's list: its table, comments and SQL."""

    table: str
    comments: tuple[str, ...]
    statements: tuple[StepSql, ...]
    slug: str  # a name for the step where the list names them: "add_mail_starred"


@dataclass(eq=False)
class Mechanism:
    """The project's own list of migration steps and how its runner applies them."""

    kind: str  # "strings" | "objects" | "functions"
    file: SourceFile
    array: Node
    name: str  # the list's name, as the runner spells it
    records: bool  # applied steps are recorded: a new step runs once
    runner: str  # where the loop is, for the review text
    record_table: str | None = None
    id_key: str | None = None  # objects: "id" | "version" | "name"
    body_key: str | None = None  # objects: "sql" | "up"
    loop_function: Node | None = None
    entry: Node | None = None  # the constructor's node leading to the loop

    @property
    def elements(self) -> list[Node]:
        return [c for c in self.array.named_children if c.type != "comment"]

    def describe(self, root: Path | None = None) -> str:
        path = self.file.path
        if root is not None:
            with contextlib.suppress(ValueError):
                path = path.relative_to(root)
        return f"`{self.name}` ({path.as_posix()})"


def _unwrap_value(node: Node) -> Node:
    while node.type in {"as_expression", "satisfies_expression", "parenthesized_expression"}:
        if not node.named_children:
            break
        node = node.named_children[0]
    return node


def _top_level(file: SourceFile, name: str) -> Node | None:
    """The function declaration, or the value of the const/let, named `name` at the top of file."""
    for stmt in file.root.named_children:
        decl = stmt.child_by_field_name("declaration") if stmt.type == "export_statement" else stmt
        if decl is None:
            continue
        if decl.type == "function_declaration":
            ident = decl.child_by_field_name("name")
            if ident is not None and node_text(file.data, ident) == name:
                return decl
        if decl.type in {"lexical_declaration", "variable_declaration"}:
            for declarator in decl.named_children:
                ident = declarator.child_by_field_name("name")
                value = declarator.child_by_field_name("value")
                if ident is not None and value is not None and node_text(file.data, ident) == name:
                    return _unwrap_value(value)
    return None


def _resolve(
    file: SourceFile, name: str, known: dict[Path, SourceFile], depth: int = 0
) -> tuple[SourceFile, Node] | None:
    """A top-level declaration of `name` in file, or the one it imports under that name."""
    found = _top_level(file, name)
    if found is not None:
        return file, found
    if depth > 2:
        return None
    from durable_harden.analyzers.model import resolve_module

    for stmt in file.root.named_children:
        if stmt.type != "import_statement":
            continue
        source = stmt.child_by_field_name("source")
        spec = string_value(file.data, source) if source is not None else None
        if spec is None:
            continue
        for item in walk_type(stmt, "import_specifier"):
            original = item.child_by_field_name("name")
            alias = item.child_by_field_name("alias")
            if original is None or node_text(file.data, alias or original) != name:
                continue
            target = resolve_module(file.path, spec, known)
            if target is None:
                return None
            return _resolve(target, node_text(file.data, original), known, depth + 1)
    return None


def _reachable(cls: DurableObjectClass, model: ProjectModel) -> list[tuple[SourceFile, Node, Node]]:
    """(file, function, the constructor node leading to it) for the constructor and the methods /
    project functions it calls, transitively (a few levels)."""
    ctor = cls.constructor
    if ctor is None:
        return []
    known = model.files_by_path()
    out: list[tuple[SourceFile, Node, Node]] = []
    queue: list[tuple[SourceFile, Node, Node | None]] = [(cls.file, ctor, None)]
    while queue and len(out) < 16:
        file, func, entry = queue.pop(0)
        if any(f is file and n.start_byte == func.start_byte for f, n, _ in out):
            continue
        out.append((file, func, entry if entry is not None else func))
        for call in walk_type(func, "call_expression"):
            callee = call.child_by_field_name("function")
            if callee is None:
                continue
            lead = entry if entry is not None else statement_of(call)
            text = node_text(file.data, callee)
            if callee.type == "member_expression" and file is cls.file and text.startswith("this."):
                method = cls.methods.get(text[len("this.") :])
                if method is not None and method is not ctor:
                    queue.append((cls.file, method, lead))
            elif callee.type == "identifier":
                target = _resolve(file, text, known)
                if target is not None and target[1].type in _FUNCS:
                    queue.append((target[0], target[1], lead))
    return out


def _array_of(
    cls: DurableObjectClass, model: ProjectModel, file: SourceFile, expr: Node
) -> tuple[SourceFile, Node, str, bool] | None:
    """The array literal an iterated expression stands for: (file, array, name, skips) where
    skips says the expression already leaves steps out (`.slice(n)`, `.filter(…)`)."""
    expr = _unwrap_value(expr)
    skips = False
    if expr.type == "call_expression":
        parts = callee_parts(file.data, expr)
        func = expr.child_by_field_name("function")
        if parts is None or func is None or func.type != "member_expression":
            return None
        if parts[1] in {"slice", "filter"}:
            skips = True
        elif parts[1] not in {"entries"}:
            return None
        obj = func.child_by_field_name("object")
        if obj is None:
            return None
        expr = _unwrap_value(obj)
    text = node_text(file.data, expr)
    known = model.files_by_path()
    if expr.type == "identifier":
        found = _resolve(file, text, known)
        if found is None or found[1].type != "array":
            return None
        return found[0], found[1], text, skips
    if expr.type == "member_expression" and file is cls.file:
        obj = expr.child_by_field_name("object")
        prop = expr.child_by_field_name("property")
        if obj is None or prop is None:
            return None
        if node_text(file.data, obj) not in {"this", cls.name}:
            return None
        member = class_member(cls, node_text(file.data, prop))
        value = member.child_by_field_name("value") if member is not None else None
        if value is None or _unwrap_value(value).type != "array":
            return None
        return cls.file, _unwrap_value(value), text, skips
    return None


def _loops(file: SourceFile, func: Node) -> list[tuple[Node, Node, Node, str]]:
    """(loop, iterated expression, body, element expression) of the loops in func."""
    data = file.data
    found: list[tuple[Node, Node, Node, str]] = []
    for node in nodes_within(data, func, "for_in_statement", "for_statement", "call_expression"):
        if node.type == "for_in_statement":
            left, right, body = (node.child_by_field_name(k) for k in ("left", "right", "body"))
            if left is None or right is None or body is None:
                continue
            if left.type == "identifier":
                element = node_text(data, left)
            elif left.type == "array_pattern" and len(left.named_children) == 2:
                element = node_text(data, left.named_children[1])
            else:
                continue
            found.append((node, right, body, element))
        elif node.type == "for_statement":
            cond, body = node.child_by_field_name("condition"), node.child_by_field_name("body")
            if cond is None or body is None:
                continue
            match = re.fullmatch(r"\s*(\w+)\s*<\s*([\w.]+)\.length\s*;?\s*", node_text(data, cond))
            if match is None:
                continue
            target = next(
                (
                    n
                    for n in walk_type(cond, "member_expression")
                    if node_text(data, n) == f"{match.group(2)}.length"
                ),
                None,
            )
            obj = target.child_by_field_name("object") if target is not None else None
            if obj is None:
                continue
            found.append((node, obj, body, f"{match.group(2)}[{match.group(1)}]"))
        else:
            parts = callee_parts(data, node)
            func_node = node.child_by_field_name("function")
            args = call_args(node)
            if parts is None or parts[1] != "forEach" or func_node is None or not args:
                continue
            callback = args[0]
            obj = func_node.child_by_field_name("object")
            body = callback.child_by_field_name("body")
            params = callback.child_by_field_name("parameters")
            if callback.type not in _FUNCS or obj is None or body is None or params is None:
                continue
            names = [p.child_by_field_name("pattern") for p in params.named_children]
            if not names or names[0] is None or names[0].type != "identifier":
                continue
            found.append((node, obj, body, node_text(data, names[0])))
    return found


def _element_kind(data: bytes, elements: list[Node]) -> tuple[str, str | None, str | None]:
    """(kind, id key, body key) of the list's elements, or CannotMigrate."""
    types = {e.type for e in elements}
    if not elements:
        raise CannotMigrate("the migrations list is empty: no style to follow")
    if types <= {"string", "template_string"}:
        return "strings", None, None
    if types <= {"arrow_function", "function_expression"}:
        return "functions", None, None
    if types == {"object"}:
        keysets = []
        for element in elements:
            keys = []
            for prop in element.named_children:
                if prop.type == "comment":
                    continue
                key = prop.child_by_field_name("key") or prop.child_by_field_name("name")
                if prop.type not in {"pair", "method_definition"} or key is None:
                    raise CannotMigrate("a migration object has a spread or shorthand property")
                keys.append(node_text(data, key).strip("\"'"))
            keysets.append(keys)
        all_keys = {k for keys in keysets for k in keys}
        if not all_keys <= _OBJECT_KEYS:
            extra = ", ".join(sorted(all_keys - _OBJECT_KEYS))
            raise CannotMigrate(f"the migration objects have keys the fix cannot fill ({extra})")
        bodies = [{"sql", "up"} & set(keys) for keys in keysets]
        if any(len(b) != 1 for b in bodies) or len({frozenset(b) for b in bodies}) != 1:
            raise CannotMigrate("the migration objects do not all have one `sql` or `up`")
        id_key = next((k for k in _OBJECT_ID_KEYS if all(k in keys for keys in keysets)), None)
        return "objects", id_key, next(iter(bodies[0]))
    raise CannotMigrate("the migrations list mixes kinds of steps")


def _runs_element(
    data: bytes, body: Node, element: str, kind: str, body_key: str | None
) -> Node | None:
    """The call in the loop body that runs the element, if it does."""
    escaped = re.escape(element)
    wanted = {
        "strings": rf"[\w.]*\.exec\(\s*{escaped}\s*[,)]",
        "functions": rf"{escaped}\(",
        "objects": (
            rf"{escaped}\.up\(" if body_key == "up" else rf"[\w.]*\.exec\(\s*{escaped}\.sql\s*[,)]"
        ),
    }[kind]
    for call in walk_type(body, "call_expression"):
        if re.match(wanted, node_text(data, call)):
            return call
    return None


def _classify(
    data: bytes, loop: Node, body: Node, run: Node, skips: bool
) -> tuple[bool, str | None]:
    """(records, record table) for a loop, or CannotMigrate when it is neither plainly."""
    inserts = [
        m.group(1)
        for s in walk_type(body, "string", "template_string")
        for m in [_INSERT_INTO.search(node_text(data, s))]
        if m is not None
    ]
    guarded = False
    for stmt in walk_type(body, "if_statement"):
        if contains(stmt, run) or any(
            True for _ in walk_type(stmt, "continue_statement", "return_statement")
        ):
            guarded = True
    if loop.type == "for_statement":
        init = loop.child_by_field_name("initializer")
        if init is not None and not re.search(r"=\s*0\s*;?\s*$", node_text(data, init)):
            skips = True
    skips = skips or guarded
    if inserts and skips:
        return True, inserts[0]
    if not inserts and not skips:
        return False, None
    if inserts:
        raise CannotMigrate(
            f"the migrations loop writes `{inserts[0]}` but no step is visibly skipped"
        )
    raise CannotMigrate("the migrations loop skips steps but records nothing we can see")


def find_mechanism(cls: DurableObjectClass, model: ProjectModel) -> Mechanism | None:
    """The project's own list of migration steps run from the class's constructor; None when
    there is none (or the class has the fix's SQL_MIGRATIONS). CannotMigrate when there is a
    list (or a migrations runner) we do not recognise with confidence."""
    if class_member(cls, MIGRATIONS_FIELD) is not None:
        return None
    found: list[Mechanism] = []
    suspicious: list[str] = []
    seen: set[tuple[Path, int]] = set()
    for file, func, entry in _reachable(cls, model):
        data = file.data
        for loop, iterated, body, element in _loops(file, func):
            if (file.path, loop.start_byte) in seen:
                continue
            seen.add((file.path, loop.start_byte))
            array = _array_of(cls, model, file, iterated)
            if array is None:
                # a loop running its items as SQL or as functions of `sql`: steps we cannot see
                if any(
                    _runs_element(data, body, element, kind, key) is not None
                    for kind, key in (("strings", None), ("objects", "up"), ("objects", "sql"))
                ):
                    suspicious.append(f"a loop over `{node_text(data, iterated)}`")
                continue
            afile, anode, name, skips = array
            elements = [c for c in anode.named_children if c.type != "comment"]
            kind, id_key, body_key = _element_kind(afile.data, elements)
            run = _runs_element(data, body, element, kind, body_key)
            if run is None:
                suspicious.append(f"a loop over `{name}`")
                continue
            records, table = _classify(data, loop, body, run, skips)
            holder = enclosing_function(loop)
            where = method_name(data, holder) if holder is not None else None
            runner = (
                f"the loop in {where}()"
                if where and where != "constructor"
                else "the constructor's loop"
            )
            found.append(
                Mechanism(
                    kind=kind,
                    file=afile,
                    array=anode,
                    name=name,
                    records=records,
                    runner=runner,
                    record_table=table,
                    id_key=id_key,
                    body_key=body_key,
                    loop_function=func,
                    entry=entry,
                )
            )
        for call in walk_type(func, "call_expression"):
            callee = call.child_by_field_name("function")
            text = node_text(data, callee) if callee is not None else ""
            if re.search(r"migrat", text, re.I) and text != f"this.{RUNNER}":
                if text.startswith("this.") and text[5:] in cls.methods and file is cls.file:
                    # a method of the class: reached above, its loops were looked at; what is
                    # left is hand-written code (`if (!hasColumn) ALTER …`), which the runner
                    # follows (_migrations.constructor_hook)
                    continue
                suspicious.append(f"`{text}()`")
    if len(found) > 1:
        raise CannotMigrate("the constructor runs several migrations lists")
    if found:
        return found[0]
    if suspicious:
        raise CannotMigrate(
            f"the constructor runs {suspicious[0]} that is not a list of steps we recognise"
        )
    return None
