"""SQL found in TypeScript: every statement passed to `sql.exec()` or the Agents SDK `this.sql`
tag, with a map from each SQL character back to its byte in the TypeScript source."""

from __future__ import annotations

import functools
import importlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tree_sitter import Node, TreeCursor

from durable_harden.analyzers.budget import charge
from durable_harden.analyzers.classes import Aliases, DurableObjectClass, class_locator
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.source import SourceFile
from durable_harden.analyzers.span import Span
from durable_harden.analyzers.tsutil import (
    call_args,
    enclosing_function,
    is_tagged_sql_template,
    literal_chars,
    method_name,
    node_at,
    node_text,
    normalize_expr,
    walk_type,
    word_hits,
)


class _Lazy:
    """Stands for a sqlglot module or class until first used (`exp.Select`, `TokenType.STRING`),
    then imports it: the rules name sqlglot's types at module level without paying its ~150 ms
    import in a run that meets no SQL (docs/performance.md)."""

    def __init__(self, module: str, attribute: str) -> None:
        self._module = module
        self._attribute = attribute
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = self._target
        if target is None:
            target = self._target = getattr(importlib.import_module(self._module), self._attribute)
        value = getattr(target, name)
        # kept as an attribute: later uses (`TokenType.PLACEHOLDER` once per SQL token) are a
        # plain attribute read, not this method (300k calls on a 1,000-file project)
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    from sqlglot import exp as exp
    from sqlglot.tokens import Token as Token
    from sqlglot.tokens import TokenType as TokenType
else:
    exp = _Lazy("sqlglot", "exp")
    TokenType = _Lazy("sqlglot.tokens", "TokenType")
    Token = _Lazy("sqlglot.tokens", "Token")


def _sqlglot():  # type: ignore[no-untyped-def]
    return importlib.import_module("sqlglot")


K = TypeVar("K")
V = TypeVar("V")

# The SQL caches hold at least this many texts, and more in a bigger project (fit_to_project):
# a fixed 4,096 entries thrashed at ~1,000 files (each text parsed ~3.5 times per analysis)
BASE_CAPACITY = 4096
PER_FILE = 32  # room per source file of the project analysed last


class TextCache(Generic[K, V]):
    """A least-recently-used cache of a function of one text whose capacity follows the size of
    the project analysed (`fit_to_project`), so each text is computed once per analysis without
    the long-running server's cache growing past what its workspace needs."""

    def __init__(self, function: Callable[[K], V]) -> None:
        self.function = function
        self.capacity = BASE_CAPACITY
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.misses = 0
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__

    def __call__(self, key: K) -> V:
        entries = self.entries
        try:
            value = entries[key]
        except KeyError:
            self.misses += 1
            value = self.function(key)
            entries[key] = value
            if len(entries) > self.capacity:
                entries.popitem(last=False)
            return value
        entries.move_to_end(key)
        return value

    def resize(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def cache_clear(self) -> None:
        self.entries.clear()
        self.misses = 0


_TEXT_CACHES: list[TextCache] = []  # type: ignore[type-arg]


def _text_cache(function: Callable[[K], V]) -> TextCache[K, V]:
    cache = TextCache(function)
    _TEXT_CACHES.append(cache)
    return cache


def fit_to_project(source_files: int, capacity: int | None = None) -> None:
    """Size the SQL caches for a project of `source_files` files (called before each analysis);
    `capacity` sets it outright (the tests' tiny caches)."""
    size = capacity if capacity is not None else max(BASE_CAPACITY, PER_FILE * source_files)
    for cache in _TEXT_CACHES:
        cache.resize(size)


_NUMBERED_PARAM = re.compile(r"\?\d+")
_WITHOUT_ROWID = re.compile(
    r"\)\s*(WITHOUT\s+ROWID|STRICT)(\s*,\s*(WITHOUT\s+ROWID|STRICT))*\s*$", re.I
)


@frozen
class Substitution:
    """A `${expr}` inside SQL text: where it stands in the SQL and in the TypeScript source."""

    sql_offset: int
    ts_start: int
    ts_end: int
    expression: str


ELEMENT = "[]"  # a step into an array element in SqlParam.path


@frozen
class SqlParam:
    """How a project function hands SQL to `exec()`: the parameter that carries the text and the
    steps into it (`querySql([{ sql, params }])`: index 0, path ("[]", "sql")). `forwards`: the
    arguments after that parameter reach `exec()` one for one (`query(sql, ...params)`), so the
    call's own further arguments are the bindings."""

    index: int
    path: tuple[str, ...] = ()
    forwards: bool = False


_KIND = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z]+)", re.S)


@functools.lru_cache(maxsize=16384)
def _statement_kind(text: str) -> str:
    # asked by several rules for each of a file's statements on every keystroke: the regex
    # and upper() once per SQL text
    match = _KIND.match(text)
    return match.group(1).upper() if match else ""


