"""The rules and the report's fixes made cheaper on a cold check (issue 14, docs/performance.md
"Issue 14: the rules, cheaper on a cold check") give the answers of the work they replace: the
sqlglot searches, a trial index's catalogue, the queries an index would reorder, the shell
scripts of a Worker, a package.json blanked but for its scripts, the configs binding a class,
the line-ending check of a fix's edits, the delete kinds of a statement without DELETE or DROP,
and a fix module imported alone. No timing is asserted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from durable_harden.analyzers import model as model_mod
from durable_harden.analyzers.analysis import Settings, analyze_paths, workspace_for
from durable_harden.analyzers.rules import all_rules
from durable_harden.analyzers.rules import rollout_unsafe as rollout
from durable_harden.analyzers.rules._sql import _delete_kinds, delete_kinds
from durable_harden.analyzers.schema import Schema
from durable_harden.analyzers.sql import exp, find_all, find_first
from durable_harden.codeactions import _builders_of, builders, specs
from durable_harden.codeactions import sql_missing_index as index_fix
from durable_harden.codeactions._style import Style, uses_crlf
from tests.conftest import (
    EXAMPLES,
    MINIMAL_WRANGLER,
    catalogue_of,
    generate_monorepo,
    sql_class_model,
    write_tree,
)

TYPES = [
    (exp.CTE,),
    (exp.Table,),
    (exp.Where,),
    (exp.Join,),
    (exp.Column,),
    (exp.Select, exp.Limit),
    (exp.LT, exp.LTE, exp.GT, exp.GTE),
    (exp.AggFunc,),
    (exp.Placeholder,),
    (exp.Expression,),
]


@pytest.fixture(scope="module")
def examples_model() -> model_mod.ProjectModel:
    ws = workspace_for([EXAMPLES])
    return model_mod.build_model(ws.root, ws.sources, ws.configs)


def test_find_all_and_find_first_walk_as_sqlglot_does(examples_model) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for stmt in examples_model.statements:
        expression = stmt.expression
        if expression is None:
            continue
        for node in expression.walk():  # every subtree, as the rules search from a WHERE too
            for types in TYPES:
                ours, theirs = find_all(node, *types), list(node.find_all(*types))
                assert len(ours) == len(theirs), (stmt.text, types)
                assert all(a is b for a, b in zip(ours, theirs, strict=True)), (stmt.text, types)
                assert find_first(node, *types) is node.find(*types)
                checked += 1
    assert checked > 1000


def _read_afresh(schema: Schema) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The catalogue of `schema`'s database read whole, as Schema._read_catalogue reads it."""
    fresh = Schema.__new__(Schema)
    fresh.db = schema.db
    fresh.tables, fresh.indexes = {}, {}
    fresh._statement_of_table = dict(schema._statement_of_table)
    fresh._statement_of_index = dict(schema._statement_of_index)
    fresh._read_catalogue()
    return catalogue_of(fresh)


DDL = """
CREATE TABLE IF NOT EXISTS rooms (id INTEGER PRIMARY KEY, name TEXT UNIQUE, owner TEXT);
CREATE TABLE IF NOT EXISTS messages (room INTEGER, at INTEGER, body TEXT, PRIMARY KEY (room, at));
CREATE INDEX IF NOT EXISTS idx_messages_at ON messages(at);
CREATE TABLE IF NOT EXISTS tags (tag TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (at INTEGER, what TEXT);
"""


def _schema_project(tmp_path: Path, view: bool = False) -> model_mod.ProjectModel:
    ddl = DDL + ("CREATE VIEW IF NOT EXISTS recent AS SELECT * FROM log;\n" if view else "")
    queries = [
        "SELECT body FROM messages WHERE at > ?",
        "SELECT what FROM log WHERE what = ?",
        "SELECT what FROM log WHERE at > ? AND what = ?",
        "SELECT name FROM rooms WHERE owner = ?",
        "SELECT n FROM tags WHERE n > ?",
        "SELECT what FROM recent WHERE at > ?" if view else "SELECT 1",
    ]
    return sql_class_model(tmp_path, ddl, queries)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "index",
    [
        "CREATE INDEX IF NOT EXISTS idx_log_at ON log(at)",
        "CREATE INDEX IF NOT EXISTS idx_log_at_what ON log(at, what)",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_rooms_owner ON rooms(owner)",
        "CREATE INDEX IF NOT EXISTS idx_tags_n ON tags(n)",
        "CREATE INDEX IF NOT EXISTS idx_messages_at ON messages(body)",  # exists: no change
        "CREATE INDEX IF NOT EXISTS idx_messages_body ON messages(body, at)",
    ],
)
def test_a_trial_index_reads_the_catalogue_as_a_whole_read_does(tmp_path: Path, index: str) -> None:
    schema = _schema_project(tmp_path).schema_for(tmp_path / "src/index.ts")
    assert {"rooms", "messages", "tags", "log"} <= set(schema.tables)
    trial = schema.with_index(index)
    assert catalogue_of(trial) == _read_afresh(trial)
    assert trial.tables_key == schema.tables_key != trial.content_key
    # and a second trial from the same base (the base's index names read once)
    other = schema.with_index("CREATE INDEX IF NOT EXISTS idx_log_what ON log(what)")
    assert catalogue_of(other) == _read_afresh(other)
    # a broken index still fails as it did
    with pytest.raises(sqlite3.Error):
        schema.with_index("CREATE INDEX IF NOT EXISTS idx_x ON nowhere(x)")


