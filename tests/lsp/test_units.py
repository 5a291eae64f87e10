"""Unit tests for the server's building blocks (no server process)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Severity
from durable_harden.analyzers.settings_file import (
    SettingsError,
    apply,
    find_settings_file,
    parse_settings_file,
    settings_for,
)
from durable_harden.analyzers.source import LineIndex, changed_region, parse_source, reparse
from durable_harden.codeactions import apply_edits, fixes_for
from durable_harden.codeactions.suppress import disable_for_file, disable_for_line
from durable_harden.server.documents import (
    _count,
    _start,
    apply_change,
    apply_change_bytes,
    encode_text,
    to_offset,
    to_position,
)
from durable_harden.server.lsp.engine import Engine, OpenInput
from tests.lsp.conftest import DO_FILE, WRANGLER


# -- positions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "column"),
    [("utf-8", len("a😀漢b".encode())), ("utf-16", 1 + 2 + 1 + 1), ("utf-32", 4)],
)
def test_position_round_trip_with_astral_and_cjk(encoding: str, column: int):
    data = "first\r\na😀漢b|x\n".encode()
    lines = LineIndex(data)
    offset = data.index(b"|")
    assert to_position(lines, offset, encoding) == (1, column)
    assert to_offset(lines, 1, column, encoding) == offset
    # past the end of a line clamps to the line end (before \r\n)
    assert to_offset(lines, 0, 99, encoding) == len("first")
    assert to_offset(lines, 9, 0, encoding) == len(data)


# -- incremental reparse ----------------------------------------------------------------------
def test_reparse_matches_full_parse_on_random_edits():
    rng = random.Random(7)
    source = parse_source(Path("a.ts"), DO_FILE.encode())
    pieces = ["setTimeout(", ")", "{", "}", "😀", "\n", "const x = 1;", ""]
    for _ in range(60):
        data = source.data
        start = rng.randrange(len(data) + 1)
        end = min(len(data), start + rng.randrange(4))
        new = data[:start] + rng.choice(pieces).encode() + data[end:]
        try:
            new.decode()
        except UnicodeDecodeError:
            continue
        incremental = reparse(source, new)
        full = parse_source(Path("a.ts"), new)
        assert str(incremental.root) == str(full.root)
        source = incremental


def test_changed_region():
    assert changed_region(b"abcdef", b"abXdef") == (2, 3, 3)
    assert changed_region(b"aaaa", b"aaa") == (3, 4, 3)
    assert changed_region(b"", b"abc") == (0, 0, 3)


def test_changed_region_against_a_byte_by_byte_scan():
    """Edits at every kind of place around the chunks the search compares (16 KiB), in
    buffers of repeated bytes (the common part is ambiguous) and of random bytes."""

    def scan(old: bytes, new: bytes) -> tuple[int, int, int]:
        limit = min(len(old), len(new))
        prefix = 0
        while prefix < limit and old[prefix] == new[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
            suffix += 1
        return prefix, len(old) - suffix, len(new) - suffix

    rng = random.Random(14)
    for _ in range(600):
        size = rng.choice([0, 1, 2, 7, 16383, 16384, 16385, 40000])
        if rng.random() < 0.5:
            old = bytes(rng.choice(b"ab") for _ in range(size))
        else:
            old = rng.randbytes(size)
        at = rng.choice([0, size, rng.randrange(size + 1), min(size, 16384), max(0, size - 16384)])
        cut = rng.randrange(min(5, size - at) + 1)
        typed = bytes(rng.choice(b"abc") for _ in range(rng.randrange(4)))
        new = old[:at] + typed + old[at + cut :]
        assert changed_region(old, new) == scan(old, new), (size, at, cut, typed)


def test_reparse_keeps_the_old_tree_intact():
    old = parse_source(Path("a.ts"), b"let a = 1;\n")
    before = str(old.root)
    new = reparse(old, b"let abc = 1;\n")
    assert str(old.root) == before
    assert new.data == b"let abc = 1;\n"


def test_the_document_s_line_index_serves_the_re_parse(tmp_path: Path):
    """The server hands the engine its document's line index of the same bytes (edited by
    apply_change_bytes): the re-parsed file uses it rather than shifting its own, and a wrong
    one (other bytes) is not taken."""
    (tmp_path / "wrangler.jsonc").write_text(WRANGLER)
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "ticker.ts"
    path.write_text(DO_FILE)
    engine = Engine()
    data = DO_FILE.encode()
    lines = LineIndex(data)
    engine.analyze(tmp_path, {path: OpenInput(path, 1, data, "source", Settings(), None, lines)})
    for version, (at, typed) in enumerate([((7, 9), "x\n  y"), ((2, 0), ""), ((8, 3), "z")]):
        done = apply_change_bytes(data, lines, at, (at[0], at[1] + 1), typed, "utf-16")
        assert done is not None
        data, lines = done
        given = lines if version % 2 == 0 else LineIndex(b"other bytes")
        item = OpenInput(path, version + 2, data, "source", Settings(), None, given)
        engine.analyze(tmp_path, {path: item})
        parsed = engine.open_parsed[path]
        assert (parsed.lines is lines) == (given is lines)
        assert parsed.lines.line_starts == LineIndex(data).line_starts


def test_a_document_s_line_index_after_edits_without_a_list():
    """The document's line index after successive edits (ShiftedLines: pieces of the earlier
    indexes' starts, each shifted) answers row_of, point, start_of and count as a fresh index
    of the same bytes does, before and after its list of starts is built (read every few
    edits), over edits that add and remove lines anywhere; with a `\r`, it is a fresh index."""
    from durable_harden.server.documents import ShiftedLines

    rng = random.Random(5)
    pieces = ["", "x", "\n", "ab\ncd\n", "\n\n", "yz"]
    for base in ("", "a", "one\ntwo\n\nthree", "\n".join(f"line {i} ;" for i in range(300))):
        data = base.encode()
        lines = LineIndex(data)
        shifted = 0
        for step in range(300):
            rows = len(data.split(b"\n"))
            start = (rng.randrange(rows), rng.randrange(12))
            end = (start[0] + rng.choice([0, 0, 1, 2]), rng.randrange(12))
            done = apply_change_bytes(data, lines, start, end, rng.choice(pieces), "utf-16")
            assert done is not None
            data, lines = done
            fresh = LineIndex(data)
            shifted += isinstance(lines, ShiftedLines)
            for _ in range(20):
                offset = rng.randrange(len(data) + 1)
                assert lines.row_of(offset) == fresh.row_of(offset), (step, offset)
                assert lines.point(offset) == fresh.point(offset), (step, offset)
            for row in range(len(fresh.line_starts)):
                assert _start(lines, row) == fresh.line_starts[row], (step, row)
            assert _count(lines) == len(fresh.line_starts)
            assert to_position(lines, len(data) // 2, "utf-16") == to_position(
                fresh, len(data) // 2, "utf-16"
            )
            if step % 7 == 6:  # something reads the list: then it is kept
                assert lines.line_starts == fresh.line_starts
        assert shifted > 250
    crlf = b"one\r\ntwo\r\n"
    done = apply_change_bytes(crlf, LineIndex(crlf), (1, 0), (1, 0), "x", "utf-16")
    assert done is not None and not isinstance(done[1], ShiftedLines)
    assert done[1].line_starts == LineIndex(done[0]).line_starts


def test_changes_applied_to_bytes_match_the_text_path():
    """A didChange applied to the document's bytes (apply_change_bytes) gives what the text
    path gives (apply_change, then UTF-8), in every encoding, for edits anywhere (also past
    the end, reversed, spanning lines), or declines (non-ASCII lines, lone surrogates); its
    line index is the new buffer's."""
    rng = random.Random(3)
    docs = ["", "a\nbc\n\nd", "one\r\ntwo\rthree\n", "x = 1;\n\u00e9t\u00e9\n\U0001f600 ok\nlast"]
    pieces = ["", "x", "\n", "\r\n", "ab\ncd", "\u00e9", "\U0001f600", "\ud800"]
    declined = done = 0
    for encoding in ("utf-8", "utf-16", "utf-32"):
        for base in docs:
            text = base
            for _ in range(150):
                data = encode_text(text)
                lines = LineIndex(data)
                rows = len(lines.line_starts)
                start = (rng.randrange(-1, rows + 2), rng.randrange(-1, 8))
                end = (rng.randrange(-1, rows + 2), rng.randrange(-1, 8))
                new_text = rng.choice(pieces)
                want = apply_change(text, start, end, new_text, encoding)
                got = apply_change_bytes(data, lines, start, end, new_text, encoding)
                if got is None:
                    declined += 1
                else:
                    done += 1
                    assert got[0] == encode_text(want), (encoding, text, start, end, new_text)
                    assert got[1].line_starts == LineIndex(got[0]).line_starts
                text = want
    assert done > 500 and declined > 50