@dataclass(eq=False)
class SqlStatement:
    """One SQL statement the code runs (or a loose SQL literal), with its text and places."""

    file: SourceFile  # the file holding the SQL text (a schema constant may live in another file)
    cls: DurableObjectClass | None
    call: Node  # the exec call, the tagged template, or the literal itself for loose SQL
    call_file: SourceFile
    literal: Node  # the string/template node holding the SQL (may live elsewhere in the file)
    text: str
    offsets: list[int]  # byte offset in file.data for each char of text, plus one for the end
    index_in_call: int
    statements_in_call: int
    substitutions: list[Substitution] = field(default_factory=list)
    bindings: int = 0  # arguments after the SQL string (exec only)
    # count unknown: a spread argument, or SQL handed over in an object/array or a wrapper whose
    # bindings are not the call's own further arguments
    has_spread_binding: bool = False
    # index in call_args(call) of the first binding: 1 for exec(), index + 1 for a forwarding
    # wrapper, None when the call's arguments are not exec's (SQL inside an object or array)
    binding_start: int | None = 1
    wrapper: SqlParam | None = None  # set when the SQL reaches exec() through a project function
    tagged: bool = False
    method: str | None = None  # the class method (or function) it runs in
    loose: bool = False  # a SQL-looking literal not passed to exec() where we can see it
    # not a field: analyzers.splice.lineage keeps a statement's in its __dict__; None until
    # asked (read at C speed by the language server's kept indexes)
    _lineage = None

    @property
    def literal_file_data(self) -> bytes:
        return self.file.data

    # Where the statement stands, without asking for its nodes and offsets: a statement moved
    # by an edit above it finds those only when a rule asks (analyzers.splice.MovedStatement),
    # and the model's bookkeeping reads only these.
    def call_place(self) -> tuple[int, int, str]:
        """(start, end, type) of the exec call (or tagged template, or loose literal)."""
        call = self.call
        return call.start_byte, call.end_byte, call.type

    def literal_start(self) -> int:
        return self.literal.start_byte  # type: ignore[no-any-return]

    def offsets_ends(self) -> tuple[int, int, int] | None:
        """(first offset, last offset, how many), or None when there are none."""
        offsets = self.offsets
        return (offsets[0], offsets[-1], len(offsets)) if offsets else None

    @property
    def expression(self) -> exp.Expression | None:
        return self._parsed[0]

    @property
    def parse_error(self) -> str | None:
        return self._parsed[1]

    @property
    def _parsed(self) -> tuple[exp.Expression | None, str | None]:
        """parse_sql of the text, kept on the statement (a function of its text; the rules ask
        for the tree of each statement again and again: normalising the text and looking it
        up each time cost more than the few parses of a project's distinct texts)."""
        parsed = self.__dict__.get("_parsed_sql")
        if parsed is None:
            parsed = self.__dict__["_parsed_sql"] = parse_sql(self.parse_text)
        return parsed  # type: ignore[no-any-return]

    @property
    def parse_text(self) -> str:
        return _normalized(self.text)

    @functools.cached_property
    def kind(self) -> str:
        """First keyword, upper case: SELECT, INSERT, CREATE, … (kept on the statement: asked
        for each statement by several rules on every keystroke)"""
        return _statement_kind(self.text)

    def span(self, start: int = 0, end: int | None = None) -> Span:
        end = len(self.text) if end is None else end
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        # trim leading/trailing whitespace so the range hugs the statement
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        ts_start = self.offsets[start]
        ts_end = self.offsets[end - 1] + 1 if end > start else ts_start
        for sub in self.substitutions:
            # a `?` standing for `${expr}` spans the whole substitution in the source
            if sub.sql_offset == end - 1:
                ts_end = sub.ts_end
        ts_end = max(ts_end, ts_start)
        return Span(self.file.path, ts_start, ts_end)

    def find_span(self, pattern: str, flags: int = re.I) -> Span:
        """Span of the first regex match in the statement text, else of the whole statement."""
        match = re.search(pattern, self.text, flags)
        if match is None:
            return self.span()
        return self.span(match.start(), match.end())

    @property
    def placeholders(self) -> int:
        """Count of `?`-style parameters written in the SQL itself (not `${}` substitutions)."""
        return count_placeholders(self.text) - len(self.substitutions)


@functools.lru_cache(maxsize=16384)
def _normalized(text: str) -> str:
    # `expression` is asked for each statement by several rules on every keystroke: the two
    # regular expressions once per SQL text
    return normalize_for_parse(text)


def normalize_for_parse(text: str) -> str:
    text = _NUMBERED_PARAM.sub("?", text)
    stripped = text.rstrip().rstrip(";")
    return _WITHOUT_ROWID.sub(")", stripped)


# sqlglot reads about 200 KB of SQL a second: a longer statement (a generated 1 MB IN list)
# is not read at all, an unknown like a statement sqlglot cannot parse (docs/security.md).
MAX_SQL_CHARS = 100_000


