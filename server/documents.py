"""Open documents and position conversion: UTF-8 byte offsets <-> LSP positions.

The analyzers speak byte offsets; the client speaks (line, character) in the negotiated
encoding (utf-8, utf-16 or utf-32). Conversion goes through a per-buffer line index (binary
search for the line, then work on that one line only), never an O(file) call per position.
No pygls import here, so it is cheap to unit-test.

Lines are the protocol's: only `\n`, `\r\n` and `\r` end one (LineIndex). U+2028, U+2029,
U+0085, VT, FF and U+001C-U+001E are ordinary characters; pygls's own document model splits with
`str.splitlines`, which breaks at all of them, so the server keeps its own copy of each open
document (`apply_change`) and never reads pygls's. A lone surrogate the client sends (JSON
`"\ud800"`) is kept as the 3 bytes `surrogatepass` gives it: one UTF-16 unit, one code point, as
the client counts it; a change may split a surrogate pair (UTF-16 positions), as in the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers.source import (  # ShiftedLines: the index after an edit
    LineIndex,
    ShiftedLines,
    language_for,
)
from durable_harden.analyzers.wrangler import is_config_name

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _start(lines: LineIndex, row: int) -> int:
    return lines.start_of(row) if isinstance(lines, ShiftedLines) else lines.line_starts[row]


def _count(lines: LineIndex) -> int:
    return lines.count() if isinstance(lines, ShiftedLines) else len(lines.line_starts)


def _line_span(lines: LineIndex, row: int) -> tuple[int, int]:
    """Byte start and end of a line, without its line break."""
    start = _start(lines, row)
    end = _start(lines, row + 1) if row + 1 < _count(lines) else len(lines.data)
    data = lines.data
    if end > start and data[end - 1 : end] == b"\n":
        end -= 1
    if end > start and data[end - 1 : end] == b"\r":
        end -= 1
    return start, end


def _decode(text: bytes) -> str:
    """UTF-8 with lone surrogates kept (what a client's text becomes); other invalid bytes
    (a file read from disk) as U+FFFD."""
    try:
        return text.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return text.decode("utf-8", errors="replace")


def column_units(text: bytes, encoding: str) -> int:
    """The length of `text` (part of one line) in the encoding's code units."""
    if encoding == UTF8 or text.isascii():
        return len(text)
    decoded = _decode(text)
    if encoding == UTF32:
        return len(decoded)
    return len(decoded.encode("utf-16-le")) // 2


def to_position(lines: LineIndex, offset: int, encoding: str) -> tuple[int, int]:
    """Byte offset -> (line, character) in `encoding`."""
    offset = max(0, min(offset, len(lines.data)))
    row = lines.row_of(offset)
    start, end = _line_span(lines, row)
    # an offset inside the line break (between \r and \n: tree-sitter's comment ends there) is
    # the end of the line: the protocol has no position inside a break
    return row, column_units(lines.data[start : min(offset, end)], encoding)


def to_offset(lines: LineIndex, line: int, character: int, encoding: str) -> int:
    """(line, character) in `encoding` -> byte offset, clamped to the line (as LSP asks)."""
    if line < 0:
        return 0
    if line >= _count(lines):
        return len(lines.data)
    start, end = _line_span(lines, line)
    text = lines.data[start:end]
    if encoding == UTF8 or text.isascii():
        return start + max(0, min(character, len(text)))
    units = 0
    pos = 0
    for char in _decode(text):
        if units >= character:
            break
        units += 1 if encoding == UTF32 or ord(char) < 0x10000 else 2
        pos += len(char.encode("utf-8", errors="surrogatepass"))
    return start + min(pos, len(text))


_BREAK = re.compile(r"\r\n|\r|\n")
_CODECS = {UTF8: ("utf-8", 1), UTF16: ("utf-16-le", 2), UTF32: ("utf-32-le", 4)}


def _line_span_text(text: str, line: int) -> tuple[int, int] | None:
    """Code-point start and end (without its break) of a protocol line; None past the end."""
    if line < 0:
        return 0, 0
    start = 0
    number = 0
    for match in _BREAK.finditer(text):
        if number == line:
            return start, match.start()
        start = match.end()
        number += 1
    return (start, len(text)) if number == line else None


def _unit_offset(text: str, line: int, character: int, codec: str, width: int) -> int:
    """(line, character) -> offset in code units of the whole text, clamped as LSP asks: a
    character past the line's end means the end of the line, a line past the last the end."""
    span = _line_span_text(text, line)
    if span is None:
        return len(text.encode(codec, errors="surrogatepass")) // width
    start, end = span
    before = len(text[:start].encode(codec, errors="surrogatepass")) // width
    length = len(text[start:end].encode(codec, errors="surrogatepass")) // width
    return before + max(0, min(character, length))


def apply_change(
    text: str,
    start: tuple[int, int] | None,
    end: tuple[int, int] | None,
    new_text: str,
    encoding: str,
) -> str:
    """One `didChange` content change applied with the protocol's line semantics (a range of
    None: the whole document). Out-of-range positions are clamped; a reversed range is read
    as its two ends in order."""
    if start is None or end is None:
        return new_text
    codec, width = _CODECS.get(encoding, _CODECS[UTF16])
    units = text.encode(codec, errors="surrogatepass")
    a = _unit_offset(text, start[0], start[1], codec, width) * width
    b = _unit_offset(text, end[0], end[1], codec, width) * width
    a, b = min(a, b), max(a, b)
    if width == 1:  # a UTF-8 position inside a character: the character's start
        while 0 < a < len(units) and units[a] & 0xC0 == 0x80:
            a -= 1
        while 0 < b < len(units) and units[b] & 0xC0 == 0x80:
            b -= 1
    joined = units[:a] + new_text.encode(codec, errors="surrogatepass") + units[b:]
    return joined.decode(codec, errors="surrogatepass")


def apply_change_bytes(
    data: bytes,
    lines: LineIndex,
    start: tuple[int, int],
    end: tuple[int, int],
    new_text: str,
    encoding: str,
) -> tuple[bytes, LineIndex] | None:
    """`apply_change` on the document's UTF-8 bytes (and its line index, edited), when both
    ends lie on ASCII lines (or past the last line) and the new text is plain UTF-8: then a
    position's characters are its bytes in every encoding, and the result is the same. A
    keystroke in a 200 KB document then costs the two lines, not a decoding, two re-encodings
    and a scan of every line break before the edit (~2 ms). None otherwise."""
    try:
        inserted = new_text.encode("utf-8")  # a lone surrogate: apply_change's business
    except UnicodeEncodeError:
        return None
    offsets = []
    count = _count(lines)
    for line, character in (start, end):
        if line < 0:
            offsets.append(0)
            continue
        if line >= count:
            offsets.append(len(data))
            continue
        begin, stop = _line_span(lines, line)
        if not data[begin:stop].isascii():
            return None
        offsets.append(begin + max(0, min(character, stop - begin)))
    a, b = min(offsets), max(offsets)
    joined = data[:a] + inserted + data[b:]
    return joined, ShiftedLines.after_edit(lines, joined, a, b, a + len(inserted))


def encode_text(text: str) -> bytes:
    """A document's text as the analyzers' UTF-8 bytes (lone surrogates kept, 3 bytes each)."""
    return text.encode("utf-8", errors="surrogatepass")


def line_indent(lines: LineIndex, row: int) -> str:
    start, end = _line_span(lines, row)
    text = lines.data[start:end]
    stripped = text.lstrip(b" \t")
    return text[: len(text) - len(stripped)].decode("utf-8", errors="replace")


def kind_of(path: Path) -> str:
    """ "source" (TS/JS), "config" (wrangler), "settings" (our settings file) or "other"."""
    if is_config_name(path.name):
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

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="surrogatepass")

    def update(self, version: int | None, data: bytes, lines: LineIndex | None = None) -> None:
        self.version = version
        self.data = data
        self._lines = lines if lines is not None and lines.data is data else None