# -- settings files ---------------------------------------------------------------------------
def test_nearest_settings_file_wins(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "durable-harden.jsonc").write_text('{"ignore": ["timer-blocks-hibernation"]}')
    pkg = tmp_path / "packages" / "api"
    (pkg / "src").mkdir(parents=True)
    (pkg / "package.json").write_text(
        '{"name": "api", "durable-harden": {"severity": {"unused-suppression": "off"}}}'
    )
    assert find_settings_file(pkg / "src" / "a.ts") == pkg / "package.json"
    assert find_settings_file(tmp_path / "src" / "a.ts") == tmp_path / "durable-harden.jsonc"
    settings, found = settings_for(pkg / "src" / "a.ts")
    assert found is not None and found.path == pkg / "package.json"
    assert "unused-suppression" in settings.ignore
    # a package.json without the key is not a settings file
    (pkg / "package.json").write_text('{"name": "api"}')
    assert find_settings_file(pkg / "src" / "a.ts") == tmp_path / "durable-harden.jsonc"


def test_the_server_s_settings_lookup_follows_changes(tmp_path: Path):
    """SettingsLookup (the server's kept answers, re-checked by stat) answers what a fresh
    walk answers after each change of the folders it walked: a settings file created and
    removed on the way, a package.json gaining and losing the key (also rewritten at once with
    the same size and mtime: a rewrite within the file system's timestamp granularity), a
    `.git` that ends the walk earlier. Settled answers are kept, not walked again."""
    import os

    from durable_harden.analyzers.settings_file import SettingsLookup, forget

    (tmp_path / ".git").mkdir()
    (tmp_path / "durable-harden.jsonc").write_text("{}")
    pkg = tmp_path / "packages" / "api"
    (pkg / "src").mkdir(parents=True)
    source = (pkg / "src" / "a.ts").resolve()
    source.write_text("")
    lookup = SettingsLookup()

    def same() -> Path | None:
        forget()  # the reference reads every file again
        want = find_settings_file(source)
        assert lookup.find(source) == want
        return want

    assert same() == tmp_path.resolve() / "durable-harden.jsonc"
    assert source in lookup.known  # nothing was written just now that it reads
    walks = []
    real = find_settings_file

    def counted(path: Path, folders: object = None) -> Path | None:
        walks.append(path)
        return real(path)

    import durable_harden.analyzers.settings_file as module

    module.find_settings_file = counted  # type: ignore[assignment]
    try:
        lookup.find(source)
        assert walks == []  # answered from the kept signatures
    finally:
        module.find_settings_file = real
    own = pkg / "durable-harden.jsonc"
    own.write_text("{}")
    assert same() == own.resolve()
    own.unlink()
    assert same() == tmp_path.resolve() / "durable-harden.jsonc"
    package = pkg / "package.json"
    package.write_text('{"name": "api", "durable-hardex": {}}')
    assert same() == tmp_path.resolve() / "durable-harden.jsonc"
    # the key added at once, the same size, the mtime kept (a coarse file system clock)
    stamp = package.stat().st_mtime_ns
    package.write_text('{"name": "api", "durable-harden": {}}')
    os.utime(package, ns=(stamp, stamp))
    assert same() == package.resolve()
    package.unlink()
    (pkg / ".git").mkdir()  # a repository of its own: the walk ends there
    assert same() is None
    assert len(lookup.known) == 1


