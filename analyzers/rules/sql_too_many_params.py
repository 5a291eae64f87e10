"""sql-too-many-params: more than 100 bound parameters, or one `?` generated per element of an
array (`IN (${ids.map(() => "?").join(",")})`), which fails once the array grows past 100."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.lazyre import later
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.reuse import UNSETTLED_REST
from durable_harden.analyzers.rules._common import REF_LIMITS, REF_SQL
from durable_harden.analyzers.rules._sqlexec import binding_args, params_read, tokens
from durable_harden.analyzers.sql import (
    SqlStatement,
    Substitution,
    TokenType,  # sqlglot itself on first use
)
from durable_harden.analyzers.tsutil import node_text, walk_type

MAX_PARAMS = 100

DOCS = RuleDocs(
    what="""
Reports `sql.exec()` calls with more than 100 bound parameters (counted from the SQL and the
arguments when both are literal), and parameter lists generated from an array, such as
`IN (${ids.map(() => "?").join(",")})` with `...ids` as arguments (also `Array(n).fill("?")`
and `Array.from(ids, () => "?")`): they work in tests with a few ids and throw in production
once the array has more than 100 elements.

Not reported: a generated list whose array, everywhere the function assigns it, holds at most
100 elements: the rows of a query with `LIMIT n` or a `.slice(0, n)` with n at most 100 (a
literal, or a numeric constant of the file).
""",
    why="""
A Durable Object SQL statement takes at most 100 bound parameters (and at most 100 KB of text).
Beyond that `exec()` throws, typically on the biggest customer's data.
""",
    example="""
