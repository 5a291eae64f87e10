"""sql-interpolation: `${…}` spliced into SQL text passed to `sql.exec()`."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import QUIET_CALLS, QuietCalls
from durable_harden.analyzers.rules._common import REF_RULES, REF_SQL
from durable_harden.analyzers.rules._sqlexec import tokens
from durable_harden.analyzers.sql import (  # sqlglot itself on first use
    SqlStatement,
    Substitution,
    Token,
    TokenType,
)
from durable_harden.analyzers.tsutil import call_args, node_text, normalize_expr, walk_type

DOCS = RuleDocs(
    what="""
Reports template substitutions (`${…}`) inside SQL text given to `sql.exec()`:

- used as a value (after `=`, `<`, `LIKE`, `IN (`, inside `VALUES (…)`, a function's arguments,
  `LIMIT`, or inside a quoted SQL string such as `'%${q}%'`): it should be a `?` parameter;
- anywhere else (a table or column name, a sort direction, a whole fragment): it cannot be a
  parameter, so it is reported with advice to check it against a fixed allowlist.

Not reported: the Agents SDK `this.sql` tag (it binds its substitutions as parameters), and
text the code fixes itself: constants spelled in capitals (`${TABLE}`, `this.LIMIT`), literals,
a `const` whose value is a literal, a constant template or concatenation of such pieces
(followed through `const`s of the enclosing functions and the module), generated placeholder
lists such as `${ids.map(() => "?").join(",")}` or a `const` holding one (see
sql-too-many-params), identifiers the code escapes (`.replace(/"/g, '""')`) or passes through a
function named for it (`toValidTableName(x)`, `escapeId(x)`, `quoteIdent(x)`), a method
parameter that every `this.method(…)` call of the class passes as a string literal
(`tableHasColumn("players", …)`), a `readonly` member of the class (configuration fixed when the
object is built), and a fragment in a statement run with a spread parameter list (`WHERE
${where}` with `exec(q, ...params)`: the fragment carries the placeholders of those
parameters). A name or fragment built from anything else (an option object's property, a
function's result) is still reported.
""",
    why="""
A value spliced into SQL is an injection hole (a quote in a user name ends the string), breaks on
values that are not plain text, and makes every call a new statement text, which defeats the
statement cache of the Durable Object SQL API.
""",
    example="""
```ts
// Reported: a value spliced into the text
sql.exec(`SELECT * FROM messages WHERE room = '${room}' LIMIT ${limit}`);
// Fixed
sql.exec(`SELECT * FROM messages WHERE room = ? LIMIT ?`, room, limit);

// Reported (no fix): a table name cannot be a parameter; check it against an allowlist
sql.exec(`DELETE FROM ${table} WHERE at < ?`, cutoff);
```
""",
    references=(
        f"{REF_SQL} (exec: bindings)",
        f"{REF_RULES}",
        "https://www.sqlite.org/lang_expr.html#varparam",
    ),
)

_VALUE_PREV = frozenset(
    {
        "=",
        "==",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "LIKE",
        "GLOB",
        "IS",
        "NOT",
        "BETWEEN",
        "LIMIT",
        "OFFSET",
        "THEN",
        "ELSE",
        "WHEN",
        "+",
        "-",
        "*",
        "/",
        "%",
        "||",
    }
)
_NAME_OPENERS = frozenset({"INTO", "TABLE", "ON", "INDEX", "EXISTS", "JOIN", "FROM", "UPDATE"})
_CONSTANT = later(r"^(?:(?:this|[A-Z]\w*)\.)?[A-Z][A-Z0-9_]*$")
_LITERAL = later(r"""^(?:-?\d[\d_.]*|"[^"]*"|'[^']*'|true|false|null)$""")
_PLACEHOLDER_LIST = later(r"""["'`]\s*\?\s*["'`]""")


@dataclass
class Use:
    """One substitution (or one quoted SQL string holding substitutions) used as a value."""

    subs: list[Substitution]
    start: int  # char range in the statement text replaced by `?`
    end: int
    quoted: bool


def _upper(tok: Token) -> str:
    return tok.text.upper()


