"""Source files: bytes, the tree-sitter tree, and a line index for position conversion."""

from __future__ import annotations

import bisect
import functools
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree

from durable_harden.analyzers.tsutil import register_tree

# Files larger than this are not parsed: a generated bundle is not DO source code.
MAX_SOURCE_BYTES = 8 * 1024 * 1024

TS_SUFFIXES = {".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx"}
JS_SUFFIXES = {".js": "typescript", ".mjs": "typescript", ".cjs": "typescript", ".jsx": "tsx"}
SOURCE_SUFFIXES = {**TS_SUFFIXES, **JS_SUFFIXES}


@cache
def language(name: str) -> Language:
    if name == "tsx":
        return Language(tree_sitter_typescript.language_tsx())
    return Language(tree_sitter_typescript.language_typescript())


def language_for(path: Path | str) -> str | None:
    """The grammar for a path, or None when it is not a source file we read.

    Plain JavaScript is read with the TypeScript grammar, a superset for the code we care about.
    """
    name = str(path)
    if name.endswith(".d.ts"):
        return None
    # pathlib's `suffix` of the last part, on the string (a Path per file discovered was a
    # good share of the walk's time)
    base = name[name.rfind(os.sep) + 1 :]
    if os.altsep:
        base = base[base.rfind(os.altsep) + 1 :]
    dot = base.rfind(".")
    return SOURCE_SUFFIXES.get(base[dot:]) if 0 < dot < len(base) - 1 else None


_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def line_starts_within(data: bytes, start: int, end: int) -> list[int]:
    """The starts of the lines that begin after a `\n` in data[start:end] (an edit's new text:
    the line indexes after an edit keep the others, shifted)."""
    inside: list[int] = []
    find = data.find
    pos = find(b"\n", start, end)
    while pos != -1:
        inside.append(pos + 1)
        pos = find(b"\n", pos + 1, end)
    return inside


class LineIndex:
    """Byte offset <-> (row, column) for one buffer, built once: O(log lines) per lookup."""

    # Lines are the Language Server Protocol's (and editors'): `\n`, `\r\n` and a lone `\r`
    # each end one; nothing else does (U+2028, FF, ... are ordinary characters).

    def __init__(self, data: bytes) -> None:
        starts = [0]
        if b"\r" in data:
            starts.extend(m.end() for m in _LINE_BREAK.finditer(data))
            self.lone_cr = len(starts) - 1 != data.count(b"\n")
        else:
            find = data.find
            pos = find(b"\n")
            while pos != -1:
                starts.append(pos + 1)
                pos = find(b"\n", pos + 1)
            self.lone_cr = False
        self.data = data
        self.line_starts = starts

    @classmethod
    def edited(
        cls, old: LineIndex, data: bytes, start: int, old_end: int, new_end: int
    ) -> LineIndex:
        """The index of `data`, which is `old`'s buffer with start..old_end replaced by
        start..new_end: the line starts before the edit kept, those after it shifted (a re-parse
        on every keystroke need not scan the whole buffer again), as pieces of `old`'s
        (`ShiftedLines`: the list is built when something reads it). A buffer with a `\r` is
        indexed afresh."""
        return ShiftedLines.after_edit(old, data, start, old_end, new_end)

    def row_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    def point(self, offset: int) -> tuple[int, int]:
        """tree-sitter's point: (row, UTF-8 byte column), both 0-based, rows counted by `\n`
        only (tree-sitter's rule, which differs from the lines above where a lone `\r` is)."""
        if self.lone_cr:
            row = self.data.count(b"\n", 0, offset)
            return row, offset - (self.data.rfind(b"\n", 0, offset) + 1)
        row = self.row_of(offset)
        return row, offset - self.line_starts[row]

    def line_bytes(self, row: int) -> bytes:
        start = self.line_starts[row]
        end = self.line_starts[row + 1] if row + 1 < len(self.line_starts) else len(self.data)
        return self.data[start:end].rstrip(b"\r\n")

    def offset(self, row: int, byte_column: int) -> int:
        return self.line_starts[min(row, len(self.line_starts) - 1)] + byte_column

    def char_column(self, offset: int) -> int:
        """0-based column in Unicode code points (what humans and Ruff's JSON call a column)."""
        row = self.row_of(offset)
        start = self.line_starts[row]
        return len(self.data[start:offset].decode("utf-8", errors="replace"))

    def utf16_column(self, offset: int) -> int:
        row = self.row_of(offset)
        start = self.line_starts[row]
        return (
            len(self.data[start:offset].decode("utf-8", errors="replace").encode("utf-16-le")) // 2
        )