```ts
// Reported: one parameter per id; throws above 100 ids
sql.exec(`SELECT * FROM items WHERE id IN (${ids.map(() => "?").join(",")})`, ...ids);
// Fixed: one parameter whatever the size
sql.exec(`SELECT * FROM items WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids));
```
""",
    references=(
        f"{REF_LIMITS} (100 bound parameters per statement)",
        f"{REF_SQL}",
        "https://www.sqlite.org/json1.html#jeach",
    ),
)

_ARRAY = r"([A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$][\w$]*)*)"
_Q = r"""["'`]\s*\?\s*["'`]"""
_GENERATORS = (  # compiled on first use: only statements with a `${…}` placeholder need them
    later(
        rf"^{_ARRAY}\s*\.\s*map\(\s*(?:\(\s*[\w$]*\s*(?:,\s*[\w$]*\s*)?\)|[\w$]+)\s*=>\s*{_Q}\s*\)\s*\.\s*join\("
    ),
    later(
        rf"^(?:new\s+)?Array\(\s*{_ARRAY}\s*\.\s*length\s*\)\s*\.\s*fill\(\s*{_Q}\s*\)\s*\.\s*join\("
    ),
    later(rf"^Array\.from\(\s*{_ARRAY}\s*,\s*\(\s*[\w$]*\s*\)\s*=>\s*{_Q}\s*\)\s*\.\s*join\("),
)


@dataclass
class GeneratedList:
    """A `${…}` substitution generating one `?` per array element inside `IN (…)`."""

    sub: Substitution
    array: str
    open: int  # char offsets of the `(` and `)` around the substitution in the statement
    close: int


def generated_lists(stmt: SqlStatement) -> list[GeneratedList]:
    if not stmt.substitutions:
        return []  # a generated list is a `${…}` substitution: none to look at
    toks = tokens(stmt.text)
    if toks is None:
        return []
    found: list[GeneratedList] = []
    by_offset = {s.sql_offset: s for s in stmt.substitutions}
    for index, tok in enumerate(toks):
        sub = by_offset.get(tok.start)
        if sub is None or tok.token_type != TokenType.PLACEHOLDER:
            continue
        array = None
        for pattern in _GENERATORS:
            match = pattern().match(sub.expression.strip())
            if match is not None:
                array = match.group(1)
                break
        if array is None:
            continue
        if not (0 < index < len(toks) - 1):
            continue
        before, after = toks[index - 1], toks[index + 1]
        if before.token_type != TokenType.L_PAREN or after.token_type != TokenType.R_PAREN:
            continue
        if index < 2 or toks[index - 2].text.upper() != "IN":
            continue
        found.append(GeneratedList(sub, array, before.start, after.start))
    return found


_BOUND = later(
    r"\bLIMIT\s+(?:(\d+)|\$\{\s*(\w+)\s*\})|\.slice\(\s*0\s*,\s*(?:(\d+)|(\w+))\s*\)", re.I
)
_FUNCTIONS = frozenset(
    {"arrow_function", "function_expression", "function_declaration", "method_definition"}
)


def _number_constant(data: bytes, root: Node, name: str) -> int | None:
    for decl in walk_type(root, "variable_declarator"):
        target, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
        if target is not None and value is not None and node_text(data, target) == name:
            text = node_text(data, value).replace("_", "")
            return int(text) if text.isdigit() else None
    return None


def bounded_array(stmt: SqlStatement, item: GeneratedList) -> bool:
    """Every value the array gets in the function holds at most 100 elements: the rows of a
    query with `LIMIT n` or a `.slice(0, n)`, n <= 100 (a literal or a numeric constant)."""
    data = stmt.file.data
    node = stmt.file.root.descendant_for_byte_range(item.sub.ts_start, item.sub.ts_end)
    scope = node
    while scope is not None and scope.type not in _FUNCTIONS:
        scope = scope.parent
    if scope is None:
        return False
    values: list[Node] = []
    for assign in walk_type(scope, "variable_declarator", "assignment_expression"):
        target = assign.child_by_field_name("name") or assign.child_by_field_name("left")
        value = assign.child_by_field_name("value") or assign.child_by_field_name("right")
        if target is not None and value is not None and node_text(data, target) == item.array:
            values.append(value)
    if not values:
        return False
    for value in values:
        if value.type == "array" and value.named_child_count <= MAX_PARAMS:
            continue  # `tags = []`: a literal list
        match = _BOUND().search(node_text(data, value))
        if match is None:
            return False
        literal = match.group(1) or match.group(3)
        name = match.group(2) or match.group(4)
        limit = int(literal) if literal else _number_constant(data, stmt.file.root, name or "")
        if limit is None or limit > MAX_PARAMS:
            return False
    return True


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class ParamsState:
    """What the fix needs: the statement, and for a generated list, the list."""

    statement: SqlStatement
    generated: GeneratedList | None = None


def _where(stmt: SqlStatement) -> dict[str, list[str | int]]:
    """Where the statement is (built for a finding only)."""
    return {"statement": [str(stmt.file.path), stmt.offsets[0]]}


def check(model: ProjectModel) -> Iterator[Finding]:
    for stmt in model.statements:
        if stmt.tagged or stmt.loose:
            continue
        lists = generated_lists(stmt)
        for item in lists:
            if bounded_array(stmt, item):
                continue
            yield RULE.finding(
                "generated-list",
                f"One `?` per element of `{item.array}`: the statement throws once it has more "
                f"than {MAX_PARAMS} elements. Bind the array once: "
                "`IN (SELECT value FROM json_each(?))` with `JSON.stringify(…)`.",
                Span(stmt.file.path, item.sub.ts_start, item.sub.ts_end),
                data={**_where(stmt), "kind": "generated", "array": item.array},
                state=ParamsState(stmt, item),
            )
        if lists or stmt.call.type != "call_expression":
            continue
        params = params_read(stmt)  # read only
        if params is None:
            continue
        count = max(params.count, 0 if stmt.has_spread_binding else len(binding_args(stmt)))
        if count > MAX_PARAMS:
            yield RULE.finding(
                "too-many",
                f"{count} bound parameters: a Durable Object SQL statement takes at most "
                f"{MAX_PARAMS}. Write the rows in batches.",
                stmt.span(),
                data={**_where(stmt), "kind": "count", "count": count},
                state=ParamsState(stmt),
            )


RULE = Rule(
    id="sql-too-many-params",
    title="More than 100 bound parameters in one statement",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "generated-list": "one `?` per element of an array: throws beyond 100 elements",
        "too-many": "a statement with more than 100 bound parameters",
    },
)


def _bound_elsewhere(model: ProjectModel, stmt: SqlStatement) -> bool:
    """A generated list (a `${…}` of one `?` per element) is bounded by a `.slice(0, n)` or a
    `LIMIT n` whose n may be a constant's name, looked up in the whole file
    (`_number_constant`): a constant declared in another member, edited, changes the answer
    while the statement stays the same. Such statements are checked on every run in the
    language server (reuse.UNSETTLED_REST)."""
    return bool(generated_lists(stmt))


UNSETTLED_REST[RULE.id] = _bound_elsewhere
