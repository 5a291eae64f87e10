"""Helpers for the rules about how SQL reaches `sql.exec()`: statements grouped per call, the
parameters each statement really has (tokens, not characters), and the arguments bound to them.

workerd binds the arguments after the SQL string to the parameters of the *last* statement of a
multi-statement string only (src/workerd/api/sql.c++); every statement before it must be
parameter-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.reuse import ContentMemo
from durable_harden.analyzers.sql import (  # sqlglot itself on first use
    SqlStatement,
    Substitution,
    Token,
    TokenType,
    sql_tokens,
    string_constants,
)
from durable_harden.analyzers.tsutil import call_args, literal_chars


def tokens(text: str) -> list[Token] | None:
    """The SQLite tokens of a text (tokenized once per text: analyzers.sql.sql_tokens). The
    list is the caller's; the Token objects are shared, never change them."""
    found = sql_tokens(text)
    return list(found) if found is not None else None


@dataclass
class Params:
    """The parameters written in one statement (template substitutions excluded)."""

    positional: list[int]  # char offsets of bare `?`
    numbered: list[int]  # the numbers of `?NNN`
    named: list[str]  # `:name`, `@name`, `$name`
    substitutions: list[int]  # char offsets of `${…}` (shown as `?` in the text)

    @property
    def countable(self) -> bool:
        """Only bare `?` (or only `?NNN`): the argument count is known."""
        return not self.named and not (self.positional and self.numbered)

    @property
    def count(self) -> int:
        if self.numbered:
            return max(self.numbered)
        return len(self.positional)

    @property
    def any(self) -> bool:
        return bool(self.positional or self.numbered or self.named)


_PARAMS = ContentMemo()


def params_read(stmt: SqlStatement) -> Params | None:
    """params_of without the copy: the memo's own Params, for a caller that only reads it
    (sql-bindings-mismatch and sql-too-many-params ask for every exec() statement)."""
    spliced = _spliced_texts(stmt)
    key = (stmt.text, tuple(s.sql_offset for s in stmt.substitutions), spliced)
    found: Params | None = _PARAMS.get(
        key, lambda: _params_of(stmt.text, stmt.substitutions, spliced)
    )
    return found


def params_of(stmt: SqlStatement) -> Params | None:
    """None when the text does not tokenize (we then judge nothing). A `${NAME}` substitution of
    a string constant of the file (`${SUBTREE_CTE} SELECT … WHERE inode = ?`) brings the
    parameters written in that constant, at the substitution's place. Memoised on the text, the
    substitutions' places and the spliced constants' texts (all it reads); a copy, the lists are
    the caller's."""
    found = params_read(stmt)
    if found is None:
        return None
    return Params(
        list(found.positional),
        list(found.numbered),
        list(found.named),
        list(found.substitutions),
    )


def _spliced_texts(stmt: SqlStatement) -> tuple[tuple[int, str], ...]:
    """(place in the SQL, text) of each substitution that is a string constant of the file."""
    if not stmt.substitutions:
        return ()
    constants = string_constants(stmt.file)
    found: list[tuple[int, str]] = []
    for sub in stmt.substitutions:
        literal = constants.get(sub.expression.strip().rsplit(".", 1)[-1])
        if literal is not None:
            found.append((sub.sql_offset, literal_chars(stmt.file.data, literal)[0]))
    return tuple(found)


def _params_of(
    text: str, substitutions: list[Substitution], spliced_texts: tuple[tuple[int, str], ...]
) -> Params | None:
    if tokens(text) is None:
        return None
    spliced: dict[int, Params] = {}
    for offset, constant in spliced_texts:
        inner = _params_of_text(constant, set())
        if inner is None:
            return None
        spliced[offset] = inner
    return _params_of_text(text, {s.sql_offset for s in substitutions}, spliced)


def _params_of_text(
    text: str, subs: set[int], spliced: dict[int, Params] | None = None
) -> Params | None:
    found = tokens(text)
    if found is None:
        return None
    params = Params([], [], [], [])
    for index, tok in enumerate(found):
        nxt = found[index + 1] if index + 1 < len(found) else None
        adjacent = nxt is not None and nxt.start == tok.end + 1
        if tok.token_type == TokenType.PLACEHOLDER:
            inner = spliced.get(tok.start) if spliced else None
            if inner is not None:
                # the constant's own parameters stand where it is spliced in
                params.positional.extend(tok.start for _ in inner.positional)
                params.numbered.extend(inner.numbered)
                params.named.extend(inner.named)
            elif tok.start in subs:
                params.substitutions.append(tok.start)
            elif adjacent and nxt is not None and nxt.token_type == TokenType.NUMBER:
                params.numbered.append(int(nxt.text))  # `?12` comes as `?` + `12`
            else:
                params.positional.append(tok.start)
        elif tok.token_type in {TokenType.PARAMETER, TokenType.COLON} and adjacent:
            params.named.append(text[tok.start : (nxt.end if nxt else tok.end) + 1])
        elif tok.token_type == TokenType.VAR and tok.text.startswith("$"):
            params.named.append(tok.text)
    return params


def exec_groups(model: ProjectModel) -> list[list[SqlStatement]]:
    """The statements of each `exec()` call (not tagged templates, not loose literals), in order:
    one group per SQL string (a wrapper call may hand several strings to exec(), one each)."""
    groups: dict[tuple[str, int, str, int], list[SqlStatement]] = {}
    for stmt in model.statements:
        if stmt.tagged or stmt.loose or stmt.call.type != "call_expression":
            continue
        key = (
            str(stmt.call_file.path),
            stmt.call.start_byte,
            str(stmt.file.path),
            stmt.literal.start_byte,
        )
        groups.setdefault(key, []).append(stmt)
    return [sorted(g, key=lambda s: s.index_in_call) for g in groups.values()]


def binding_args(stmt: SqlStatement) -> list[Node]:
    """The call's arguments bound to the statement's parameters; none when the SQL reached exec()
    inside an object or array (count unknown: has_spread_binding is set)."""
    if stmt.binding_start is None:
        return []
    return call_args(stmt.call)[stmt.binding_start :]


def literal_is_inline(stmt: SqlStatement) -> bool:
    """The SQL literal is the exec call's own first argument (not a shared constant), or the
    first argument of a wrapper that passes it and the further arguments to exec() as they are."""
    args = call_args(stmt.call)
    if not args or stmt.file is not stmt.call_file or stmt.binding_start != 1:
        return False
    first = args[0]
    while first.type == "parenthesized_expression" and first.named_children:
        first = first.named_children[0]
    return first.start_byte == stmt.literal.start_byte and first.end_byte == stmt.literal.end_byte
