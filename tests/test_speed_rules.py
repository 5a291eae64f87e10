"""Rule helpers made cheaper for issue 14 find what the walks they replace found: the calls of
a scope found from the words of their callee (`calls_mentioning`), on the example projects and
on a scope where the word is everywhere. No timing is asserted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from durable_harden.analyzers.rules._common import (
    MENTIONS_LIMIT,
    calls_mentioning,
    places_of,
    spells,
    word_places,
)
from durable_harden.analyzers.source import SourceFile, read_source, reparse
from durable_harden.analyzers.tsutil import node_text, walk_type
from tests.conftest import EXAMPLES

WORDS = ("setAlarm", "deleteAll", "close", "blockConcurrencyWhile", "setTimeout", "fetch", "get")


def _callee(file: SourceFile, call) -> str:  # type: ignore[no-untyped-def]
    func = call.child_by_field_name("function")
    return node_text(file.data, func) if func is not None else ""


def _check(file: SourceFile, scope, word: str) -> int:  # type: ignore[no-untyped-def]
    walked = [c for c in walk_type(scope, "call_expression") if word in _callee(file, c)]
    found = calls_mentioning(file.data, scope, word)
    # the same from the file's kept places of the word
    assert calls_mentioning(file.data, scope, word, file=file) == found
    mentioned = [c for c in found if word in _callee(file, c)]
    assert mentioned == walked, (file.path, word)
    every = list(walk_type(scope, "call_expression"))
    assert all(c in every for c in found)  # nothing outside the scope
    assert found == sorted(found, key=lambda n: (n.start_byte, -n.end_byte))
    return len(walked)


def test_calls_mentioning_finds_what_a_walk_finds() -> None:
    checked = 0
    for path in sorted(EXAMPLES.rglob("*.ts")):
        if "node_modules" in path.parts or path.name.endswith(".d.ts"):
            continue
        file = read_source(path)
        for scope in [file.root, *walk_type(file.root, "class_declaration", "method_definition")]:
            for word in WORDS:
                checked += _check(file, scope, word)
    assert checked > 50  # the examples do call these


def test_calls_mentioning_with_the_word_everywhere(tmp_path: Path) -> None:
    """More places than MENTIONS_LIMIT (or about as many calls as places): the calls of the
    scope whose callee holds the word (the walk, filtered), still a superset."""
    body = "\n".join(f"  m{i}() {{ g(get{i}); this.get(x).get(); }}" for i in range(MENTIONS_LIMIT))
    path = tmp_path / "many.ts"
    path.write_text(f"class A {{\n{body}\n}}\nget();\n")
    file = read_source(path)
    assert _check(file, file.root, "get") == 2 * MENTIONS_LIMIT + 1
    few = tmp_path / "few.ts"
    few.write_text("// get\nconst a = `get`;\nobj.get(1); get(2); (() => 1)(get); x.getter();\n")
    file = read_source(few)
    assert _check(file, file.root, "get") == 3


def test_spells_answers_what_a_search_of_the_range_answers() -> None:
    """`_common.spells` (the word lies in data[start:end], from the word's kept places) gives
    what `data.find(word, start, end) >= 0` gives, for ranges around, at and across the places
    (a place cut by either end, ranges of the word's length and empty ones), also after edits
    that move the places (the places of a re-parsed file are carried and shifted)."""
    rng = random.Random(14)
    words = [b"WebSocketPair", b"acceptWebSocket(", b"get", b"aa", b"x"]
    pieces = [b"", b"a", b"aa", b"WebSocketPair", b"acceptWebSocket(", b"get", b"\n"]
    path = sorted((EXAMPLES / "rate-limiter" / "src").glob("*.ts"))[0]
    file = read_source(path)
    checked = found = 0
    for step in range(80):
        data = file.data
        for word in words:
            places = word_places(file, word)
            edges = [p + d for p in places[:20] for d in (-1, 0, 1, len(word) - 1, len(word))]
            for _ in range(25):
                start = (
                    rng.choice(edges)
                    if edges and rng.random() < 0.6
                    else rng.randrange(len(data) + 1)
                )
                start = max(0, min(len(data), start))
                end = start + rng.choice([0, len(word) - 1, len(word), len(word) + 1, 50, 5000])
                end = min(len(data), end)
                expected = data.find(word, start, end) >= 0
                assert spells(file, word, start, end) == expected, (step, word, start, end)
                checked += 1
                found += expected
        start = rng.randrange(len(data) + 1)
        end = min(len(data), start + rng.choice([0, 1, 3]))
        new = reparse(file, data[:start] + rng.choice(pieces) + data[end:])
        file = new if new is not file else file
    assert checked >= 5000 and found >= 500, (checked, found)


def test_places_kept_as_runs_through_many_edits() -> None:
    """`Places.edited` over 400 edits of a text dense with the word (runs cut at each edit,
    flattened past `_RUNS_MAX`): the places, their ranges and counts equal a search of the
    text each time, and the runs never pile up."""
    from durable_harden.analyzers.rules._common import _RUNS_MAX, Places, _places

    rng = random.Random(3)
    data = b"".join(rng.choice([b"ab", b"a", b"b", b"x", b"aab", b"\n"]) for _ in range(3000))
    word = b"ab"
    every = _places(data, word, 0, None)
    kept = Places([(every, 0, len(every), 0)])
    flattened = most = 0
    for _ in range(400):
        start = rng.randrange(len(data) + 1)
        end = min(len(data), start + rng.choice([0, 1, 2, 3, 7]))
        piece = rng.choice([b"", b"a", b"b", b"ab", b"abab", b"x"])
        new = data[:start] + piece + data[end:]
        runs = len(kept.runs)
        kept = kept.edited(new, word, start, end, start + len(piece))
        data = new
        if len(kept.runs) < runs and len(kept.runs) == 1:
            flattened += 1
        most = max(most, len(kept.runs))
        expected = _places(data, word, 0, None)
        assert kept.as_list() == expected and len(kept) == len(expected)
        a = rng.randrange(len(data) + 1)
        b = a + rng.choice([0, 1, 50, 5000])
        inside = [p for p in expected if a <= p <= b]
        assert kept.between(a, b) == inside
        assert kept.any_between(a, b) == bool(inside)
    assert most <= _RUNS_MAX + 2 and flattened >= 3, (most, flattened)


def test_word_places_skip_a_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A word not asked for in one version (an analysis that reused the edited member's
    results) is cut, in the next, from the version before's places at both edits: the same
    places as a search, and no search of the whole text."""
    from durable_harden.analyzers.rules import _common

    whole: list[bytes] = []
    real = _common._places

    def spy(data: bytes, word: bytes, start: int, end: int | None) -> list[int]:
        if end is None:
            whole.append(word)
        return real(data, word, start, end)

    monkeypatch.setattr(_common, "_places", spy)
    rng = random.Random(5)
    path = sorted((EXAMPLES / "rate-limiter" / "src").glob("*.ts"))[0]
    file = read_source(path)
    words = [b"get", b"aa", b"x"]
    for word in words:
        word_places(file, word)
    assert whole == words
    checked = 0
    for step in range(120):
        new = file
        while new is file:  # a real edit (a new version) each step
            data = file.data
            start = rng.randrange(len(data) + 1)
            end = min(len(data), start + rng.choice([0, 1, 3]))
            piece = rng.choice([b"", b"a", b"get", b"x"])
            new = reparse(file, data[:start] + piece + data[end:])
        file = new
        if step % 2:
            places_of(file, b"zz")  # asked for another word only: the others skip this version
            continue
        for word in words:
            expected, at = [], file.data.find(word)
            while at != -1:
                expected.append(at)
                at = file.data.find(word, at + 1)
            assert word_places(file, word) == expected, (step, word)
            checked += 1
    assert whole == [*words, b"zz"] and checked == 3 * 60, (whole, checked)


def test_word_places_follow_edits() -> None:
    """A re-parsed file's places of a word come from its previous version's (shifted) and a
    search of the edit's neighbourhood: the same as a search of the whole new text, for
    insertions, deletions and replacements anywhere, also across a place or inside one; kept
    as runs (`places_of`), whose ranges answer what the search answers."""
    rng = random.Random(11)
    most_runs = 0
    words = [b"get", b"setAlarm", b"aa", b"close", b"x"]
    pieces = [b"", b"a", b"aa", b"get", b"set", b"Alarm", b"setAlarm(", b"\n", b"close", b"g"]
    for path in sorted((EXAMPLES / "rate-limiter" / "src").glob("*.ts"))[:2]:
        file = read_source(path)
        for word in words:
            word_places(file, word)
        for _ in range(150):
            data = file.data
            start = rng.randrange(len(data) + 1)
            end = min(len(data), start + rng.choice([0, 0, 1, 2, 5]))
            new = reparse(file, data[:start] + rng.choice(pieces) + data[end:])
            if new is file:
                continue
            for word in words:
                expected, at = [], new.data.find(word)
                while at != -1:
                    expected.append(at)
                    at = new.data.find(word, at + 1)
                assert word_places(new, word) == expected, (path.name, word, start, end)
                kept = places_of(new, word)
                most_runs = max(most_runs, len(kept.runs))
                assert all(lo < hi for _, lo, hi, _ in kept.runs)  # no empty run
                assert bool(kept) == bool(expected) and len(kept) == len(expected)
                for _ in range(4):
                    a = rng.randrange(-5, len(new.data) + 5)
                    b = a + rng.choice([-1, 0, 1, 3, 40, 4000])
                    inside = [p for p in expected if a <= p <= b]
                    assert kept.between(a, b) == inside, (word, a, b)
                    assert kept.any_between(a, b) == bool(inside), (word, a, b)
            assert "previous" in new.memo
            file = new
    assert most_runs > 4  # kept as runs over many edits (flattened past _RUNS_MAX)
