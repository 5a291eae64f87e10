"""The model below the file (analyzers/splice.py): after an edit, the model built from the
re-parsed file, which carries the unchanged members of the previous version over, is the model
a whole-file extraction of the same tree gives: every class, SQL statement and namespace access
with the same fields, offsets, and nodes, and every node a live node of the new tree.
No timing is asserted."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from tree_sitter import Node

from durable_harden.analyzers import splice
from durable_harden.analyzers.model import ProjectModel, build_model
from durable_harden.analyzers.source import SourceFile, parse_source, reparse
from durable_harden.analyzers.sql import SqlStatement
from durable_harden.analyzers.tsutil import walk_type
from tests.conftest import EXAMPLES
from tests.test_speed_incremental import SPLICE_EDITS, splice_project

ROOT = Path(__file__).resolve().parent.parent


def _live(file: SourceFile, node: Node | None) -> Any:
    """(type, start, end) of a node of `file`'s current tree; a node of another tree fails."""
    if node is None:
        return None
    found: Node | None = file.root.descendant_for_byte_range(node.start_byte, node.end_byte)
    while found is not None and (found.start_byte, found.end_byte) == (
        node.start_byte,
        node.end_byte,
    ):
        if found == node:
            return (node.type, node.start_byte, node.end_byte)
        found = found.parent
    raise AssertionError(f"{node.type} at {node.start_byte} is not a node of the current tree")


def _signature(model: ProjectModel, path: Path) -> list[Any]:
    file = model.file(path)
    assert file is not None
    found: list[Any] = []
    for cls in model.classes:
        if cls.file is file:
            found.append(
                (
                    cls.name,
                    _live(file, cls.node),
                    _live(file, cls.name_node),
                    cls.base,
                    cls.reason,
                    [(name, _live(file, node)) for name, node in cls.methods.items()],
                    sorted(cls.aliases.ctx),
                    sorted(cls.aliases.storage),
                    sorted(cls.aliases.sql),
                    cls.exported,
                )
            )
    for stmt in model.statements:
        if stmt.file is file or stmt.call_file is file:
            found.append(
                (
                    str(stmt.file.path),
                    str(stmt.call_file.path),
                    _live(stmt.call_file, stmt.call),
                    _live(stmt.file, stmt.literal),
                    stmt.text,
                    tuple(stmt.offsets),
                    stmt.index_in_call,
                    stmt.statements_in_call,
                    tuple(stmt.substitutions),
                    stmt.bindings,
                    stmt.has_spread_binding,
                    stmt.binding_start,
                    stmt.wrapper,
                    stmt.tagged,
                    stmt.method,
                    stmt.loose,
                    (stmt.cls.name, _live(stmt.cls.file, stmt.cls.node)) if stmt.cls else None,
                )
            )
    for access in model.namespace_accesses:
        if access.file is file:
            found.append(
                (
                    _live(file, access.node),
                    access.binding,
                    access.method,
                    _live(file, access.argument),
                )
            )
    return found


@pytest.fixture(autouse=True)
def _no_internal_error() -> Any:
    """The splice falls back to the whole file on an internal error (the user keeps the
    analysis); a test must not pass through that fallback."""
    failed = splice.COUNTS["failed"]
    yield
    assert splice.COUNTS["failed"] == failed, "the splice failed with an internal error"


