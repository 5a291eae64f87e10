"""Real typing for the keystroke benchmarks (`--typing` of keystroke.py and keystroke_inprocess.py).

The random edits of those benchmarks (a letter appended to a random line, then deleted) land
inside a member and change one token, so the file keeps its shape. Typing code does not: a new
method passes through a field (`  he`), a signature (`  helper(): n`) and a body whose brackets
the editor closed ahead of the cursor; typing a column into the schema constant changes the SQL
of a statement run elsewhere. These scenarios type a text one character at a time at one place
of bench/keystroke.py's 5,000-line DO file, as an editor with auto-closing brackets and quotes
sends it (typing an opener inserts the pair, typing the closer that follows the cursor only
moves the cursor: no didChange).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PAIRS = {"(": ")", "{": "}", "[": "]", '"': '"', "`": "`"}
CLOSERS = frozenset(PAIRS.values())


@dataclass(frozen=True)
class Scenario:
    name: str
    where: Callable[[bytes], int]  # the byte offset typed at, in the file as generated
    typed: str


def _after(word: bytes, start_at_half: bool = True) -> Callable[[bytes], int]:
    def where(data: bytes) -> int:
        return data.index(word, len(data) // 2 if start_at_half else 0) + len(word)

    return where


def _blank_line_in_the_middle(data: bytes) -> int:
    return data.index(b"\n\n  ", len(data) // 2) + 1  # the end of the blank line between members


SCENARIOS = [
    Scenario(
        "new method",
        _blank_line_in_the_middle,
        '\n  countItems(): number {\n    return this.ctx.storage.sql.exec("SELECT count(*) AS n'
        ' FROM items").one().n as number;\n  }\n',
    ),
    Scenario(
        "typed params",
        _blank_line_in_the_middle,
        "\n  find(owner: string, store: DurableObjectStorage): Promise<unknown> {\n"
        "    return store.get(owner);\n  }\n",
    ),
    Scenario(
        "new statement",
        _after(b"Promise<number> {"),
        '\n    const other = await this.ctx.storage.get<string>("k:" + key);',
    ),
    Scenario("SQL in a call", _after(b"WHERE owner = ?"), " AND body = ?"),
    Scenario(
        "new field",
        _after(b"extends DurableObject {", False),
        "\n  private seen = new Map<string, number>();",
    ),
    Scenario("new import", lambda data: data.index(b"\n"), '\nimport { z } from "zod";'),
    Scenario("schema column", _after(b"created_at INTEGER NOT NULL", False), ", tag TEXT"),
]


def keystrokes(typed: str) -> list[tuple[int, str]]:
    """(offset in the typed text so far, inserted text) of each keystroke that changes the
    text, with auto-closed pairs."""
    buf, cursor = "", 0
    out: list[tuple[int, str]] = []
    for ch in typed:
        if cursor < len(buf) and buf[cursor] == ch and ch in CLOSERS:
            cursor += 1  # over the closer the editor inserted
            continue
        inserted = ch + PAIRS[ch] if ch in PAIRS else ch
        out.append((cursor, inserted))
        buf = buf[:cursor] + inserted + buf[cursor:]
        cursor += 1
    if buf != typed:
        raise ValueError(f"the typed text does not close its pairs in order: {typed!r}")
    return out


def versions(data: bytes, scenario: Scenario) -> list[tuple[int, bytes, bytes]]:
    """Each keystroke of the scenario on `data`: (byte offset, inserted bytes, the text after)."""
    at = scenario.where(data)
    out = []
    for offset, inserted in keystrokes(scenario.typed):
        place = at + len(scenario.typed[:offset].encode())
        data = data[:place] + inserted.encode() + data[place:]
        out.append((place, inserted.encode(), data))
    return out
