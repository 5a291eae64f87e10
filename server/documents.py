"""Open documents and position conversion: UTF-8 byte offsets <-> LSP positions.

The analyzers speak byte offsets; the client speaks (line, character) in the negotiated
encoding (utf-8, utf-16 or utf-32). Conversion goes through a per-buffer line index (binary
search for the line, then work on that one line only), never an O(file) call per position.
No pygls import here, so it is cheap to unit-test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers.source import LineIndex, language_for
from durable_harden.analyzers.wrangler import CONFIG_NAMES

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _line_span(lines: LineIndex, row: int) -> tuple[int, int]:
    """Byte start and end of a line, without its line break."""
    start = lines.line_starts[row]
    end = lines.line_starts[row + 1] if row + 1 < len(lines.line_starts) else len(lines.data)
    data = lines.data
    if end > start and data[end - 1 : end] == b"\n":
        end -= 1
    if end > start and data[end - 1 : end] == b"\r":
        end -= 1
    return start, end


def column_units(text: bytes, encoding: str) -> int:
    """The length of `text` (part of one line) in the encoding's code units."""
    if encoding == UTF8 or text.isascii():
        return len(text)
    decoded = text.decode("utf-8", errors="replace")
    if encoding == UTF32:
        return len(decoded)
    return len(decoded.encode("utf-16-le")) // 2


def to_position(lines: LineIndex, offset: int, encoding: str) -> tuple[int, int]:
    """Byte offset -> (line, character) in `encoding`."""
    offset = max(0, min(offset, len(lines.data)))
    row = lines.row_of(offset)
    start = lines.line_starts[row]
    return row, column_units(lines.data[start:offset], encoding)


def to_offset(lines: LineIndex, line: int, character: int, encoding: str) -> int:
    """(line, character) in `encoding` -> byte offset, clamped to the line (as LSP asks)."""
    if line < 0:
        return 0
    if line >= len(lines.line_starts):
        return len(lines.data)
    start, end = _line_span(lines, line)
    text = lines.data[start:end]
    if encoding == UTF8 or text.isascii():
        return start + max(0, min(character, len(text)))
    units = 0
    pos = 0
    for char in text.decode("utf-8", errors="replace"):
        if units >= character:
            break
        units += 1 if encoding == UTF32 or ord(char) < 0x10000 else 2
        pos += len(char.encode("utf-8"))
    return start + min(pos, len(text))


def line_indent(lines: LineIndex, row: int) -> str:
    start, end = _line_span(lines, row)
    text = lines.data[start:end]
    stripped = text.lstrip(b" \t")
    return text[: len(text) - len(stripped)].decode("utf-8", errors="replace")


def kind_of(path: Path) -> str:
    """ "source" (TS/JS), "config" (wrangler), "settings" (our settings file) or "other"."""
    if path.name in CONFIG_NAMES:
        return "config"
    if path.name in ("durable-harden.jsonc", "package.json"):
        return "settings"
    if language_for(path) is not None:
        return "source"
    return "other"


@dataclass(eq=False)
class Document:
    """What the server knows of one open document (the text itself lives in pygls's workspace
    too; we keep the UTF-8 bytes of every version we analyse)."""

    uri: str
    path: Path
    version: int | None
    data: bytes
    kind: str
    _lines: LineIndex | None = field(default=None, repr=False)

    @property
    def lines(self) -> LineIndex:
        if self._lines is None or self._lines.data is not self.data:
            self._lines = LineIndex(self.data)
        return self._lines

    def update(self, version: int | None, data: bytes) -> None:
        self.version = version
        self.data = data
        self._lines = None