class Editor:
    """One file edited version after version (re-parsed like the server does), the project's
    other files parsed once; after each edit, the model with the carried-over members is
    compared with a whole-file extraction of the same tree."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root = root
        self.path = path
        self.others = {
            p: parse_source(p, p.read_bytes())
            for p in sorted((root).rglob("*.ts"))
            if p != path and "node_modules" not in p.parts
        }
        self.configs = sorted(root.glob("wrangler.*"))
        self.file = parse_source(path, path.read_bytes())
        self.model = self.build(self.file)
        self.spliced = 0

    def build(self, file: SourceFile) -> ProjectModel:
        parsed = {**self.others, self.path: file}
        return build_model(self.root, list(parsed), self.configs, parsed=parsed)

    def edit(self, data: bytes, what: str, compare: bool = True) -> SourceFile:
        previous_model = self.model
        new = reparse(self.file, data)
        self.model = self.build(new)
        if not compare:  # nothing asked of the model: its moved statements stay unresolved
            self.file = new
            return new
        # the reference: the same tree (a fresh parse may recover from errors otherwise),
        # extracted whole
        whole = reparse(self.file, data)
        whole.memo.pop("previous")
        assert str(whole.root) == str(new.root)
        reference = self.build(whole)
        assert _signature(self.model, self.path) == _signature(reference, self.path), what
        for name in ("statements", "loose"):
            # the file's own lists, before the model's dedupe (a statement there twice is
            # dropped by it: the same key)
            assert _listed(new, name) == _listed(whole, name), (what, name)
        sp = new.memo.get("splice")
        if sp is not None:
            self.spliced += 1
            _check_identity(previous_model, self.model, new, sp)
        self.file = new
        return new


def _listed(file: SourceFile, name: str) -> list[Any]:
    """The file's last `per_file` result `name` (a statement list), by content and places."""
    entries = file.memo.get(f"model:{name}")
    if not entries:
        return []
    return [
        (
            s.text,
            tuple(s.offsets),
            s.index_in_call,
            s.call.start_byte,
            s.call.end_byte,
            s.literal.start_byte,
            s.loose,
        )
        for s in next(reversed(entries.values()))
    ]


def _check_identity(
    before: ProjectModel, after: ProjectModel, file: SourceFile, sp: splice.Splice
) -> None:
    """No object of the previous model is handed out again; a carried one says where from."""
    old_ids = {id(x) for x in (*before.classes, *before.statements, *before.namespace_accesses)}
    for item in (*after.classes, *after.statements, *after.namespace_accesses):
        if getattr(item, "file", None) is file or getattr(item, "call_file", None) is file:
            assert id(item) not in old_ids
            origin = sp.origin.get(id(item))
            if origin is not None:
                assert id(origin) in old_ids and _kind(origin) is _kind(item)


def _kind(item: Any) -> type:
    # a statement moved by the splice is a MovedStatement (nodes and offsets found when asked)
    return SqlStatement if isinstance(item, SqlStatement) else type(item)


def test_scripted_edits(tmp_path: Path) -> None:
    root = splice_project(tmp_path)
    path = root / "src" / "store.ts"
    editor = Editor(root, path)
    for what, old, new, _ in SPLICE_EDITS:
        text = path.read_text()
        path.write_text(text.replace(old, new))
        editor.edit(path.read_bytes(), what)
    assert editor.spliced >= 10


def _big_file(lines: int, seed: int) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from keystroke import big_do_file
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return str(big_do_file(lines, random.Random(seed)))


@pytest.mark.parametrize("seed", [random.randrange(1 << 30)])
def test_random_edits(tmp_path: Path, seed: int) -> None:
    """Characters typed and deleted anywhere in the benchmark's DO file and in the examples'
    files (seed printed)."""
    print(f"random edits, seed {seed}")
    rng = random.Random(seed)
    worker = tmp_path / "worker"
    (worker / "src").mkdir(parents=True)
    big = worker / "src" / "big.ts"
    big.write_text(_big_file(400, seed))
    targets = [(worker, big)]
    for example in ("rate-limiter", "chat-room", "game-lobby"):
        for path in sorted((EXAMPLES / example / "src").glob("*.ts")):
            targets.append((EXAMPLES / example, path))
    spliced = 0
    for root, path in targets:
        data = path.read_bytes()
        editor = Editor(root, path)
        for step in range(8):
            at = rng.randrange(len(data))
            typed = rng.choice(["x", " ", "\n", "(", ")", "{", "}", ";", '"', "`", "", ""])
            if typed:
                data = data[:at] + typed.encode() + data[at:]
            else:
                data = data[:at] + data[at + 1 :]
            editor.edit(data, f"{path.name} step {step} at {at}: {typed!r} (seed {seed})")
        spliced += editor.spliced
    assert spliced > 0


def _big_editor(tmp_path: Path, methods: int, seed: int) -> tuple[Editor, str]:
    """A worker holding one big generated DO file, open in an Editor: (editor, its text)."""
    worker = tmp_path / "worker"
    (worker / "src").mkdir(parents=True)
    big = worker / "src" / "big.ts"
    text = _big_file(methods, seed)
    big.write_text(text)
    return Editor(worker, big), text