def test_settings_values_and_errors(tmp_path: Path):
    path = tmp_path / "durable-harden.jsonc"
    path.write_text(
        """{
      // comments and trailing commas are fine
      "select": ["ALL"],
      "severity": {"timer-blocks-hibernation": "error"},
      "unsafeFixes": true,
      "exclude": ["generated/**"],
      "colour": "blue",
    }"""
    )
    loaded = parse_settings_file(path)
    assert loaded.warnings and "colour" in loaded.warnings[0]
    settings = apply(loaded.raw, Settings(ignore=["x"]))
    assert settings.select == ["ALL"] and settings.ignore == ["x"] and settings.unsafe_fixes
    assert settings.severity["timer-blocks-hibernation"] is Severity.ERROR
    assert loaded.excludes(tmp_path / "generated" / "a.ts")
    assert not loaded.excludes(tmp_path / "src" / "a.ts")
    path.write_text('{"severity": {"timer-blocks-hibernation": "loud"}}')
    with pytest.raises(SettingsError, match="unknown severity"):
        parse_settings_file(path)
    path.write_text("{ not json")
    with pytest.raises(SettingsError, match="not valid JSONC"):
        parse_settings_file(path)


def test_cli_reads_the_settings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from durable_harden.server.cli import main

    (tmp_path / "src").mkdir()
    (tmp_path / "wrangler.jsonc").write_text(WRANGLER)
    timer = DO_FILE.replace("tick() {}", "tick() {\n    setInterval(() => this.tick(), 5000);\n  }")
    (tmp_path / "src" / "ticker.ts").write_text(timer)
    assert main(["check", str(tmp_path)]) == 1
    (tmp_path / "durable-harden.jsonc").write_text('{"ignore": ["timer-blocks-hibernation"]}')
    assert main(["check", str(tmp_path)]) == 0
    # flags win over the file: --select replaces the file's select and ignore (Ruff's
    # precedence); --ignore adds to the file's ignore
    assert main(["check", "--select", "timer-blocks-hibernation", str(tmp_path)]) == 1
    assert main(["check", "--ignore", "unused-suppression", str(tmp_path)]) == 0
    capsys.readouterr()