class ShiftedLines(LineIndex):
    """A line index after edits (`LineIndex.edited`: the language server's documents, a
    re-parsed file), kept as pieces of earlier indexes' line starts with a shift each, not as
    one list: a keystroke in a 5,000-line document shifted ~2,500 starts into a new list
    (~0.07-0.1 ms, on every keystroke). `row_of`, `point` and `start_of` answer from the pieces
    (bisects at C speed); `line_starts` is built when something reads it (then kept), and an
    index of too many pieces is flattened. Buffers with a `\r` are indexed afresh."""

    MAX_PIECES = 16

    # pieces: (source list, lo, hi, shift): the starts source[lo:hi] plus shift, in order;
    # firsts: each piece's first start; counts: the starts before each piece
    pieces: list[tuple[list[int], int, int, int]]
    firsts: list[int]
    counts: list[int]

    @classmethod
    def after_edit(
        cls, old: LineIndex, data: bytes, start: int, old_end: int, new_end: int
    ) -> LineIndex:
        """The index of `data`: `old`'s buffer with start..old_end replaced by start..new_end."""
        if b"\r" in data[start:new_end] or old.lone_cr or _has_cr(old):
            return LineIndex(data)  # a `\r` in the buffer: indexed afresh
        inside = line_starts_within(data, start, new_end)
        pieces = _pieces_of(old)
        keep = _count_upto(old, start)
        after = _count_upto(old, old_end)
        shift = new_end - old_end
        kept: list[tuple[list[int], int, int, int]] = []
        moved: list[tuple[list[int], int, int, int]] = []
        at = 0
        for source, lo, hi, delta in pieces:
            size = hi - lo
            if at < keep:
                kept.append((source, lo, min(hi, lo + keep - at), delta))
            if at + size > after:
                first = lo + max(0, after - at)
                moved.append((source, first, hi, delta + shift))
            at += size
        new = [*kept, *([(inside, 0, len(inside), 0)] if inside else []), *moved]
        index = cls.__new__(cls)
        index.data = data
        index.lone_cr = False
        index.__dict__["has_cr"] = False
        if len(new) > cls.MAX_PIECES:
            index.__dict__["line_starts"] = _flatten(new)
            new = [(index.__dict__["line_starts"], 0, len(index.__dict__["line_starts"]), 0)]
        index._set(new)
        return index

    def _set(self, pieces: list[tuple[list[int], int, int, int]]) -> None:
        self.pieces = pieces
        self.firsts = [source[lo] + delta for source, lo, _, delta in pieces]
        counts = [0]
        for _, lo, hi, _ in pieces:
            counts.append(counts[-1] + hi - lo)
        self.counts = counts

    @functools.cached_property
    def line_starts(self) -> list[int]:  # type: ignore[override]
        return _flatten(self.pieces)

    def row_of(self, offset: int) -> int:
        starts = self.__dict__.get("line_starts")
        if starts is not None:
            return bisect.bisect_right(starts, offset) - 1
        at = bisect.bisect_right(self.firsts, offset) - 1
        if at < 0:
            return -1
        source, lo, hi, delta = self.pieces[at]
        return self.counts[at] + bisect.bisect_right(source, offset - delta, lo, hi) - 1 - lo

    def start_of(self, row: int) -> int:
        """`line_starts[row]` without building the list."""
        starts = self.__dict__.get("line_starts")
        if starts is not None:
            return starts[row]
        if row < 0:
            row += self.counts[-1]
        if not 0 <= row < self.counts[-1]:
            raise IndexError(row)
        at = bisect.bisect_right(self.counts, row) - 1
        source, lo, _, delta = self.pieces[at]
        return source[lo + row - self.counts[at]] + delta

    def count(self) -> int:
        """`len(line_starts)`."""
        return self.counts[-1]

    def point(self, offset: int) -> tuple[int, int]:
        row = self.row_of(offset)
        return row, offset - self.start_of(row)