def test_statements_moved_again_before_anyone_asked(tmp_path: Path) -> None:
    """A statement after the edit is a MovedStatement whose nodes and offsets are found when
    first asked; moved by further edits before that, it keeps only its places and the shift
    added up. After runs of edits nobody looked at, the model still equals a whole
    extraction (nodes of the current tree, offsets shifted by every edit above them)."""
    editor, text = _big_editor(tmp_path, 600, 3)
    rng = random.Random(3)
    data = text.encode()
    unresolved = 0
    for step in range(40):
        lines = data.split(b"\n")
        row = rng.randrange(len(lines))
        typed = rng.choice([b"x", b"yy", b"", b"// note"])
        if lines[row].endswith(b";") and not typed:
            lines[row] = lines[row][:-1] + b" ;"
        else:
            lines[row] += typed or b"z"
        data = b"\n".join(lines)
        compare = step % 5 == 4
        if compare:
            unresolved += sum(
                1
                for s in editor.model.statements
                if "_moved" in s.__dict__ and "call" not in s.__dict__ and s.__dict__["_moved"][3]
            )
        editor.edit(data, f"step {step}, line {row}: {typed!r}", compare=compare)
    assert editor.spliced >= 4
    assert unresolved > 0  # moved (and shifted) more than once before being asked


def test_calls_of_an_edited_file_carried_over(tmp_path: Path) -> None:
    """The per-call reuse's grouping of a file's statements by exec() call (_Calls), carried
    from the previous version (the calls outside the edited region shifted, with the moved
    statements), equals the grouping done afresh, after edits inside calls, between them,
    adding and removing calls; so do the member-level reuse's members of the class (_Members:
    texts and places outside the region carried), also as methods come and go."""
    from durable_harden.analyzers.incremental import CALLS_COUNTS, MEMBERS_COUNTS, _Calls, _Members

    editor, text = _big_editor(tmp_path, 500, 4)
    rng = random.Random(4)
    carried = CALLS_COUNTS["carried"]
    members_carried = MEMBERS_COUNTS["carried"]
    data = text.encode()
    extra = b'\n    this.ctx.storage.sql.exec("DELETE FROM items WHERE id = ?", 1);'
    method = b"\n  }\n\n  added(): void {\n    this.ctx.storage.sql.exec('SELECT 1');"
    for step in range(40):
        lines = data.split(b"\n")
        row = rng.randrange(len(lines))
        lines[row] += rng.choice([b"x", b" 1", extra, extra + b"\n" + extra, method, b"  // n"])
        if rng.random() < 0.2 and row + 1 < len(lines):
            del lines[row + 1]  # a line removed (a call, part of one, a method's end …)
        data = b"\n".join(lines)
        new = editor.edit(data, f"step {step}, line {row}", compare=step % 4 == 0)
        stmts = [s for s in editor.model.statements if s.file is new]
        kept = _Calls.kept(new, stmts)
        fresh = _Calls.of(new, stmts)
        assert kept.calls == fresh.calls and kept.starts == fresh.starts, step
        assert kept.keys == fresh.keys, step
        assert [[id(s) for s in g] for g in kept.groups] == [
            [id(s) for s in g] for g in fresh.groups
        ]
        assert [id(s) for s in kept.rest] == [id(s) for s in fresh.rest]
        for cls in editor.model.classes:
            if cls.file is new:
                members, whole = _Members.kept(cls), _Members.of(cls)
                assert (members is None) == (whole is None)
                if members is not None and whole is not None:
                    assert members.nodes == whole.nodes and members.starts == whole.starts
                    assert members.texts == whole.texts and members.head == whole.head
                    assert members.positions == whole.positions, step
                    assert members.errors == whole.errors
    assert CALLS_COUNTS["carried"] - carried >= 20
    assert MEMBERS_COUNTS["carried"] - members_carried >= 10, MEMBERS_COUNTS


def test_typing_in_the_benchmark_file_is_spliced(tmp_path: Path) -> None:
    """What bench/keystroke.py does (a letter at the end of a random line, then deleted): the
    model carries the other members over, except outside the class; the deletion finds the
    region's facts by its text (read when the letter was typed)."""
    editor, text = _big_editor(tmp_path, 600, 1)
    lines = text.encode().split(b"\n")
    rng = random.Random(1)
    reasons: list[str] = []
    by_text = splice.FACTS_COUNTS["by text"]
    for _ in range(30):
        row = rng.randrange(len(lines))
        edited = editor.edit(
            b"\n".join([*lines[:row], lines[row] + b"x", *lines[row + 1 :]]), f"line {row}"
        )
        if edited.memo.get("splice") is None:
            reasons.append(str(edited.memo.get("no_splice")))
        editor.edit(b"\n".join(lines), f"line {row} again")
    assert len(reasons) <= 6, reasons
    # the letter deleted: the region's facts are those of its text before the letter
    assert splice.FACTS_COUNTS["by text"] - by_text >= 20