# -- suppression fixes ------------------------------------------------------------------------
def _timer_project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "wrangler.jsonc").write_text(WRANGLER)
    path = tmp_path / "src" / "ticker.ts"
    path.write_text(DO_FILE.replace("  tick() {}\n", body))
    return path


def test_disable_fixes_silence_the_finding_and_are_clean(tmp_path: Path):
    path = _timer_project(tmp_path, "  tick() {\n    setInterval(() => this.tick(), 5000);\n  }\n")
    result = analyze_paths([path])
    (finding,) = [f for f in result.findings if f.rule_id == "timer-blocks-hibernation"]
    data = path.read_bytes()
    for fix in (disable_for_line(finding, data), disable_for_file(finding, data)):
        new = apply_edits(data, fix.edits)
        assert not parse_source(path, new).root.has_error
        path.write_bytes(new)
        assert analyze_paths([path]).findings == []
        path.write_bytes(data)


def test_disable_for_line_extends_an_existing_directive(tmp_path: Path):
    path = _timer_project(
        tmp_path,
        "  tick() {\n    // durable-harden-ignore unused-suppression: kept\n"
        "    setInterval(() => this.tick(), 5000);\n  }\n",
    )
    result = analyze_paths([path], Settings(ignore=["unused-suppression"]))
    (finding,) = [f for f in result.findings if f.rule_id == "timer-blocks-hibernation"]
    new = apply_edits(path.read_bytes(), disable_for_line(finding, path.read_bytes()).edits)
    assert b"// durable-harden-ignore unused-suppression, timer-blocks-hibernation: kept" in new


def test_unused_suppression_fix_removes_one_rule_or_the_line(tmp_path: Path):
    path = _timer_project(
        tmp_path,
        "  tick() {\n    // durable-harden-ignore timer-blocks-hibernation, unbounded-table-growth: x\n"
        "    setInterval(() => this.tick(), 5000);\n    return 1; // durable-harden-ignore timer-blocks-hibernation\n  }\n",
    )
    result = analyze_paths([path])
    unused = [f for f in result.findings if f.rule_id == "unused-suppression"]
    assert len(unused) == 2
    data = path.read_bytes()
    edits = [e for f in unused for fix in fixes_for(f, result.model) for e in fix.edits]
    new = apply_edits(data, edits)
    assert b"// durable-harden-ignore timer-blocks-hibernation: x\n" in new
    assert b"return 1;\n" in new
    path.write_bytes(new)
    assert analyze_paths([path]).findings == []


def test_the_reader_reads_a_message_with_one_hand_over(tmp_path: Path):
    """BoundedReader reads the rest of a message with its Content-Length header (one thread
    hand-over per message): pygls's loop gets the same messages as from a plain reader, with
    other headers, an oversized message skipped in between, and a message cut by the end of
    the input."""
    import asyncio
    import io
    import json
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from pygls.io_ import run_async

    from durable_harden.server.lsp.transport import BoundedReader

    def frame(body: bytes, extra: bytes = b"") -> bytes:
        return b"Content-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)

    bodies = [
        json.dumps({"jsonrpc": "2.0", "method": f"m{i}", "params": {"i": i}}).encode()
        for i in range(4)
    ]
    stream = (
        frame(bodies[0])
        + frame(bodies[1], b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n")
        + b"Content-Length: 99999\r\n\r\n"
        + b'{"jsonrpc": "2.0", "method": "skipped"}'
        + frame(bodies[2])
        + frame(bodies[3])
        + b'Content-Length: 50\r\n\r\n{"jsonrpc"'
    )

    class Collect:
        def __init__(self) -> None:
            self.got: list[object] = []

        def structure_message(self, data: dict) -> object:
            return data

        def handle_message(self, message: object) -> None:
            self.got.append(message)

    oversized: list[int] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        reader = BoundedReader(
            io.BufferedReader(io.BytesIO(stream)), pool, oversized.append, limit=1000
        )
        protocol = Collect()
        asyncio.run(run_async(threading.Event(), reader, protocol))  # type: ignore[arg-type]
    methods = [m.get("method") for m in protocol.got if isinstance(m, dict)]
    assert methods == ["m0", "m1", "$/durable-harden/skipped", "m2", "m3"], methods
    assert oversized == [99999]
    assert not reader.ahead