def _has_cr(lines: LineIndex) -> bool:
    known = lines.__dict__.get("has_cr")
    if known is None:
        known = lines.__dict__["has_cr"] = b"\r" in lines.data
    return bool(known)


def _pieces_of(lines: LineIndex) -> list[tuple[list[int], int, int, int]]:
    if isinstance(lines, ShiftedLines):
        return lines.pieces
    return [(lines.line_starts, 0, len(lines.line_starts), 0)]


def _count_upto(lines: LineIndex, offset: int) -> int:
    """How many line starts are at or before `offset` (bisect_right of the starts)."""
    if isinstance(lines, ShiftedLines):
        return lines.row_of(offset) + 1
    return bisect.bisect_right(lines.line_starts, offset)


def _flatten(pieces: list[tuple[list[int], int, int, int]]) -> list[int]:
    starts: list[int] = []
    for source, lo, hi, delta in pieces:
        part = source[lo:hi]
        starts += map(delta.__add__, part) if delta else part
    return starts


class SourceError(Exception):
    """A file that cannot be analysed, with a message fit for the user."""


@dataclass(eq=False)
class SourceFile:
    path: Path
    data: bytes
    lang: str
    tree: Tree
    error_ranges: list[tuple[int, int]] = field(default_factory=list)
    _lines: LineIndex | None = None
    # Per-file facts computed once per parse (exports, constants, top-level functions …):
    # the file's bytes never change under a SourceFile, a new parse makes a new one.
    memo: dict[str, Any] = field(default_factory=dict)
    _root: Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One root Node object per file: `Tree.root_node` makes a new one on every call, and
        # tree-sitter keeps the children it listed on the Node object asked, so the readers of
        # the top-level statements (imports, exports, constants, the rules) share one listing
        # instead of each listing them again (docs/performance.md, "Issue 14: the cold model")
        root = self._root = self.tree.root_node
        # the node-by-type index of this tree lives as long as this SourceFile
        self.memo.setdefault("type_index", register_tree(root, self.path, self.tree.language))

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.data)
        return self._lines

    @property
    def root(self) -> Node:
        return self._root

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")

    def lacks(self, *words: bytes) -> bool:
        """True when none of `words` occurs in the file's bytes and its tree has no syntax
        error: then no node spells one of them, as a token (a keyword, an identifier, a
        property) or inside a token's text, and an extractor looking for one can skip the
        file without walking (or indexing) its tree. A tree with an error may join or invent
        tokens (a MISSING keyword, `FO O` read as one expression): never skipped."""
        seen: dict[bytes, bool] | None = self.memo.get("words")
        if seen is None:
            seen = self.memo["words"] = {}
        for word in words:
            present = seen.get(word)
            if present is None:
                present = seen[word] = word in self.data
            if present:
                return False
        return not self._root.has_error

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", errors="replace")

    def in_error(self, start: int, end: int | None = None) -> bool:
        """True when the span overlaps a syntax error: findings there would be guesses."""
        end = start if end is None else end
        for err_start, err_end in self.error_ranges:
            if err_start <= start < err_end or (start <= err_start < max(end, start + 1)):
                return True
        return False


def _error_ranges(root: Node) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    if not root.has_error:
        return ranges
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            ranges.append((node.start_byte, max(node.end_byte, node.start_byte + 1)))
            continue
        if node.has_error:
            stack.extend(node.children)
    ranges.sort()
    return ranges