@pytest.mark.parametrize("view", [False, True])
def test_reordered_queries_among_those_naming_the_table(tmp_path: Path, view: bool) -> None:
    """Only queries whose text names the table can read its index (a view can: then every
    query is planned)."""
    model = _schema_project(tmp_path, view)
    path = tmp_path / "src/index.ts"
    schema = model.schema_for(path)
    assert schema.has_views is view

    def every_query(table: str, columns: list[str]) -> list[str]:
        original = Schema.has_views
        try:
            Schema.has_views = property(lambda self: True)  # type: ignore[assignment,method-assign]
            return index_fix.reordered_queries(model, schema, path, table, columns)
        finally:
            Schema.has_views = original  # type: ignore[method-assign]

    for table, columns in [("log", ["at"]), ("log", ["what", "at"]), ("messages", ["at"])]:
        found = index_fix.reordered_queries(model, schema, path, table, columns)
        assert found == every_query(table, columns)
    reordered = index_fix.reordered_queries(model, schema, path, "log", ["at"])
    assert "SELECT what FROM log WHERE at > ? AND what = ?" in reordered
    if view:  # the view's query reads log's new index
        assert "SELECT what FROM recent WHERE at > ?" in reordered


def test_delete_kinds_of_a_text_without_delete_or_drop_is_empty(examples_model) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for stmt in examples_model.statements:
        schema = examples_model.schema_for(stmt.file.path)
        assert delete_kinds(stmt, schema) == _delete_kinds(stmt, schema), stmt.text
        seen += bool(_delete_kinds(stmt, schema))
    assert seen > 5


def test_shell_scripts_are_what_rglob_finds_outside_the_skipped_folders(tmp_path: Path) -> None:
    root = tmp_path / "w"
    for folder in ["a/b", "node_modules/x", ".hidden", "dir.sh/in", "a/dist", "real", ".git/h"]:
        (root / folder).mkdir(parents=True)
    for name in [
        "a.sh",
        "a/b/c.sh",
        "a/b/build.sh",
        "node_modules/x/y.sh",
        ".hidden/h.sh",
        "dir.sh/in/z.sh",
        "a/dist/q.sh",
        "B.SH",
        ".sh",
        "real/r.sh",
        ".git/h/hook.sh",
        "notes.shx",
    ]:
        (root / name).write_text("wrangler deploy\n")
    (root / "a/link").symlink_to(root / "real")  # a folder link is not walked into
    (root / "top.sh").symlink_to(root / "real/r.sh")
    (root / "broken.sh").symlink_to(root / "nowhere")
    expected = sorted(
        p for p in root.rglob("*.sh") if not rollout.SKIPPED_DIRS & set(p.relative_to(root).parts)
    )
    assert sorted(rollout._shell_scripts(root)) == expected
    assert len(expected) == 10
    assert rollout._shell_scripts(tmp_path / "missing") == []


def test_package_json_blanked_but_its_scripts() -> None:
    data = (
        b'{\n  "name": "w",\r\n  "scripts": {\n    "deploy": "wrangler deploy",\n'
        b'    "up": "wrangler versions upload"\n  },\n  "x": "\xc3\xa9"\n}\n'
    )
    blanked = rollout._package_scripts_only(Path("package.json"), data)
    assert len(blanked) == len(data)
    assert blanked.count(b"\n") == data.count(b"\n") + 2  # each command ends its line
    assert b"wrangler deploy" in blanked and b"wrangler versions upload" in blanked
    assert b"name" not in blanked and b"\xc3" not in blanked
    every = bytes(range(256))
    assert every.translate(rollout._BLANK_BUT_NEWLINES) == bytes(
        0x0A if b == 0x0A else 0x20 for b in every
    )


def test_configs_binding_is_the_scan_of_every_binding(tmp_path: Path) -> None:
    generate_monorepo(tmp_path / "mono", 60)
    ws = workspace_for([tmp_path / "mono"])
    model = model_mod.build_model(ws.root, ws.sources, ws.configs)
    names = {b.class_name for c in model.configs for b in c.bindings} | {"Nowhere"}
    assert len(model.configs) > 1 and len(names) > 5
    for name in sorted(names):
        scan = [c for c in model.configs if any(b.class_name == name for b in c.bindings)]
        assert model.configs_binding(name) == scan
        assert all(a is b for a, b in zip(model.configs_binding(name), scan, strict=True))
    # a model whose configs list changes answers for the new list
    model.configs = model.configs[:1]
    for name in sorted(names):
        scan = [c for c in model.configs if any(b.class_name == name for b in c.bindings)]
        assert model.configs_binding(name) == scan