@_text_cache
def parse_sql(text: str) -> tuple[exp.Expression | None, str | None]:
    """sqlglot parse, cached by text. Never raises: (None, message) when sqlglot cannot read it."""
    if not text.strip():
        return None, "empty statement"
    if len(text) > MAX_SQL_CHARS:
        return None, f"statement longer than {MAX_SQL_CHARS} characters: not analysed"
    from sqlglot.errors import SqlglotError

    try:
        expression = _sqlglot().parse_one(text, read="sqlite")
    except (SqlglotError, ValueError, RecursionError) as exc:
        return None, (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    except Exception as exc:  # sqlglot's own bugs (IndexError on `f(() => 1)` …): unreadable
        return None, f"the SQL parser failed on this statement ({type(exc).__name__})"
    if not isinstance(expression, exp.Expression):
        return None, "not a statement"
    return expression, None


@_text_cache
def sql_tokens(text: str) -> tuple[Token, ...] | None:
    """sqlglot's SQLite tokens of a text, cached by text (several rules tokenize the same
    statement; in the language server the same texts come back on every keystroke). None when
    the text does not tokenize. Shared between callers: never mutate the tokens."""
    if len(text) > MAX_SQL_CHARS:
        return None
    try:
        return tuple(_sqlglot().tokenize(text, read="sqlite"))
    except Exception:  # SqlglotError, or any bug inside the tokenizer: not tokenizable
        return None


def count_placeholders(sql: str) -> int:
    tokens = sql_tokens(sql)
    if tokens is None:
        return sql.count("?")
    return sum(1 for tok in tokens if tok.token_type == TokenType.PLACEHOLDER)


def split_statements(text: str) -> list[tuple[int, int]]:
    """Char ranges of the statements in a multi-statement string (a trigger body stays whole)."""
    return list(_split_statements(text))


@_text_cache
def _split_statements(text: str) -> tuple[tuple[int, int], ...]:
    if ";" not in text:
        # no semicolon token possible: one statement (what the loop below gives), without
        # tokenizing (nor importing sqlglot) for the single statement most texts hold
        return ((0, len(text)),) if text.strip() else ()
    tokens = sql_tokens(text)
    if tokens is None:
        return ((0, len(text)),) if text.strip() else ()
    ranges: list[tuple[int, int]] = []
    start = 0
    in_trigger = False
    depth = 0
    first_tokens: list[str] = []
    for tok in tokens:
        if len(first_tokens) < 6:
            first_tokens.append(tok.text.upper())
            if first_tokens[0] == "CREATE" and "TRIGGER" in first_tokens:
                in_trigger = True
        upper = tok.text.upper()
        if in_trigger and upper == "BEGIN":
            depth += 1
        elif in_trigger and upper == "END" and tok.token_type != TokenType.SEMICOLON:
            depth = max(0, depth - 1)
        if tok.token_type == TokenType.SEMICOLON and (not in_trigger or depth == 0):
            if text[start : tok.start].strip():
                ranges.append((start, tok.start))
            start = tok.end + 1
            in_trigger = False
            first_tokens = []
    if text[start:].strip():
        ranges.append((start, len(text)))
    return tuple(ranges)


@dataclass(eq=False)
class FileConstants:
    """String constants of a file: `const SCHEMA = \\`...\\``, `static readonly SQL = "..."`."""

    by_name: dict[str, Node] = field(default_factory=dict)


def string_constants(file: SourceFile) -> dict[str, Node]:
    cached = file.memo.get("string_constants")
    if cached is None:
        cached = file.memo["string_constants"] = _string_constants(file)
    return dict(cached)


_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_CONSTANT_PLACES_LIMIT = 64  # more places spelling a name than this: the file's constants read
_CONSTANT_HOLDERS = frozenset({"variable_declarator", "public_field_definition"})


def string_constant(file: SourceFile, name: str) -> Node | None:
    """`string_constants(file).get(name)`: the first declarator or class field (in pre-order)
    named `name` whose value is a string. For a plain name, found from the name's places in
    the file's bytes (each descended to, `tsutil.node_at`: the name's token and the node
    holding it) without reading every declarator of the file: a file whose constant another
    file imports is otherwise indexed whole for it (~3.5% of a cold check on corpus-dev,
    docs/performance.md "Issue 14: the cold check, cheaper again")."""
    whole: dict[str, Node] | None = file.memo.get("string_constants")
    if whole is not None:
        return whole.get(name)
    memo: dict[str, Node | None] = file.memo.setdefault("string_constant", {})
    if name in memo:
        return memo[name]
    found = _constant_from_places(file, name) if _NAME.fullmatch(name) else _WALK
    if found is _WALK:
        found = string_constants(file).get(name)
    memo[name] = found
    return found


_WALK: Any = object()  # string_constant: read the file's constants instead


def _constant_from_places(file: SourceFile, name: str) -> Node | None:
    root = file.root
    if root.has_error:  # a MISSING or joined token may hold the name: read them all
        return _WALK
    data = file.data
    word = name.encode()
    places: list[int] = []
    at = data.find(word)
    while at >= 0:
        places.append(at)
        if len(places) > _CONSTANT_PLACES_LIMIT:
            return _WALK
        at = data.find(word, at + 1)
    charge(file.path)  # the analysis budget, as walk_type would (analyzers.budget)
    holders: list[Node] = []
    cursor = root.walk()
    for place in places:
        path = node_at(cursor, root, place, 1)
        if len(path) < 2:
            continue
        token, holder = path
        if token.start_byte != place or token.end_byte != place + len(word):
            continue  # inside a longer token (another name, a string, a comment)
        if holder.type not in _CONSTANT_HOLDERS:
            continue
        declared = holder.child_by_field_name("name")
        if declared is None or declared != token:
            continue  # the name used in the value, not declared
        holders.append(holder)
    holders.sort(key=lambda n: (n.start_byte, -n.end_byte))
    for holder in holders:
        value = holder.child_by_field_name("value")
        if value is None:
            continue
        value = _unwrap(value)
        if value.type in {"string", "template_string"}:
            return value
    return None


def _string_constants(file: SourceFile) -> dict[str, Node]:
    found: dict[str, Node] = {}
    for name, value in constant_declarations(file, file.root):
        found.setdefault(name, value)
    return found


def constant_declarations(file: SourceFile, scope: Node) -> list[tuple[str, Node]]:
    """(name, string or template literal) of every declarator and class field in `scope` whose
    value is a string, in order (a name may come twice: the file's constant is the first)."""
    found: list[tuple[str, Node]] = []
    data = file.data
    for node in walk_type(scope, "variable_declarator", "public_field_definition"):
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is None or value is None:
            continue
        value = _unwrap(value)
        if value.type in {"string", "template_string"}:
            found.append((node_text(data, name), value))
    return found


def _unwrap(node: Node) -> Node:
    # `"..." as const`, `("...")`
    while node.type in {"as_expression", "parenthesized_expression", "satisfies_expression"}:
        inner = node.named_children[0] if node.named_children else None
        if inner is None:
            break
        node = inner
    return node


_FUNCTION_SCOPES = frozenset(
    {"arrow_function", "function_expression", "function_declaration", "method_definition"}
)


def _function_scope(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in _FUNCTION_SCOPES:
        parent = parent.parent
    return parent


def _local_declaration(file: SourceFile, use: Node, name: str) -> Node | None:
    """The value of the `const`/`let` named `name` declared in a function enclosing `use`
    (innermost first); None when only the module (or nothing) declares it."""
    data = file.data
    scope = _function_scope(use)
    while scope is not None:
        for decl in walk_type(scope, "variable_declarator", file=file):
            target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
            if (
                target is not None
                and value is not None
                and target.type == "identifier"
                and node_text(data, target) == name
                and _function_scope(decl) == scope
            ):
                return value
        scope = _function_scope(scope)
    return None


def resolve_literal(
    file: SourceFile,
    arg: Node,
    constants: dict[str, Node],
    imported: dict[str, tuple[SourceFile, Node]],
) -> tuple[SourceFile, Node] | None:
    arg = _unwrap(arg)
    if arg.type in {"string", "template_string"}:
        return file, arg
    name = normalize_expr(node_text(file.data, arg))
    if arg.type == "identifier":
        local = _local_declaration(file, arg, name)
        if local is not None:
            # a variable of an enclosing function: that one, not a same-named one elsewhere
            value = _unwrap(local)
            return (file, value) if value.type in {"string", "template_string"} else None
    if arg.type == "identifier" and name in constants:
        return file, constants[name]
    if arg.type == "member_expression":
        # this.SCHEMA / ClassName.SCHEMA / Schema.MESSAGES
        last = name.rsplit(".", 1)[-1]
        if last in constants:
            return file, constants[last]
    if name in imported:
        return imported[name]
    return None


def is_exec_receiver(expr: str, aliases: Aliases) -> bool:
    if expr in aliases.sql:
        return True
    if expr.endswith(".sql") and expr[: -len(".sql")] in aliases.storage:
        return True  # `storage.sql` for a parameter typed DurableObjectStorage
    # `<anything>.storage.sql` and a bare `sql` are the platform's spelling everywhere
    return expr.endswith(".storage.sql") or expr == "sql"


def _exec_call_args(data: bytes, call: Node, aliases: Aliases) -> list[Node] | None:
    """The arguments of `<sql alias>.exec(…)`, or None for any other call."""
    func = call.child_by_field_name("function")
    if func is None or func.type != "member_expression":
        return None
    prop, obj = func.child_by_field_name("property"), func.child_by_field_name("object")
    if prop is None or obj is None or node_text(data, prop) != "exec":
        return None
    if not is_exec_receiver(normalize_expr(node_text(data, obj)), aliases):
        return None
    return call_args(call)


def _top_level_value(file: SourceFile, name: str) -> Node | None:
    """The value of a module-level `const name = …` (any expression, not only strings)."""
    for stmt in file.root.named_children:
        decl_parent = (
            stmt.child_by_field_name("declaration") if stmt.type == "export_statement" else stmt
        )
        if decl_parent is None or decl_parent.type not in {
            "lexical_declaration",
            "variable_declaration",
        }:
            continue
        for decl in decl_parent.named_children:
            if decl.type != "variable_declarator":
                continue
            target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
            if target is not None and value is not None and node_text(file.data, target) == name:
                return value
    return None


def follow_path(
    file: SourceFile,
    arg: Node,
    path: tuple[str, ...],
    constants: dict[str, Node],
    imported: dict[str, tuple[SourceFile, Node]],
    depth: int = 0,
) -> list[tuple[SourceFile, Node]]:
    """The SQL literals a wrapper reads from its argument along `path`: `[{ sql: "…" }, …]` with
    ("[]", "sql") gives every element's `sql` string. Follows local and module constants; an
    element or property we cannot see gives nothing (never a guess)."""
    if depth > 8:
        return []
    if not path:
        literal = resolve_literal(file, arg, constants, imported)
        return [literal] if literal is not None else []
    node = _unwrap(arg)
    if node.type == "identifier":
        name = node_text(file.data, node)
        value = _local_declaration(file, node, name) or _top_level_value(file, name)
        return (
            [] if value is None else follow_path(file, value, path, constants, imported, depth + 1)
        )
    step, rest = path[0], path[1:]
    found: list[tuple[SourceFile, Node]] = []
    if step == ELEMENT and node.type == "array":
        for element in node.named_children:
            if element.type not in {"spread_element", "comment"}:
                found.extend(follow_path(file, element, rest, constants, imported, depth + 1))
    elif step != ELEMENT and node.type == "object":
        for prop in node.named_children:
            if prop.type == "pair":
                key = prop.child_by_field_name("key")
                value = prop.child_by_field_name("value")
                if key is not None and value is not None and _key_name(file.data, key) == step:
                    found.extend(follow_path(file, value, rest, constants, imported, depth + 1))
            elif (
                prop.type == "shorthand_property_identifier" and node_text(file.data, prop) == step
            ):
                value = _local_declaration(file, prop, step) or _top_level_value(file, step)
                if value is not None:
                    found.extend(follow_path(file, value, rest, constants, imported, depth + 1))
    return found


def _key_name(data: bytes, key: Node) -> str:
    if key.type == "string":
        return node_text(data, key)[1:-1]
    return node_text(data, key)


def extract_statements(
    file: SourceFile,
    classes: list[DurableObjectClass],
    file_aliases: Aliases,
    imported: dict[str, tuple[SourceFile, Node]],
    wrapped: dict[int, SqlParam] | None = None,
    scope: Node | None = None,
) -> list[SqlStatement]:
    """All SQL statements this file runs, through any alias of the storage SQL API, and through
    the project's own wrappers: `wrapped` maps the start byte of each call to a project function
    that hands SQL to exec() (analyzers.sqlwrappers) to how it does. `scope`: only the calls
    inside that node (analyzers.splice re-reads the edited member alone)."""
    wrapped = wrapped or {}
    if not wrapped and file.lacks(b"exec", b"sql"):
        # neither `….exec(` nor a `this.sql` tag, no call through a wrapper: no statement
        return []
    data = file.data
    constants: dict[str, Node] | None = None  # the file's string constants, read when needed

    def known() -> dict[str, Node]:
        nonlocal constants
        if constants is None:
            constants = string_constants(file)
        return constants

    locate = class_locator(classes)
    statements: list[SqlStatement] = []
    receivers: dict[tuple[int, bytes], bool] = {}  # (id of the class, receiver's bytes)
    # a tagged template's tag reads `this.sql`: without the word, only exec() and wrappers
    may_tag = not file.lacks(b"sql")
    nodes = _statement_candidates(file, wrapped, may_tag) if scope is None else None
    if nodes is None:
        nodes = list(
            walk_type(scope or file.root, *_statement_kinds(data, scope or file.root, may_tag))
        )
    for node in nodes:
        tagged = None
        literal_refs: list[tuple[SourceFile, Node]] = []
        args: list[Node] = []
        via = None
        if node.type == "call_expression":
            tagged = is_tagged_sql_template(data, node) if may_tag else None
            via = wrapped.get(node.start_byte) if tagged is None else None
            if via is not None:
                # `this.query("SELECT …", id)`, `querySql([{ sql: "…", params }])`: the SQL
                # reaches exec() through a function of the project (analyzers.sqlwrappers)
                all_args = call_args(node)
                if len(all_args) <= via.index:
                    continue
                args = all_args[via.index :]
                literal_refs = follow_path(file, args[0], via.path, known(), imported)
            elif tagged is None:
                func = node.child_by_field_name("function")
                if func is None or func.type != "member_expression":
                    continue
                prop = func.child_by_field_name("property")
                if prop is None or data[prop.start_byte : prop.end_byte] != b"exec":
                    continue  # (the text "exec" is these bytes, and only these)
                obj = func.child_by_field_name("object")
                if obj is None:
                    continue
                cls = locate(node.start_byte, node.end_byte)
                # the same receiver is spelled on every exec() of a class: answered once
                receiver = (id(cls), data[obj.start_byte : obj.end_byte])
                runs = receivers.get(receiver)
                if runs is None:
                    aliases = cls.aliases.merged(file_aliases) if cls else file_aliases
                    runs = receivers[receiver] = is_exec_receiver(
                        normalize_expr(node_text(data, obj)), aliases
                    )
                if not runs:
                    continue
                args = call_args(node)
                if not args:
                    continue
                first = _unwrap(args[0])
                if first.type in {"string", "template_string"}:
                    literal_refs = [(file, first)]  # resolve_literal's answer, no constant read
                else:
                    found = resolve_literal(file, args[0], known(), imported)
                    literal_refs = [found] if found is not None else []
        elif node.type == "binary_expression":
            tagged = is_tagged_sql_template(data, node)
        if tagged is not None:
            literal_refs = [(file, tagged[1])]
        for lit_file, literal in literal_refs:
            statements.extend(
                _statements_of(file, lit_file, literal, node, args, via, tagged is not None, locate)
            )
    return statements


def exec_call_at(cursor: TreeCursor, root: Node, at: int) -> Node | None:
    """The call `<receiver>.exec(...)` whose property is the token `exec` starting at byte `at`
    (a place of the word in the file), else None (the word inside a longer name, a string, a
    comment, or not a method call's property)."""
    path = node_at(cursor, root, at, 2)
    if (
        len(path) == 3
        and path[0].start_byte == at
        and path[1].type == "member_expression"
        and path[2].type == "call_expression"
    ):
        return path[2]
    return None


_CANDIDATES_LIMIT = 64  # more places of a word than this: the file's calls are walked


def _statement_candidates(
    file: SourceFile, wrapped: dict[int, SqlParam], may_tag: bool
) -> list[Node] | None:
    """The calls (and binary expressions) of the file that may run SQL, in pre-order, found
    from where they must be instead of by a walk of every call (which builds the file's node
    index: ~4% of a cold check on corpus-dev, where most files saying `exec` hold no
    Durable Object; docs/performance.md, "Issue 14: the cold check, cheaper again"). A
    superset of the nodes extract_statements takes SQL from, each then looked at as in the
    walk: an exec() call's property is the token `exec` (its member and call just above); a
    tagged template holds its tag's token `sql` (each call or binary expression on the way
    down to it); a call through a wrapper starts at a byte `wrapped` names (each call starting
    there on the way down to it). None (walk instead) with a syntax error or many places."""
    root = file.root
    if root.has_error or len(wrapped) > _CANDIDATES_LIMIT:
        return None
    data = file.data
    exec_places = word_hits(data, (b"exec",), 0, len(data), _CANDIDATES_LIMIT)
    tag_places = (
        word_hits(
            data, (b"sql",), 0, len(data), _CANDIDATES_LIMIT, functools.partial(_may_tag_at, data)
        )
        if may_tag
        else []
    )
    if exec_places is None or tag_places is None:
        return None
    charge(file.path)  # the analysis budget, as walk_type would (analyzers.budget)
    found: dict[tuple[int, int, str], Node] = {}
    cursor = root.walk()
    for at in exec_places:
        call = exec_call_at(cursor, root, at)
        if call is not None:
            found[(call.start_byte, call.end_byte, call.type)] = call
    for at in tag_places:
        for node in _down_to(cursor, root, at):
            if node.type in {"call_expression", "binary_expression"}:
                found[(node.start_byte, node.end_byte, node.type)] = node
    for at in wrapped:
        for node in _down_to(cursor, root, at):
            if node.type == "call_expression" and node.start_byte == at:
                found[(node.start_byte, node.end_byte, node.type)] = node
    return sorted(found.values(), key=lambda n: (n.start_byte, -n.end_byte))


_AFTER_TAG = frozenset(b" \t\r\n\f\v)!")  # may close a tag's text before its template
# the template, type arguments (`<Row>`), a comment, or a byte of a non-ASCII character
# (tree-sitter takes U+00A0, U+FEFF … for white space)
_TAG_NEXT = frozenset(b"`</" + bytes(range(0x80, 0x100)))


def _may_tag_at(data: bytes, start: int, end: int) -> bool:
    """Whether the word `sql` at data[start:end] may be a tagged template's tag: the tag's text
    normalizes to `this.sql` (is_tagged_sql_template), so the word is its last token, followed
    only by white space, `)` or `!` up to the template's backquote, its type arguments' `<`
    (both shapes), a comment or non-ASCII white space. Most places (`….storage.sql.exec(…)`, an `sql` variable) are
    followed by something else and need no descent (~2,000 per 1,000 generated files)."""
    size = len(data)
    while end < size and data[end] in _AFTER_TAG:
        end += 1
    return end < size and data[end] in _TAG_NEXT


def _down_to(cursor: TreeCursor, root: Node, at: int) -> list[Node]:
    """The nodes a cursor passes descending from `root` to byte `at` (at each level the first
    child ending after it): every node holding that byte, and possibly one past a gap."""
    cursor.reset(root)
    path = [root]
    while cursor.goto_first_child_for_byte(at) is not None:
        node = cursor.node
        assert node is not None
        path.append(node)
    return path


def _statement_kinds(data: bytes, root: Node, may_tag: bool) -> tuple[str, ...]:
    """The node types extract_statements looks at: the calls, and the binary expressions when
    one is the binary shape of a tagged template (this.sql<Row>`…`, rare), in their places
    among the calls. A binary expression that is no tagged template yields nothing, so without
    one the calls alone (merging and sorting every call and binary expression of each file was
    ~1% of a cold check: docs/performance.md, "Issue 14: the cold check, cheaper again")."""
    if may_tag and any(
        is_tagged_sql_template(data, node) for node in walk_type(root, "binary_expression")
    ):
        return ("call_expression", "binary_expression")
    return ("call_expression",)


def _statements_of(
    file: SourceFile,
    lit_file: SourceFile,
    literal: Node,
    node: Node,
    args: list[Node],
    via: SqlParam | None,
    tagged: bool,
    locate: Callable[[int, int], DurableObjectClass | None],
) -> list[SqlStatement]:
    """The statements of one SQL literal run by the call (or tagged template) `node`."""
    data = file.data
    statements: list[SqlStatement] = []
    text, offsets = literal_chars(lit_file.data, literal)
    subs = _substitutions(lit_file, literal, text, offsets)
    cls = locate(node.start_byte, node.end_byte)
    func = enclosing_function(node)
    method = (
        method_name(data, func) if func is not None and func.type == "method_definition" else None
    )
    bindings = len(args) - 1 if args else 0
    spread = any(a.type == "spread_element" for a in args[1:])
    binding_start: int | None = 1
    if via is not None:
        if via.path or not via.forwards:
            # the call's further arguments are not exec's bindings one for one
            bindings, spread, binding_start = 0, True, None
        else:
            binding_start = via.index + 1
    ranges = split_statements(text)
    for index, (start, end) in enumerate(ranges):
        stmt_subs = [
            Substitution(s.sql_offset - start, s.ts_start, s.ts_end, s.expression)
            for s in subs
            if start <= s.sql_offset < end
        ]
        statements.append(
            SqlStatement(
                file=lit_file,
                cls=cls,
                call=node,
                call_file=file,
                literal=literal,
                text=text[start:end],
                offsets=(
                    offsets  # the whole literal (most): its list as it is, never mutated
                    if start == 0 and end == len(offsets) - 1
                    else [*offsets[start:end], offsets[end] if end < len(offsets) else offsets[-1]]
                ),
                index_in_call=index,
                statements_in_call=len(ranges),
                substitutions=stmt_subs,
                bindings=bindings,
                has_spread_binding=spread,
                binding_start=binding_start,
                wrapper=via,
                tagged=tagged,
                method=method,
            )
        )
    return statements


def _substitutions(
    file: SourceFile, literal: Node, text: str, offsets: list[int]
) -> list[Substitution]:
    subs: list[Substitution] = []
    if literal.type != "template_string":
        return subs
    starts = {
        child.start_byte: child
        for child in literal.children
        if child.type == "template_substitution"
    }
    if not starts:  # a template without `${…}` (a schema's text): no loop over its characters
        return subs
    for index, offset in enumerate(offsets[:-1]):
        child = starts.get(offset)
        if child is not None and text[index] == "?":
            inner = child.named_children[0] if child.named_children else child
            subs.append(
                Substitution(index, child.start_byte, child.end_byte, node_text(file.data, inner))
            )
    return subs


def _class_of(node: Node, classes: list[DurableObjectClass]) -> DurableObjectClass | None:
    return class_locator(classes)(node.start_byte, node.end_byte)


def _breadth_first(node: exp.Expression) -> Iterator[Any]:
    """`node` and its descendants in sqlglot's breadth-first order, by one loop instead of
    sqlglot's three nested generators per node (the rules and fixes walk each statement's
    tree several times: issue 14)."""
    queue: list[Any] = [node]
    expr = exp.Expr
    at = 0
    while at < len(queue):
        current = queue[at]
        at += 1
        yield current
        for value in current.args.values():
            if isinstance(value, list):
                queue.extend(v for v in value if isinstance(v, expr))
            elif isinstance(value, expr):
                queue.append(value)


def find_all(node: exp.Expression, *types: type) -> list[Any]:
    """`list(node.find_all(*types))`: the nodes of those types, `node` included."""
    return [n for n in _breadth_first(node) if isinstance(n, types)]


def find_first(node: exp.Expression, *types: type) -> Any:
    """`node.find(*types)`: the first node of those types in breadth-first order, or None."""
    return next((n for n in _breadth_first(node) if isinstance(n, types)), None)


def tables_in(expression: exp.Expression | None) -> list[str]:
    if expression is None:
        return []
    names: list[str] = []
    ctes = {cte.alias_or_name.lower() for cte in find_all(expression, exp.CTE)}
    for table in find_all(expression, exp.Table):
        name = table.name.lower()
        if name and name not in ctes and name not in names:
            names.append(name)
    return names


def target_table(expression: exp.Expression | None) -> str | None:
    """The table an INSERT / UPDATE / DELETE / DROP / ALTER writes to."""
    if expression is None:
        return None
    node: exp.Expression | None = None
    if isinstance(expression, exp.Insert | exp.Update | exp.Delete | exp.Drop | exp.Alter):
        node = expression.this
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return node.name.lower()
    return None


_LOOSE_SQL = later(
    r"^\s*(CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|TRIGGER|VIEW)|ALTER\s+TABLE|INSERT\s+(OR\s+\w+\s+)?INTO|"
    r"REPLACE\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|DROP\s+TABLE|SELECT\s.+\sFROM\s)",
    re.I | re.S,
)


_MAX_HITS = 256  # more word hits than this in a file: its literals are walked instead


def _loose_candidates(
    file: SourceFile, scope: Node | None, skip: set[int] | frozenset[int] = frozenset()
) -> list[Node]:
    """The string and template literals of the file (inside `scope`) that may match _LOOSE_SQL,
    in pre-order: those whose bytes start as _LOOSE_SQL_START says. With a few such places in
    the file, the literal around each is found by a descent from the root to it (no node
    index of the file, which most files without a class, SQL or an exec() call then never
    need); with many, the literals are walked and each one's start checked. A tree with a
    syntax error may hold other children in a literal (dropped, joining the fragments around
    them): then every literal is read, as before (docs/performance.md, "Issue 14: the
    per-file model, cheaper")."""
    root = file.root
    node = scope or root
    if root.has_error:
        return list(walk_type(node, "string", "template_string"))
    data = file.data
    lo, hi = node.start_byte, node.end_byte
    hits = _hits(data[lo:hi] if node is not root else data)
    if hits is None:
        return [
            literal
            for literal in walk_type(node, "string", "template_string")
            if _LOOSE_SQL_START.match(data[literal.start_byte : literal.end_byte].lower())
        ]
    if not hits:
        return []
    # A literal that may be SQL has a hit at its own first byte, its opening quote (the bytes a
    # match covers after the quote hold no quote: no match swallows the next literal's): the
    # literal starting at each hit, not one starting at a literal `skip` names (run by exec)
    found: dict[tuple[int, int], Node] = {}
    for at in hits:
        at += lo
        if at in skip:
            continue
        # the quote's token (one byte), whose parent is the literal it opens, if it opens one
        token = root.descendant_for_byte_range(at, at + 1)
        literal = token.parent if token is not None else None
        if (
            literal is not None
            and literal.start_byte == at
            and literal.type in _LITERAL_TYPES
            and literal.end_byte <= hi
        ):
            found[(at, -literal.end_byte)] = literal
    return [found[key] for key in sorted(found)]


_LITERAL_TYPES = frozenset({"string", "template_string"})
# Where a literal whose text matches _LOOSE_SQL can start, in the file's bytes lower-cased: its
# opening quote, white space (any non-ASCII byte too: U+00A0 and other Unicode spaces), then
# the keyword; or, before the keyword is complete, something literal_chars turns into other
# characters or drops: an escape (`"\nCREATE …"`, `"\x53ELECT"`), an HTML character reference
# of a JSX string (`"SEL&#69;CT"`), a non-ASCII letter Python's case-insensitive matching takes
# for an ASCII one (İ, ı, ſ). A template substitution there makes a `?`: no match. One regex
# pass over the file (it skips to the quotes), a hit per literal that may be SQL; the other
# literals are never read (tests/test_speed_model.py compares with reading every literal).
_LOOSE_SQL_START = re.compile(
    rb"[\"'`][\s\x1c-\x1f\x80-\xff]*"
    rb"(?:create|alter|insert|replace|delete|update|drop|select"
    rb"|[a-z]{0,6}(?:\\|&|\xc4[\xb0\xb1]|\xc5\xbf))"
)


def _hits(raw: bytes) -> list[int] | None:
    """Where a literal that may match _LOOSE_SQL starts in `raw` (the opening quote), or None
    when that is more than _MAX_HITS places."""
    hits: list[int] = []
    for match in _LOOSE_SQL_START.finditer(raw.lower()):
        hits.append(match.start())
        if len(hits) > _MAX_HITS:
            return None
    return hits


def loose_statements(
    file: SourceFile, seen_literals: set[int], scope: Node | None = None
) -> list[SqlStatement]:
    """SQL literals never passed to exec() in a way we can follow (arrays of migration steps,
    helper functions taking a string). They still define schema and prune tables. `scope`: only
    the literals inside that node."""
    statements: list[SqlStatement] = []
    data = file.data
    for node in _loose_candidates(file, scope, seen_literals):
        if node.type not in {"string", "template_string"} or node.start_byte in seen_literals:
            continue
        text, offsets = literal_chars(data, node)
        if not _LOOSE_SQL().match(text):
            continue
        ranges = split_statements(text)
        for index, (start, end) in enumerate(ranges):
            stmt = SqlStatement(
                file=file,
                cls=None,
                call=node,
                call_file=file,
                literal=node,
                text=text[start:end],
                offsets=[*offsets[start:end], offsets[end] if end < len(offsets) else offsets[-1]],
                index_in_call=index,
                statements_in_call=len(ranges),
                substitutions=[
                    Substitution(s.sql_offset - start, s.ts_start, s.ts_end, s.expression)
                    for s in _substitutions(file, node, text, offsets)
                    if start <= s.sql_offset < end
                ],
                loose=True,
            )
            if stmt.parse_error is None:
                statements.append(stmt)
    return statements