class _Parens:
    """The parentheses of one token list, found in one pass (a statement with thousands of
    substitutions used to rescan its prefix for each: quadratic)."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.enclosing: list[int] = []  # per token: the innermost `(` still open before it, or -1
        self.opener: dict[int, int] = {}  # `)` index -> its `(` index
        self._kinds: dict[int, str] = {}
        stack: list[int] = []
        for index, tok in enumerate(toks):
            self.enclosing.append(stack[-1] if stack else -1)
            if tok.token_type == TokenType.L_PAREN:
                stack.append(index)
            elif tok.token_type == TokenType.R_PAREN and stack:
                self.opener[index] = stack.pop()

    def kind(self, open_index: int) -> str:
        """What a `(` opens: "values", "in", "call", "names" or "group"."""
        chain: list[int] = []
        kind: str | None = None
        current = open_index
        while kind is None:
            if current in self._kinds:
                kind = self._kinds[current]
                break
            kind, previous_group = self._own_kind(current)
            if kind is None:  # `(…), (…)`: the previous group decides
                chain.append(current)
                current = previous_group
        for index in chain:
            self._kinds[index] = kind
        self._kinds[open_index] = kind
        return kind

    def _own_kind(self, open_index: int) -> tuple[str | None, int]:
        toks = self.toks
        prev = toks[open_index - 1] if open_index > 0 else None
        if prev is None:
            return "group", -1
        word = _upper(prev)
        if word == "VALUES":
            return "values", -1
        if word == "IN":
            return "in", -1
        if prev.token_type == TokenType.COMMA and open_index > 1:
            before = open_index - 2
            if toks[before].token_type == TokenType.R_PAREN and before in self.opener:
                return None, self.opener[before]
            return "group", -1
        if prev.token_type in {TokenType.VAR, TokenType.IDENTIFIER} or prev.text[:1].isalpha():
            before_word = _upper(toks[open_index - 2]) if open_index > 1 else ""
            if before_word in _NAME_OPENERS or before_word == "." or word in _NAME_OPENERS:
                return "names", -1
            return "call", -1
        return "group", -1


def _is_value_position(toks: list[Token], index: int, parens: _Parens) -> bool:
    if index == 0:
        return False
    prev = toks[index - 1]
    word = _upper(prev)
    nxt = toks[index + 1] if index + 1 < len(toks) else None
    if nxt is not None and nxt.token_type == TokenType.DOT:
        return False
    if word in _VALUE_PREV:
        return True
    if word == "AND":
        # `BETWEEN x AND ${y}`
        for back in range(index - 2, max(-1, index - 6), -1):
            if _upper(toks[back]) == "BETWEEN":
                return True
            if _upper(toks[back]) in {"AND", "OR", "WHERE"}:
                return False
        return False
    if prev.token_type in {TokenType.L_PAREN, TokenType.COMMA}:
        opener = parens.enclosing[index]
        return opener >= 0 and parens.kind(opener) in {"values", "in", "call"}
    return False


def _skipped(expression: str) -> bool:
    text = expression.strip()
    return bool(
        _CONSTANT().match(text) or _LITERAL().match(text) or _PLACEHOLDER_LIST().search(text)
    )


# statements whose "values" cannot be bound parameters in SQLite
_NO_PARAMETERS = frozenset({"PRAGMA", "CREATE", "ALTER", "DROP", "ATTACH", "DETACH", "VACUUM"})


def classify(stmt: SqlStatement) -> tuple[list[Use], list[Substitution]] | None:
    """(value uses, substitutions used as names/fragments); None when the text does not
    tokenize. Skipped substitutions are in neither list."""
    toks = tokens(stmt.text)
    if toks is None:
        return None
    text = stmt.text
    by_offset = {s.sql_offset: s for s in stmt.substitutions}
    offsets = sorted(by_offset)
    parens = _Parens(toks)
    values: list[Use] = []
    names: list[Substitution] = []
    seen: set[int] = set()
    for index, tok in enumerate(toks):
        if tok.token_type == TokenType.STRING:
            first = bisect.bisect_right(offsets, tok.start)
            last = bisect.bisect_left(offsets, tok.end)
            inside = [by_offset[o] for o in offsets[first:last]]
            if not inside:
                continue
            seen.update(s.sql_offset for s in inside)
            wanted = [s for s in inside if not _skipped(s.expression)]
            if not wanted:
                continue
            if _is_value_position(toks, index, parens) and text[tok.start] == "'":
                values.append(Use(inside, tok.start, tok.end + 1, True))
            else:
                names.extend(wanted)
            continue
        sub = by_offset.get(tok.start)
        if sub is None or tok.token_type != TokenType.PLACEHOLDER:
            continue
        seen.add(sub.sql_offset)
        if _skipped(sub.expression):
            continue
        before = text[tok.start - 1] if tok.start > 0 else " "
        after = text[tok.end + 1] if tok.end + 1 < len(text) else " "
        glued = before.isalnum() or before in '_."`[' or after.isalnum() or after in '_."`]'
        if not glued and _is_value_position(toks, index, parens):
            values.append(Use([sub], tok.start, tok.end + 1, False))
        else:
            names.append(sub)
    for offset, sub in by_offset.items():
        if offset not in seen and not _skipped(sub.expression):
            names.append(sub)  # glued into an identifier: `${prefix}_items`
    if stmt.kind in _NO_PARAMETERS:
        # SQLite takes no bound parameter here (`PRAGMA table_info(?)` is a syntax error, DDL
        # refuses them): what looks like a value is part of the statement's text
        names.extend(s for use in values for s in use.subs)
        values = []
    return values, names


# -- substitutions whose text the code fixes itself --------------------------------------------
FUNCTIONS = frozenset(
    {"arrow_function", "function_expression", "function_declaration", "method_definition"}
)
# `ids.map(() => "(?, ?)").join(", ")`: a generated list of placeholders, not data
_PLACEHOLDER_MAP = later(r"""\.map\(\s*\(?[^)]*\)?\s*=>\s*["'`][\s?,()]*["'`]\s*\)""")
# an identifier quoted by the code: `"${name.replace(/"/g, '""')}"`, or passed through a
# function whose name says it cleans it (`toValidTableName(id)`, `escapeId(x)`, `quoteIdent(x)`)
_ESCAPED = later(
    r"""\.replace(?:All)?\(\s*(?:/"/g|'"'|`"`)\s*,|\b\w*(?:[Vv]alid|[Ss]anitiz|[Ee]scape|[Qq]uote)\w*\(""",
)


def _substitution_node(stmt: SqlStatement, sub: Substitution) -> Node | None:
    node = stmt.file.root.descendant_for_byte_range(sub.ts_start, sub.ts_end)
    while node is not None and node.type != "template_substitution":
        node = node.parent
    if node is None:
        return None
    inner = [c for c in node.named_children if c.type != "comment"]
    return inner[0] if inner else None


def _enclosing(node: Node, types: frozenset[str] | set[str]) -> Node | None:
    parent = node.parent
    while parent is not None and parent.type not in types:
        parent = parent.parent
    return parent


def _declaration_of(data: bytes, node: Node, name: str) -> Node | None:
    """The `const name = …` initializer visible from `node` (enclosing functions, then module)."""
    scope = _enclosing(node, FUNCTIONS)
    while True:
        root = scope if scope is not None else node
        while scope is None and root.parent is not None:
            root = root.parent
        for decl in walk_type(root, "variable_declarator"):
            target = decl.child_by_field_name("name")
            value = decl.child_by_field_name("value")
            if (
                target is not None
                and value is not None
                and target.type == "identifier"
                and node_text(data, target) == name
                and decl.start_byte < node.start_byte
                and _enclosing(decl, FUNCTIONS) == scope  # not a same-named local elsewhere
            ):
                return value
        if scope is None:
            return None
        scope = _enclosing(scope, FUNCTIONS)


def _param_index(data: bytes, func: Node, name: str) -> int | None:
    params = func.child_by_field_name("parameters")
    if params is None:
        return None
    for index, param in enumerate(p for p in params.named_children if p.type != "comment"):
        pattern = param.child_by_field_name("pattern")
        if pattern is not None and node_text(data, pattern) == name:
            return index
    return None


def _literal_arguments_only(data: bytes, func: Node, index: int) -> bool:
    """Every `this.<method>(…)` call of the class passes a string literal at `index`."""
    if func.type != "method_definition":
        return False
    name_node = func.child_by_field_name("name")
    cls = _enclosing(func, {"class_body"})
    if name_node is None or cls is None:
        return False
    method = node_text(data, name_node)
    seen = 0
    for call in walk_type(cls, "call_expression"):
        callee = call.child_by_field_name("function")
        if callee is None or normalize_expr(node_text(data, callee)) != f"this.{method}":
            continue
        args = call_args(call)
        if index >= len(args) or args[index].type not in {"string", "number"}:
            return False
        seen += 1
    return seen > 0


def _readonly_member(data: bytes, node: Node, member: str) -> bool:
    """`this.member` declared `readonly` in the class that uses it: configuration fixed when
    the object is built, not request data."""
    body = _enclosing(node, {"class_body"})
    if body is None:
        return False
    for field_node in walk_type(body, "public_field_definition", "required_parameter"):
        name = field_node.child_by_field_name("name") or field_node.child_by_field_name("pattern")
        if name is None or node_text(data, name) != member:
            continue
        if any(
            c.type == "readonly" or node_text(data, c) == "readonly" for c in field_node.children
        ):
            return True
    return False


def fixed_by_code(data: bytes, node: Node | None, depth: int = 3) -> bool:
    """The substitution's text is fixed by the code itself: a literal or constant, a constant
    template or concatenation, a generated placeholder list, an identifier the code escapes, a
    method parameter every caller passes as a literal, a `readonly` member."""
    if node is None or depth == 0:
        return False
    text = node_text(data, node)
    if _skipped(text) or _PLACEHOLDER_MAP().search(text) or _ESCAPED().search(text):
        return True
    kind = node.type
    if kind in {"string", "number", "true", "false", "null"}:
        return True
    if kind == "parenthesized_expression":
        return all(fixed_by_code(data, c, depth) for c in node.named_children)
    if kind == "template_string":
        subs = [c for c in node.named_children if c.type == "template_substitution"]
        return all(
            fixed_by_code(data, c.named_children[0] if c.named_children else None, depth)
            for c in subs
        )
    if kind == "binary_expression":
        return all(
            fixed_by_code(data, node.child_by_field_name(side), depth) for side in ("left", "right")
        )
    if kind == "ternary_expression":
        return all(
            fixed_by_code(data, node.child_by_field_name(side), depth)
            for side in ("consequence", "alternative")
        )
    if kind == "identifier":
        value = _declaration_of(data, node, text)
        if value is not None:
            return fixed_by_code(data, value, depth - 1)
        func = _enclosing(node, FUNCTIONS)
        index = _param_index(data, func, text) if func is not None else None
        return index is not None and func is not None and _literal_arguments_only(data, func, index)
    if kind == "member_expression":
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is not None and prop is not None and node_text(data, obj) == "this":
            return _readonly_member(data, node, node_text(data, prop))
    return False


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class InterpolationState:
    """What the fix needs: the statement the substitution is spliced into."""

    statement: SqlStatement


def check(model: ProjectModel) -> Iterator[Finding]:
    for stmt in model.statements:
        if stmt.tagged or stmt.loose or not stmt.substitutions:
            continue
        found = classify(stmt)
        if found is None:
            continue
        values, names = found

        def fixed(sub: Substitution, stmt: SqlStatement = stmt) -> bool:
            return fixed_by_code(stmt.file.data, _substitution_node(stmt, sub))

        # a fragment built together with its parameter list (`WHERE ${where}` run with
        # `...params`): the fragment holds the placeholders for those parameters
        names = [sub for sub in names if not fixed(sub) and not stmt.has_spread_binding]
        where = {"statement": [str(stmt.file.path), stmt.offsets[0]]}
        state = InterpolationState(stmt)
        for use in values:
            for sub in use.subs:
                if _skipped(sub.expression) or fixed(sub):
                    continue
                yield RULE.finding(
                    "value",
                    f"`${{{sub.expression}}}` is spliced into the SQL text as a value: bind it "
                    "as a `?` parameter instead (injection, quoting, statement cache).",
                    Span(stmt.file.path, sub.ts_start, sub.ts_end),
                    data={**where, "kind": "value", "at": sub.ts_start},
                    state=state,
                )
        for sub in names:
            yield RULE.finding(
                "name",
                f"`${{{sub.expression}}}` is spliced into the SQL text as a name or fragment, "
                "which cannot be a parameter: check it against a fixed allowlist of names.",
                Span(stmt.file.path, sub.ts_start, sub.ts_end),
                data={**where, "kind": "name", "at": sub.ts_start},
                state=state,
            )


RULE = Rule(
    id="sql-interpolation",
    title="Template substitution inside SQL text",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "value": "a value spliced into the SQL text instead of bound",
        "name": "a name or fragment spliced into the SQL text",
    },
)


def _reads_elsewhere(model: ProjectModel, stmt: SqlStatement) -> bool:
    """A substitution the rule does not skip by its text alone (`_skipped`): whether it is
    fixed by the code (`fixed_by_code`) reads code outside the statement's member (a module
    `const`, the calls of a method whose parameter it is, a field's `readonly`), so an edit
    elsewhere in the file can make the statement a finding while its text stays the same.
    Such a statement is checked on every run (incremental.QuietCalls.unsettled), as the
    others of the rest are not once they were found quiet."""
    return any(not _skipped(sub.expression) for sub in stmt.substitutions)


QUIET_CALLS[RULE.id] = QuietCalls(
    context=lambda model, file: None,
    unsettled=_reads_elsewhere,
    reason="it reports `${…}` substitutions only, and a statement with one is never in a "
    "call `_Calls` groups (it is checked with the rest; one whose answer reads other code "
    "on every run)",
)