def test_a_region_of_the_type_index_is_the_whole_tree_s() -> None:
    """walk_type on a small node of a tree whose index is not built queries that node's range
    alone: the same nodes in the same order as the whole tree's index gives."""
    kinds = ["call_expression", "identifier", "string", "ERROR", ";", "statement_block"]
    for path in sorted((EXAMPLES / "rate-limiter" / "src").glob("*.ts")):
        data = path.read_bytes()
        whole = parse_source(path, data)
        scopes = list(walk_type(whole.root, "method_definition", "statement_block"))
        for scope in scopes[:40]:
            alone = parse_source(path, data)
            node = alone.root.descendant_for_byte_range(scope.start_byte, scope.end_byte)
            while node is not None and node.type != scope.type:
                node = node.parent
            assert node is not None
            for kind in kinds:
                got = [(n.type, n.start_byte, n.end_byte) for n in walk_type(node, kind)]
                want = [(n.type, n.start_byte, n.end_byte) for n in walk_type(scope, kind)]
                assert got == want, (path.name, scope.start_byte, kind)
            if (scope.end_byte - scope.start_byte) * 4 <= len(data):
                assert alone.memo["type_index"]._by_type is None, "the whole tree was indexed"


def test_reasons_to_extract_the_whole_file(tmp_path: Path) -> None:
    root = splice_project(tmp_path)
    path = root / "src" / "store.ts"
    editor = Editor(root, path)
    text = path.read_text()
    cases = {
        "the constructor's parameters": text.replace("env: unknown) {", "env: never) {"),
        # a string constant's text is spliced (its callers read again), not a `let`
        "a top-level lexical_declaration": text.replace("const LOCAL_SCHEMA", "let LOCAL_SCHEMA"),
        "the region states other facts": text.replace(
            "setTimeout(", "this.db = this.ctx.storage.sql;\n    setTimeout("
        ),
    }
    for reason, new in cases.items():
        assert new != text
        edited = editor.edit(new.encode(), reason)
        assert edited.memo.get("splice") is None
        assert re.search(reason, str(edited.memo.get("no_splice"))), edited.memo.get("no_splice")
        editor.edit(text.encode(), f"{reason} undone")


def test_the_line_index_of_an_edited_buffer() -> None:
    """LineIndex.edited (a re-parse's line starts, carried from the previous version) is the
    index of the new buffer, for insertions, deletions and replacements anywhere, with and
    without line breaks (and built afresh where a `\\r` is)."""
    from durable_harden.analyzers.source import LineIndex

    rng = random.Random(5)
    for base in (b"", b"\n", b"a\nbc\n\nd", b"one\ntwo\nthree\n", b"x\r\ny\n", b"x\ry"):
        for _ in range(200):
            start = rng.randrange(len(base) + 1)
            old_end = rng.randrange(start, len(base) + 1)
            inserted = bytes(rng.choice(b"ab\n\n\r") for _ in range(rng.randrange(4)))
            data = base[:start] + inserted + base[old_end:]
            carried = LineIndex.edited(LineIndex(base), data, start, old_end, start + len(inserted))
            fresh = LineIndex(data)
            assert (carried.line_starts, carried.lone_cr) == (fresh.line_starts, fresh.lone_cr)


SHARED_SQL = """import { DurableObject } from "cloudflare:workers";

const LIST = "SELECT id, owner FROM items WHERE owner = ?";

export class Store extends DurableObject {
  first(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(LIST, owner).toArray();
  }

  second(owner: string): unknown[] {
    // typed here
    return this.ctx.storage.sql.exec(LIST, owner).toArray();
  }

  help(): string {
    return "SELECT owner FROM items WHERE id = 1";
  }

  third(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(LIST, owner).toArray();
  }
}
"""