@pytest.mark.parametrize(
    "data",
    [b"", b"a", b"a\nb\n", b"a\r\nb\r\n", b"a\r\nb\nc\n", b"a\r\nb\r\nc\n", b"\r\n", b"\r\r\n\n"],
)
def test_uses_crlf_is_the_style_detector_answer(data: bytes) -> None:
    assert uses_crlf(data) == Style.of(data).crlf


def test_a_fix_module_imported_alone_gives_the_registry_builder() -> None:
    # each rule's builders, looked up before the registry is loaded, are the registry's
    specs.cache_clear()
    try:
        alone = {rule.id: _builders_of(rule.id) for rule in all_rules()}
        assert specs.cache_info().currsize == 0  # no rule needed the whole registry
    finally:
        specs.cache_clear()
    registry = builders()
    for rule in all_rules():
        assert alone[rule.id] == registry.get(rule.id, []), rule.id


def test_findings_and_fixes_of_the_generated_monorepo_are_stable(tmp_path: Path) -> None:
    """One pass over a generated monorepo: every rule runs on a model where each cheaper path
    is taken (scopes with and without DELETE, several configs, setAlarm in many classes), and
    the report's fixes are built twice, the second time without the shared answers."""
    from durable_harden.codeactions import fixes_for

    generate_monorepo(tmp_path / "mono", 120)
    result = analyze_paths([tmp_path / "mono"], Settings())
    assert len(result.findings) > 50

    def described(finding: object) -> list[tuple[str, str, str]]:
        return [
            (fix.title, fix.safety.value, repr(fix.edits))
            for fix in fixes_for(finding, result.model)  # type: ignore[arg-type]
        ]

    shared = [described(f) for f in result.findings]
    for key in [k for k in result.model.memo if k.startswith("sql-missing-index:")]:
        result.model.memo.pop(key)
    fresh = [described(f) for f in result.findings]
    assert shared == fresh
    assert any(fixes for fixes in shared)


def test_shared_sql_answers_are_each_schemas_own(tmp_path: Path) -> None:
    """table_uses shared between Worker scopes whose tables have the same columns, the table an
    INSERT writes once per text, a table's indexes grouped once per schema: each the answer
    computed afresh for that statement and schema."""
    from durable_harden.analyzers.rules._sql import (
        _inserted_table,
        _table_uses,
        inserted_table,
        table_uses,
    )

    generate_monorepo(tmp_path / "mono", 120)
    ws = workspace_for([tmp_path / "mono"])
    model = model_mod.build_model(ws.root, ws.sources, ws.configs)
    scopes = {id(model.schema_for(s.file.path)) for s in model.statements}
    assert len(scopes) > 1
    checked = 0
    for stmt in model.statements:
        schema = model.schema_for(stmt.file.path)
        assert inserted_table(stmt) == _inserted_table(stmt), stmt.text
        if stmt.expression is not None:
            assert table_uses(stmt.expression, schema) == _table_uses(stmt.expression, schema)
            checked += 1
        for name in schema.tables:
            expected = [i for i in schema.indexes.values() if i.table.lower() == name.lower()]
            assert schema.indexes_of(name) == expected
            assert schema.indexes_of(name.upper()) == expected
    assert checked > 100


def _worker(ddl: str, query: str) -> str:
    return (
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Box extends DurableObject {\n"
        "  constructor(ctx: DurableObjectState, env: unknown) {\n"
        "    super(ctx, env);\n"
        f"    this.ctx.storage.sql.exec(`{ddl}`);\n"
        "  }\n"
        f'  read() {{ return this.ctx.storage.sql.exec("{query}", 1).toArray(); }}\n'
        "}\n"
    )


def test_table_uses_differ_between_scopes_whose_tables_differ(tmp_path: Path) -> None:
    """The same query in two Worker projects whose tables have other columns: `b` belongs to
    `t` in one and to `u` in the other, so the query filters another table."""
    from durable_harden.analyzers.rules._sql import _table_uses, table_uses

    query = "SELECT t.a FROM t JOIN u ON t.id = u.tid WHERE b = ?"
    one = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT, b TEXT); CREATE TABLE IF NOT EXISTS u (tid INTEGER, c TEXT);"
    two = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT); CREATE TABLE IF NOT EXISTS u (tid INTEGER, b TEXT);"
    write_tree(
        tmp_path,
        {
            "one/wrangler.jsonc": MINIMAL_WRANGLER,
            "one/src/index.ts": _worker(one, query),
            "two/wrangler.jsonc": MINIMAL_WRANGLER,
            "two/src/index.ts": _worker(two, query),
        },
    )
    ws = workspace_for([tmp_path])
    model = model_mod.build_model(ws.root, ws.sources, ws.configs)
    found = {}
    for stmt in model.statements:
        if stmt.text != query:
            continue
        schema = model.schema_for(stmt.file.path)
        uses = table_uses(stmt.expression, schema)
        assert uses == _table_uses(stmt.expression, schema)
        found[stmt.file.path.parent.parent.name] = {t: u.eq for t, u in uses.items()}
    assert found == {"one": {"t": ["b"], "u": []}, "two": {"t": [], "u": ["b"]}}
