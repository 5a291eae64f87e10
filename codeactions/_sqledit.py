"""Editing SQL that lives inside TypeScript string and template literals, keeping its layout.

A statement is added to the same literal as an existing one (the same `exec()` call runs both;
several statements in one `exec()` are allowed as long as only the last takes `?` parameters).
"""

from __future__ import annotations

import itertools
import re

from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.codeactions.fix import Edit


def siblings(model: ProjectModel, stmt: SqlStatement) -> list[SqlStatement]:
    """The statements of the same literal, in order."""
    same = [
        s
        for s in model.statements
        if s.file is stmt.file and s.literal.start_byte == stmt.literal.start_byte
    ]
    return sorted(same, key=lambda s: s.index_in_call)


def _statement_gap(model: ProjectModel, stmt: SqlStatement) -> str | None:
    """The whitespace the literal puts between two statements (after the `;`), if it has two."""
    data = stmt.file.data
    group = siblings(model, stmt)
    for first, second in itertools.pairwise(group):
        end = first.span().end
        start = second.span().start
        between = data[end:start].decode("utf-8", errors="replace")
        if between.startswith(";"):
            return between[1:]
    return None


def append_after(model: ProjectModel, anchor: SqlStatement, sql: str) -> Edit | None:
    """An edit adding `sql` as a new statement right after `anchor`, in the same literal, with
    the literal's own indentation, blank-line style and `;` habit. None when the literal cannot
    take it (a plain string spread over escaped lines, a statement we cannot locate)."""
    data = anchor.file.data
    literal = anchor.literal
    template = literal.type == "template_string"
    end = anchor.span().end  # just after the last non-space character of the statement
    rest = data[end : literal.end_byte - 1]
    stripped = rest.lstrip(b" \t\r\n")
    has_semicolon = stripped.startswith(b";")
    if has_semicolon:
        end = end + (len(rest) - len(stripped)) + 1
    start = anchor.span().start
    line_begin = data.rfind(b"\n", literal.start_byte, start) + 1
    own_line = line_begin > literal.start_byte and not data[line_begin:start].strip()
    if template and own_line:
        indent = data[line_begin:start].decode("utf-8", errors="replace")
        gap = _statement_gap(model, anchor)
        separator = gap if gap is not None and "\n" in gap else "\n"
        # keep the blank-line habit but use the anchor's indentation
        newlines = separator.count("\n") if separator.strip() == "" else 1
        joiner = "\n" * max(1, newlines) + indent
    else:
        if not template and b"\\\n" in data[literal.start_byte : literal.end_byte]:
            return None
        joiner = " "
    if has_semicolon:
        text = f"{joiner}{sql};"
    else:
        text = f";{joiner}{sql}"
    return Edit(anchor.file.path, end, end, text)


def is_idempotent_ddl(stmt: SqlStatement) -> bool:
    """`CREATE … IF NOT EXISTS`: the statement runs on every start of the object."""
    return bool(
        re.match(r"\s*CREATE\s+(?:\w+\s+)*?(?:TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\b", stmt.text, re.I)
    )