def test_a_constant_run_by_calls_inside_and_outside_the_edit(tmp_path: Path) -> None:
    """One SQL constant run by three calls (one statement after the dedupe, by the literal's
    place), a loose literal: edits inside the middle caller carry every result over (the model
    reads the moved statements' literal starts and dedupe keys as numbers), and the model
    equals a whole extraction each time, above and below the edit."""
    worker = tmp_path / "worker"
    (worker / "src").mkdir(parents=True)
    path = worker / "src" / "store.ts"
    path.write_text(SHARED_SQL)
    editor = Editor(worker, path)
    data = SHARED_SQL.encode()
    for step, typed in enumerate([b"x", b"yz", b"-", b" and more"]):
        data = data.replace(b"// typed here", b"// typed here" + typed, 1)
        whole = splice.COUNTS["whole"]
        editor.edit(data, f"step {step}: {typed!r}")
        assert splice.COUNTS["whole"] == whole, "a result extracted whole"
        runs = [s for s in editor.model.statements if s.text.startswith("SELECT id, owner")]
        assert len(runs) == 1, "the constant's statement, once after the dedupe"
        assert [s for s in editor.model.statements if s.loose], "the loose literal"
    assert editor.spliced == 4


_FACTS_CLASS = """
export class Facts extends DurableObject {
  sql: SqlStorage;
  cache = new Map<string, number>();
  static readonly LIMIT = "100";
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
  }
  read(id: string): number {
    const QUERY = "SELECT n FROM items WHERE id = ?";
    const row = this.sql.exec(QUERY, id).one();
    return Number(row.n) + 1;
  }
  store(state: DurableObjectState, n: number): void {
    const db = new Database(state);
    this.total = n;
    db.run(n);
  }
  helper(): number {
    return this.cache.size;
  }
  makeOne() {
    return new (class Inner {})();
  }
  withInner(n: number): number {
    const Made = class {};
    let total = n;
    total += 1;
    total *= 2;
    total -= 3;
    return total + String(Made).length;
  }
}
"""