def parse_source(
    path: Path, data: bytes, lang: str | None = None, old_tree: Tree | None = None
) -> SourceFile:
    """Parse bytes into a SourceFile. Raises SourceError for input we refuse to read."""
    lang = lang or language_for(path) or "typescript"
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(
            f"file is {len(data) / 1e6:.1f} MB, over the {MAX_SOURCE_BYTES // 2**20} MiB limit; "
            "skipped (generated or bundled code?)"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); skipped"
        ) from None
    parser = Parser(language(lang))
    tree = parser.parse(data, old_tree) if old_tree is not None else parser.parse(data)
    return SourceFile(
        path=path, data=data, lang=lang, tree=tree, error_ranges=_error_ranges(tree.root_node)
    )


def read_source(path: Path) -> SourceFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return parse_source(path, data)


def changed_region(old: bytes, new: bytes) -> tuple[int, int, int]:
    """(start, old_end, new_end): the smallest byte range that differs between two buffers.

    Found with slice comparisons (memcmp): chunk by chunk from each end up to the first chunk
    that differs, then a binary search inside it, so a one-character edit of a megabyte file
    costs microseconds (about two copies of the bytes up to the edit), not a Python loop over
    the bytes.
    """
    limit = min(len(old), len(new))
    prefix = _common_length(old, new, limit, 0, 0)
    suffix = _common_length(old, new, limit - prefix, len(old), len(new))
    return prefix, len(old) - suffix, len(new) - suffix


_CHUNK = 16384


def _common_length(old: bytes, new: bytes, limit: int, old_end: int, new_end: int) -> int:
    """How many bytes (at most `limit`) the buffers have in common at their start (`old_end`
    and `new_end` 0) or before `old_end`/`new_end` (their ends)."""

    def part(begin: int, end: int) -> bool:  # the bytes begin..end from the start (or end)
        if not old_end:
            return old[begin:end] == new[begin:end]
        return old[old_end - end : old_end - begin] == new[new_end - end : new_end - begin]

    done = 0
    while done < limit:
        step = min(done + _CHUNK, limit)
        if not part(done, step):
            break
        done = step
    else:
        return limit
    lo, hi = done, step - 1  # the common length lies in [lo, hi]; done..lo is common
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if part(lo, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def reparse(old: SourceFile, new_data: bytes, lines: LineIndex | None = None) -> SourceFile:
    """Parse `new_data` reusing `old`'s tree: tree-sitter's incremental parse.

    The edit is computed from the common prefix and suffix of the two buffers. `old` keeps its
    own tree untouched (the edit is applied to a copy), so models built from it stay valid.
    Raises SourceError like parse_source.
    """
    if new_data == old.data:
        return old
    start, old_end, new_end = changed_region(old.data, new_data)
    # `lines`: the caller's index of the same bytes (the language server's document's); it
    # also gives the edit's new end as a point (no count of the line breaks before it)
    new_lines = (
        lines
        if lines is not None and lines.data == new_data
        else LineIndex.edited(old.lines, new_data, start, old_end, new_end)
    )
    tree = old.tree.copy()
    tree.edit(
        start_byte=start,
        old_end_byte=old_end,
        new_end_byte=new_end,
        start_point=old.lines.point(start),
        old_end_point=old.lines.point(old_end),
        new_end_point=new_lines.point(new_end),
    )
    new = parse_source(old.path, new_data, old.lang, old_tree=tree)
    new._lines = new_lines
    # what the model needs to re-extract only the edited member (analyzers.splice): the
    # previous version, the edit, and where tree-sitter says the syntax changed. Only one
    # version back is kept (the previous file forgets its own), so versions do not chain.
    old.memo.pop("previous", None)
    old.memo.pop("splice", None)
    changed = tuple((r.start_byte, r.end_byte) for r in tree.changed_ranges(new.tree))
    new.memo["previous"] = Previous(old, start, old_end, new_end, changed)
    return new


@dataclass(frozen=True, eq=False)
class Previous:
    """The version a SourceFile was re-parsed from, and the edit between them (byte offsets:
    `start`..`old_end` of the old bytes became `start`..`new_end` of the new ones)."""

    file: SourceFile
    start: int
    old_end: int
    new_end: int
    changed: tuple[tuple[int, int], ...]  # the new tree's ranges whose syntax changed
