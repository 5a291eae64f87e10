"""A file's own style: its indentation step, its string quote, its line ending.

Fixes write code with two-space indents, double quotes and `\\n`; what they insert follows the
file's style instead. One detector for the three, so the TypeScript edits, the config edits,
the generated tests and the line-ending conversion of `codeactions.fixes_for` never disagree
about one file.
"""

from __future__ import annotations

import re
from functools import lru_cache

from durable_harden.analyzers.records import frozen

_TAB_LINE = re.compile(rb"^\t", re.M)
_SPACE_LEAD = re.compile(rb"^( +)\S", re.M)
# plain "..." literals without quotes inside; comments and templates stay as written
_DOUBLE_QUOTED = re.compile(r'"([^"\'\\\n`]*)"')


@frozen
class Style:
    """The file's own indentation, quote and line ending, for inserted code."""

    indent: str = "  "  # one indentation step: a tab, or the smallest run of leading spaces
    quote: str = '"'  # the quote the file uses most for strings
    newline: str = "\n"  # "\r\n" when most of the file's lines end so

    @classmethod
    def of(cls, data: bytes | None) -> Style:
        if not data:
            return cls()
        return _detect(data)

    @property
    def crlf(self) -> bool:
        return self.newline == "\r\n"

    def apply(self, code: str) -> str:
        """Code written with double quotes and two-space indents, in this style (line endings
        are left to `codeactions.fixes_for` and the writers)."""
        if self.indent != "  ":
            code = re.sub(
                r"^((?:  )+)",
                lambda m: self.indent * (len(m.group(1)) // 2),
                code,
                flags=re.M,
            )
        if self.quote == "'":
            code = _DOUBLE_QUOTED.sub(r"'\1'", code)
        return code

    def lines(self, text: str) -> str:
        """`text` (written with `\\n`) with this file's line ending."""
        if not self.crlf:
            return text
        return text.replace("\r\n", "\n").replace("\n", "\r\n")


def uses_crlf(data: bytes | None) -> bool:
    """`Style.of(data).crlf` without the indentation and quote scans (asked for every fix's
    edits: a report builds hundreds)."""
    if not data:
        return False
    lf = data.count(b"\n")
    return lf > 0 and data.count(b"\r\n") * 2 >= lf


@lru_cache(maxsize=256)
def _detect(data: bytes) -> Style:
    if _TAB_LINE.search(data):
        indent = "\t"
    else:
        sizes = [len(m.group(1)) for m in _SPACE_LEAD.finditer(data)]
        indent = " " * (min(sizes) if sizes else 2)
    quote = "'" if data.count(b"'") > data.count(b'"') else '"'
    newline = "\r\n" if uses_crlf(data) else "\n"
    return Style(indent, quote, newline)