def test_facts_untouched_only_when_they_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The splice compares what the rest of a file reads of the edited members (aliases, typed
    parameters, string constants, type notes: `_read_facts`) before and after an edit, and
    skips reading them when no node they come from meets the edit or a range whose syntax
    changed, but subtrees the new tree shares (`_facts_untouched`). Random edits in a class
    full of such facts (typing into an alias, a parameter's type, a constant's name, a field,
    a class expression …) and in the benchmark's file: wherever the splice skipped them, the
    facts read from both versions are equal, and the skip happens often."""
    verdicts: list[tuple[Any, SourceFile, list[Node], list[Node], bool]] = []
    checked = splice._facts_untouched

    def recording(
        previous: Any, new: SourceFile, lo: int, hi: int, old: list[Node], now: list[Node]
    ) -> bool:
        verdict = checked(previous, new, lo, hi, old, now)
        verdicts.append((previous, new, old, now, verdict))
        return verdict

    monkeypatch.setattr(splice, "_facts_untouched", recording)
    rng = random.Random(7)
    typed = [
        "x", "x", "x", "y1", "", "", "", " ", " ", "\n", "=", " = new Foo()", ": SqlStorage",
        ": DurableObjectState", "const Q = 'a';", "class", "(", ";", "sql", ".", "'", "this.",
    ]  # fmt: skip
    texts = [_FACTS_CLASS * 3, _big_file(120, 7)]
    differ = 0
    untouched = splice.FACTS_UNTOUCHED_COUNTS["untouched"]
    for text in texts:
        data = text.encode()
        file = parse_source(Path("facts.ts"), data)
        for _ in range(400):
            at = rng.randrange(len(data))
            what = rng.choice(typed).encode()
            edited = data[:at] + what + data[at + (0 if what else 1) :]
            new = reparse(file, edited)
            verdicts.clear()
            splice.splice_of(new)
            for previous, now, old_members, new_members, verdict in verdicts:
                try:
                    before = splice._read_facts(previous.file, old_members, None)
                    after = splice._read_facts(now, new_members, None)
                except splice.NoSplice:
                    assert not verdict, (at, what)
                    continue
                if verdict:
                    assert before == after, (at, what)
                differ += before != after
            # the next edit starts from this version (a chain, as in an editor) or from the text
            if rng.random() < 0.2:
                data, file = edited, new
    assert splice.FACTS_UNTOUCHED_COUNTS["untouched"] - untouched >= 25
    assert differ >= 10  # edits that changed the facts were among them (and not skipped)


def _points(node: Node) -> list[Any]:
    found = []
    stack = [node]
    while stack:
        node = stack.pop()
        found.append((node.type, node.start_byte, node.start_point, node.end_point))
        stack.extend(node.children)
    return found


def test_a_re_parsed_file_s_line_index_and_points() -> None:
    """A file re-parsed after chains of edits (no line index handed in: the re-parse carries
    its own as pieces, `ShiftedLines`, and takes the edit's new end point from it): its line
    index answers like a fresh one's before and after its list is built, and every node of
    its tree has the points a fresh parse gives (a wrong new end point shifts them)."""
    from durable_harden.analyzers.source import LineIndex, ShiftedLines

    rng = random.Random(11)
    base = _FACTS_CLASS.encode()
    for crlf in (False, True):
        data = base.replace(b"\n", b"\r\n") if crlf else base
        file = parse_source(Path("lines.ts"), data)
        pieces = 0
        for step in range(120):
            at = rng.randrange(len(data) + 1)
            cut = rng.choice([0, 0, 1, 2, 5])
            typed = rng.choice([b"x", b"\n", b"\n\n  y", b"", b" ", b"ab\ncd"])
            data = data[:at] + typed + data[at + cut :]
            file = reparse(file, data)
            lines = file.lines
            pieces += isinstance(lines, ShiftedLines)
            fresh = LineIndex(data)
            for offset in rng.sample(range(len(data) + 1), 20):
                assert lines.row_of(offset) == fresh.row_of(offset), (step, offset)
                assert lines.point(offset) == fresh.point(offset), (step, offset)
            assert _points(file.root) == _points(parse_source(Path("x.ts"), data).root), step
            if step % 9 == 0:
                assert lines.line_starts == fresh.line_starts
        assert pieces == (0 if crlf else 120)


def test_typing_in_top_level_constants_reads_their_callers_again(tmp_path: Path) -> None:
    """tests/test_speed_incremental.py's typing in top-level constants, below the engine: each
    keystroke's model equals a whole extraction of the same tree (every statement's text,
    offsets and nodes: those of the calls that run the edited constant read again)."""
    from tests.test_speed_incremental import CONSTANTS_FILE, constant_typing

    worker = tmp_path / "worker"
    (worker / "src").mkdir(parents=True)
    path = worker / "src" / "store.ts"
    path.write_text(CONSTANTS_FILE)
    editor = Editor(worker, path)
    for what, text, spliced in constant_typing():
        edited = editor.edit(text.encode(), what)
        if spliced is not None:
            assert (edited.memo.get("splice") is not None) == spliced, what
    assert editor.spliced >= 60


@pytest.mark.parametrize("seed", [random.randrange(1 << 30)])
def test_random_typing_in_top_level_constants(tmp_path: Path, seed: int) -> None:
    """Characters typed into and deleted from the top-level string constants of
    tests/test_speed_incremental.py's CONSTANTS_FILE at random (a `;` splitting a statement,
    a quote or backquote ending the literal early, a `${`, a `\\`; seed printed): the model
    after each keystroke equals a whole extraction of the same tree."""
    from tests.test_speed_incremental import CONSTANTS_FILE

    print(f"random typing in constants, seed {seed}")
    rng = random.Random(seed)
    worker = tmp_path / "worker"
    (worker / "src").mkdir(parents=True)
    path = worker / "src" / "store.ts"
    path.write_text(CONSTANTS_FILE)
    editor = Editor(worker, path)
    data = CONSTANTS_FILE.encode()
    letters = [b" ", b"x", b"?", b";", b",", b"(", b")", b"'", b"\\", b"$", b"{", b"}"]
    for step in range(60):
        # a literal of a top-level `const` (the text typed so far may have broken it)
        places = [
            m.end() for m in re.finditer(rb"^(?:export )?const \w+ = [\"`]", data, flags=re.M)
        ]
        if not places:
            break
        start = rng.choice(places)
        end = data.find(b"\n", start)
        at = rng.randrange(start, max(start + 1, end))
        if rng.random() < 0.25 and at > start:
            data = data[: at - 1] + data[at:]
            what = "deleted"
        else:
            typed = rng.choice([*letters, b"`", b'"'] if rng.random() < 0.1 else letters)
            data = data[:at] + typed + data[at:]
            what = f"typed {typed!r}"
        editor.edit(data, f"step {step}, {what} at {at} (seed {seed})")
    assert editor.spliced >= 10
