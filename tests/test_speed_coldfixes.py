"""The report's fixes made cheaper on a cold check (issue 14, docs/performance.md "Issue 14: cold
rules and report fixes (session 7)") give the answers of the work they replace: a trial index
tried on its catalogue's bench (one copy of the database, each index created there while it
plans and dropped for the next) plans and reads the catalogue as a copy of the database per
trial did, in any order of trials, from any schema of the same catalogue, on two threads at
once; schemas of one catalogue share their plans. No timing is asserted."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from durable_harden.analyzers import model as model_mod
from durable_harden.analyzers.schema import Schema
from durable_harden.codeactions import sql_missing_index as index_fix
from tests.conftest import catalogue_of, sql_class_model

DDL = """
CREATE TABLE IF NOT EXISTS rooms (id INTEGER PRIMARY KEY, name TEXT UNIQUE, owner TEXT);
CREATE TABLE IF NOT EXISTS messages (room INTEGER, at INTEGER, body TEXT, PRIMARY KEY (room, at));
CREATE INDEX IF NOT EXISTS idx_messages_at ON messages(at);
CREATE TABLE IF NOT EXISTS tags (tag TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (at INTEGER, what TEXT, who TEXT);
"""

QUERIES = [
    "SELECT body FROM messages WHERE at > ?",
    "SELECT body FROM messages WHERE body = ? ORDER BY at",
    "SELECT what FROM log WHERE what = ?",
    "SELECT what FROM log WHERE at > ? AND what = ?",
    "SELECT what FROM log WHERE who = ? ORDER BY at DESC LIMIT 5",
    "SELECT name FROM rooms WHERE owner = ?",
    "SELECT n FROM tags WHERE n > ?",
    "SELECT l.what FROM log l JOIN rooms r ON r.owner = l.who WHERE r.name = ?",
]

INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_log_at ON log(at)",
    "CREATE INDEX IF NOT EXISTS idx_log_what_at ON log(what, at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_rooms_owner ON rooms(owner)",
    "CREATE INDEX IF NOT EXISTS idx_tags_n ON tags(n)",
    "CREATE INDEX IF NOT EXISTS idx_messages_at ON messages(body)",  # exists: no change
    "CREATE INDEX IF NOT EXISTS idx_messages_body ON messages(body, at)",
    "CREATE INDEX IF NOT EXISTS idx_log_who ON log(who)",
    "CREATE INDEX IF NOT EXISTS idx_log_who_at ON log(who, at)",
]


def _project(root: Path) -> model_mod.ProjectModel:
    return sql_class_model(root, DDL, QUERIES)  # type: ignore[no-any-return]


def _plans(schema: Schema) -> list[tuple[list[str], str | None]]:
    return [([s.detail for s in p.steps], p.error) for p in map(schema.plan, QUERIES)]


def _copied_plans(schema: Schema, sql: str) -> list[tuple[list[str], str | None]]:
    """What a copy of the database with the index plans (no memo shared with the bench)."""
    db = sqlite3.connect(":memory:")
    schema.db.backup(db)
    db.execute(sql)
    copy = Schema.__new__(Schema)
    copy.db = db
    return [([s.detail for s in p.steps], p.error) for p in map(copy._plan, QUERIES)]


def _schema(root: Path) -> Schema:
    return _project(root).schema_for(root / "src/index.ts")


def test_trials_on_the_bench_plan_as_copies_do_in_any_order(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    assert {"rooms", "messages", "tags", "log"} <= set(schema.tables)
    # interleaved: each trial plans after others were put on the bench and taken off
    order = INDEXES + INDEXES[::-1] + INDEXES[::2] + INDEXES[1::2]
    for sql in order:
        trial = schema.with_index(sql)
        assert trial._bench is not None and trial._db is None  # planned on the bench
        trial.__dict__["_plans"] = {}  # ask SQLite again, not the shared memo
        assert _plans(trial) == _copied_plans(schema, sql), sql
        # its catalogue is what a copy with the index reads (and `db` is then its own copy)
        copied = schema._copied(sql)
        assert catalogue_of(trial) == catalogue_of(copied)
        assert trial.content_key == copied.content_key != schema.content_key
        assert trial.tables_key == schema.tables_key
    # the base's own plans never see a trial's index
    assert _plans(schema) == _copied_plans(schema, "SELECT 1")
    # a new index was used somewhere (the comparison is not between plans that ignore them)
    used = {d for sql in INDEXES for steps, _ in _plans(schema.with_index(sql)) for d in steps}
    assert any("idx_log_what_at" in d for d in used)
    assert any("idx_tags_n" in d for d in used)


def test_a_broken_trial_fails_as_a_copy_did_and_leaves_the_bench_usable(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    good = INDEXES[1]
    before = _plans(schema.with_index(good))
    for broken in [
        "CREATE INDEX IF NOT EXISTS idx_x ON nowhere(x)",
        "CREATE INDEX idx_messages_at ON messages(body)",  # the name exists: an error
        "CREATE INDEX IF NOT EXISTS idx_y ON log(nothere)",
        # a name the catalogue's PRAGMA cannot be asked about (after the index is made: the
        # bench must still take it off for the next trial)
        'CREATE INDEX IF NOT EXISTS "idx ""odd"" name" ON log(who, at)',
    ]:
        with pytest.raises(sqlite3.Error):
            schema.with_index(broken)
        with pytest.raises(sqlite3.Error):
            schema._copied(broken)
    again = schema.with_index(good)
    again.__dict__["_plans"] = {}
    assert _plans(again) == before == _copied_plans(schema, good)


def test_schemas_of_one_catalogue_share_plans_and_trials(tmp_path: Path) -> None:
    first = _schema(tmp_path / "a")
    second = _schema(tmp_path / "b")  # another project, the same DDL: the same catalogue
    assert first is not second and first.content_key == second.content_key
    assert first._shared is second._shared and first.db is second.db
    first.plan(QUERIES[0])
    assert second.__dict__["_plans"] is first.__dict__["_plans"]
    sql = INDEXES[0]
    one, two = first.with_index(sql), second.with_index(sql)
    assert one is not two and one._bench is two._bench
    assert one.__dict__["_plans"] is two.__dict__["_plans"]
    # each names its own project's statements
    create_one = one.table("log").create  # type: ignore[union-attr]
    create_two = two.table("log").create  # type: ignore[union-attr]
    assert create_one is not None and create_two is not None
    assert create_one.file.path != create_two.file.path


def test_a_trial_of_a_trial_sees_the_first_index(tmp_path: Path) -> None:
    """schema-change-without-migration's fix chains ALTER TABLE trials: a trial of a bench trial
    is a copy of the bench with that trial's index."""
    schema = _schema(tmp_path)
    trial = schema.with_index(INDEXES[1])
    schema.with_index(INDEXES[0])  # another index on the bench meanwhile
    chained = trial.with_index('ALTER TABLE "log" ADD COLUMN "extra"')
    assert chained._bench is None and chained._db is not None
    names = {row[1] for row in chained.db.execute('PRAGMA index_list("log")').fetchall()}
    assert "idx_log_what_at" in names and "idx_log_at" not in names
    columns = [row[1] for row in chained.db.execute('PRAGMA table_info("log")').fetchall()]
    assert columns[-1] == "extra"


def test_two_threads_trying_indexes_on_one_bench(tmp_path: Path) -> None:
    """The language server builds fixes and analyses on different threads: each trial plans
    with its own index in place."""
    schema = _schema(tmp_path)
    expected = {sql: _copied_plans(schema, sql) for sql in INDEXES}
    failures: list[str] = []

    def run(order: list[str]) -> None:
        for _ in range(20):
            for sql in order:
                trial = schema.with_index(sql)
                got = [([s.detail for s in p.steps], p.error) for p in map(trial._plan, QUERIES)]
                if got != expected[sql]:
                    failures.append(sql)

    threads = [threading.Thread(target=run, args=(o,)) for o in (INDEXES, INDEXES[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_reordered_queries_from_the_scope_selects(tmp_path: Path) -> None:
    """The scope's SELECTs without ORDER BY, gathered once, answer as the walk of every
    statement did (a statement list of the model's own, in order)."""
    model = _project(tmp_path)
    path = tmp_path / "src/index.ts"
    selects = index_fix._unordered_selects(model, path)
    expected = [
        stmt
        for stmt in model.statements_in_scope(path)
        if not stmt.loose
        and stmt.expression is not None
        and stmt.expression.key == "select"
        and stmt.expression.args.get("order") is None
    ]
    assert [s for s, _ in selects] == expected
    assert all(lowered == s.text.lower() for s, lowered in selects)
    assert index_fix._unordered_selects(model, path) is selects  # once per scope
    found = index_fix.reordered_queries(model, model.schema_for(path), path, "log", ["who"])
    assert "SELECT what FROM log WHERE what = ?" not in found  # reads another index
    assert found  # (the join reads log by who)


TYPE_SETS = [
    ("identifier", "shorthand_property_identifier"),
    ("for_in_statement", "for_statement", "call_expression"),
    ("member_expression",),
]


def test_nodes_within_gives_what_walk_type_gives() -> None:
    """A node walked on its own (a method, a small file's class): the nodes `walk_type` gives,
    in the same order, on every function and class of the example projects."""
    from durable_harden.analyzers.source import read_source
    from durable_harden.analyzers.tsutil import walk_type
    from durable_harden.codeactions import _tsedit
    from tests.conftest import EXAMPLES

    checked = 0
    for path in sorted(EXAMPLES.rglob("*.ts")):
        if "node_modules" in path.parts:
            continue
        file = read_source(path)
        scopes = walk_type(file.root, "class_declaration", "method_definition", "arrow_function")
        for scope in [file.root, *scopes]:
            for types in TYPE_SETS:
                found = _tsedit.nodes_within(file.data, scope, *types)
                assert found == list(walk_type(scope, *types)), (path, scope.start_byte, types)
                checked += len(found)
    assert checked > 1000


def test_member_expressions_named_gives_what_walk_type_gives(tmp_path: Path) -> None:
    """Every member expression of a scope with a given property, as the walk of every member
    expression finds them (the examples, and spellings a fix meets: spaces, `?.`, `!`, private
    names, a word in strings and comments, nested and chained members)."""
    from durable_harden.analyzers.source import read_source
    from durable_harden.analyzers.tsutil import node_text, walk_type
    from durable_harden.codeactions._tsedit import member_expressions_named
    from tests.conftest import EXAMPLES

    odd = tmp_path / "odd.ts"
    odd.write_text(
        "class A {\n  #loop = 1; loop?: number;\n"
        "  m() { this.loop = 2; this . loop; this?.loop!; (this.loop)!.loop; this.#loop;\n"
        '    const s = "this.loop"; // this.loop\n    other.loop.loop(); this.looper; a[loop];\n'
        "    this.x.loop.y.loop; }\n}\nloop.loop;\n"
    )
    paths = [odd, *(p for p in sorted(EXAMPLES.rglob("*.ts")) if "node_modules" not in p.parts)]
    checked = 0
    for path in paths:
        file = read_source(path)
        members = list(walk_type(file.root, "member_expression"))
        props = {
            node_text(file.data, p)
            for m in members
            if (p := m.child_by_field_name("property")) is not None
        }
        scopes = [file.root, *walk_type(file.root, "class_declaration", "method_definition")]
        for scope in scopes:
            everything = list(walk_type(scope, "member_expression"))
            for prop in sorted(props | {"nothing_here"}):
                expected = [
                    m
                    for m in everything
                    if (p := m.child_by_field_name("property")) is not None
                    and node_text(file.data, p) == prop
                ]
                assert member_expressions_named(file, scope, prop) == expected, (path, prop)
                checked += len(expected)
    assert checked > 500


def test_calls_mentioning_a_whole_name_finds_every_call_of_it(tmp_path: Path) -> None:
    """`whole=True` looks only at places where the word is a whole name: every call whose callee
    is the word or ends with `.word` is still found (the callers keep exactly those)."""
    from durable_harden.analyzers.rules._common import calls_mentioning
    from durable_harden.analyzers.source import read_source
    from durable_harden.analyzers.tsutil import node_text, walk_type
    from tests.conftest import EXAMPLES

    odd = tmp_path / "odd.ts"
    odd.write_text(
        "class A {\n  m() { s.get(1); s.getAll(); target(); get(); this.#get(); $get(); get$();\n"
        "    await s.get<T>(k); s?.get!(2); s\n      .get(3); éget(); getté(); s.list().get();\n"
        "    (s.get)(4); s.close(); ws.closed(); onclose(); s['get'](5); // s.get(6)\n  }\n}\n"
    )
    paths = [odd, *(p for p in sorted(EXAMPLES.rglob("*.ts")) if "node_modules" not in p.parts)]

    def name_of(data: bytes, call) -> str:  # type: ignore[no-untyped-def]
        func = call.child_by_field_name("function")
        while func is not None and func.type in {"await_expression", "parenthesized_expression"}:
            func = func.named_children[0] if func.named_children else None
        if func is not None and func.type == "member_expression":
            func = func.child_by_field_name("property")
        return node_text(data, func) if func is not None else ""

    checked = 0
    for path in paths:
        file = read_source(path)
        scopes = [file.root, *walk_type(file.root, "class_declaration", "method_definition")]
        for scope in scopes:
            every = list(walk_type(scope, "call_expression"))
            for words in [("get", "put", "delete", "list"), ("close",), ("setAlarm",)]:
                found = calls_mentioning(file.data, scope, *words, file=file, whole=True)
                assert all(c in every for c in found)
                assert found == sorted(found, key=lambda n: (n.start_byte, -n.end_byte))
                exact = [c for c in every if name_of(file.data, c) in words]
                assert [c for c in found if name_of(file.data, c) in words] == exact, path
                checked += len(exact)
    assert checked > 30


def test_workspace_reported_answers_as_the_ancestor_walk(tmp_path: Path) -> None:
    """Each folder's answer kept: the same answers as looking at every ancestor of each path,
    whatever order the paths come in (absolute and relative, the root, a requested file)."""
    import random

    from durable_harden.analyzers.analysis import Settings, Workspace

    requested = [tmp_path / "a", tmp_path / "b" / "c" / "f.ts", Path("rel/x"), tmp_path / "d"]
    paths = [
        tmp_path / "a" / "s" / "t.ts",
        tmp_path / "a",
        tmp_path / "ab" / "t.ts",
        tmp_path / "b" / "c" / "f.ts",
        tmp_path / "b" / "c" / "g.ts",
        tmp_path / "b" / "t.ts",
        tmp_path / "d" / "e" / "f" / "g.ts",
        tmp_path / "e.ts",
        Path("/"),
        Path("/x.ts"),
        Path("rel/x/y/z.ts"),
        Path("rel/y.ts"),
        Path("z.ts"),
        Path("."),
    ]
    rng = random.Random(7)
    for _ in range(20):
        ws = Workspace(tmp_path, [tmp_path], requested, Settings(), [], [])
        wanted = set(requested)
        order = paths * 2
        rng.shuffle(order)
        for path in order:
            expected = path in wanted or any(p in wanted for p in path.parents)
            assert ws.reported(path) is expected, path
