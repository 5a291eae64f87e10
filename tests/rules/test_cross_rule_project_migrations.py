"""Migration steps go into the project's own migrations list when the constructor runs one
(codeactions/_migrations.py): strings, objects with an id and `sql`/`up`, functions; a runner
that records applied steps, or one that re-runs every step on each start."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from tree_sitter import Node

from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.tsutil import call_args, node_text, string_value, walk_type
from durable_harden.codeactions import fixes_for
from durable_harden.codeactions._migrations import (
    CannotMigrate,
    Mechanism,
    Step,
    StepSql,
    find_mechanism,
    plan_step,
)
from tests.rules._snapshot import expect_file
from tests.rules._sql_support import (
    FIXTURES,
    assert_settled,
    copy_case,
    error_nodes,
    fix_all,
    run,
    tsc,
)

SCHEMA_RULE = "schema-change-without-migration"
TTL_RULE = "unbounded-table-growth"


def _mechanisms(model: ProjectModel) -> dict[str, Mechanism | None]:
    return {cls.name: find_mechanism(cls, model) for cls in model.classes}


def _same_as_after(root: Path, rule: str) -> None:
    after = FIXTURES / rule / "own-migrations-after" / "src"
    for path in sorted(after.glob("*.ts")):
        expect_file((root / "src" / path.name).read_text(), path)


# -- recognising the lists --------------------------------------------------------------------


def test_each_kind_of_list_and_runner_is_recognised(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    _, model = run(SCHEMA_RULE, root)
    found = {
        name: (m.kind, m.name, m.file.path.name, m.records, m.record_table, m.id_key, m.body_key)
        for name, m in _mechanisms(model).items()
        if m is not None
    }
    assert found == {
        # index for-loop in a function of migrations.ts, imported and called in the constructor
        "TaskList": ("strings", "MIGRATIONS", "migrations.ts", True, "_migrations", None, None),
        # for…of with `if (done.has(…)) continue` in a private method, list in schema.ts
        "Ledger": (
            "objects",
            "LEDGER_MIGRATIONS",
            "schema.ts",
            True,
            "schema_migrations",
            "version",
            "sql",
        ),
        # a static field run by a plain for…of: every step on every start
        "Profile": ("functions", "Profile.SCHEMA_STEPS", "profile.ts", False, None, None, None),
        # forEach with `if (id <= current) return` inside blockConcurrencyWhile
        "RoomDirectory": (
            "objects",
            "ROOM_MIGRATIONS",
            "rooms.ts",
            True,
            "_room_migrations",
            "id",
            "up",
        ),
    }


def test_the_fixs_own_list_is_not_mistaken_for_a_project_list(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "fix-before", tmp_path)
    _, model = run(SCHEMA_RULE, root)
    assert all(m is None for m in _mechanisms(model).values())


# -- the column fix -----------------------------------------------------------------------------


def test_missing_columns_are_appended_to_each_list_in_its_style(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    findings, model = run(SCHEMA_RULE, root)
    reviews = {}
    for finding in findings:
        (fix,) = fixes_for(finding, model)
        reviews[finding.data["column"]] = fix.review
    assert "`MIGRATIONS` (src/migrations.ts): the loop in migrate() records" in reviews["archived"]
    assert "in `schema_migrations`, so it runs once" in reviews["memo"]
    assert "re-runs every step on each start" in reviews["avatar_url"]
    assert "pragma_table_info" in reviews["avatar_url"]
    assert "`ROOM_MIGRATIONS` (src/rooms.ts)" in reviews["locked"]
    fix_all(SCHEMA_RULE, root, unsafe=True)
    _same_as_after(root, SCHEMA_RULE)
    assert not (root / "src" / "tasks.ts").read_text().count("SQL_MIGRATIONS")
    assert run(SCHEMA_RULE, root)[0] == []
    for path in (root / "src").glob("*.ts"):
        assert error_nodes(path.read_bytes(), path) == 0, path
    assert_settled(SCHEMA_RULE, root, unsafe=True)
    # the guard the re-run list gets is a PRAGMA the platform allows
    assert run("sql-pragma-not-allowed", root)[0] == []


def test_ttl_step_goes_into_the_project_lists(tmp_path: Path) -> None:
    root = copy_case(TTL_RULE, "own-migrations-before", tmp_path)
    findings, model = run(TTL_RULE, root)
    reviews = {f.data["table"]: fixes_for(f, model)[0].review for f in findings}
    assert "`MIGRATIONS` (src/migrations.ts)" in reviews["events"]
    assert "written as numbers in the step" in reviews["events"]
    assert "re-runs every step on each start" in reviews["visits"]
    assert fix_all(TTL_RULE, root, unsafe=True) == 2
    _same_as_after(root, TTL_RULE)
    assert run(TTL_RULE, root)[0] == []
    assert_settled(TTL_RULE, root, unsafe=True)


# -- lists the fix does not guess at --------------------------------------------------------------


def _step(table: str, column: str) -> Step:
    return Step(
        table=table,
        comments=("test",),
        statements=(
            StepSql(f"ALTER TABLE {table} ADD COLUMN {column}", adds_column=(table, column)),
        ),
        slug=f"add_{column}",
    )


def _plan(root: Path, class_name: str, table: str) -> str:
    """The reason no step is planned for the class."""
    _, model = run(SCHEMA_RULE, root)
    cls = next(c for c in model.classes if c.name == class_name)
    with pytest.raises(CannotMigrate) as exc:
        plan_step(cls, model, _step(table, "extra"), "  ", "  ", '"')
    return str(exc.value)


def test_a_rerun_list_of_plain_strings_gets_no_step(tmp_path: Path) -> None:
    """`for (const step of MIGRATIONS) sql.exec(step)`: every string runs on every start and
    SQL has no ADD COLUMN IF NOT EXISTS; no SQL_MIGRATIONS beside it either."""
    root = copy_case(SCHEMA_RULE, "flagged", tmp_path)
    reason = _plan(root, "Inbox", "mail")
    assert "re-run in full on every start" in reason and "duplicate column" in reason
    # its own `ALTER TABLE mail ADD COLUMN read_at` already fails on the second start
    assert "its ALTER steps already do" in reason
    findings, model = run(SCHEMA_RULE, root)
    assert all(fixes_for(f, model) == [] for f in findings if f.data["kind"] == "no-such-column")


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "src" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_objects_with_keys_the_fix_cannot_fill(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    _edit(
        root,
        "rooms.ts",
        '      sql.exec("ALTER TABLE rooms ADD COLUMN created_at INTEGER");\n    },\n',
        '      sql.exec("ALTER TABLE rooms ADD COLUMN created_at INTEGER");\n    },\n'
        "    down: (sql: SqlStorage) => {\n"
        '      sql.exec("ALTER TABLE rooms DROP COLUMN created_at");\n    },\n',
    )
    assert "keys the fix cannot fill (down)" in _plan(root, "RoomDirectory", "rooms")


def test_a_runner_that_records_but_skips_nothing_visibly(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    _edit(
        root,
        "ledger.ts",
        "      if (done.has(migration.version)) {\n        continue;\n      }\n",
        "",
    )
    assert "no step is visibly skipped" in _plan(root, "Ledger", "entries")


def test_an_unknown_runner_called_from_the_constructor_is_not_bypassed(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    _edit(
        root,
        "tasks.ts",
        'import { migrate } from "./migrations";',
        'import { migrate } from "sql-migrate";',
    )
    assert "`migrate()`" in _plan(root, "TaskList", "tasks")


def test_a_table_created_after_the_list_runs(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    _edit(
        root,
        "profile.ts",
        "    for (const step of Profile.SCHEMA_STEPS) {\n      step(ctx.storage.sql);\n    }\n",
        "    for (const step of Profile.SCHEMA_STEPS) {\n      step(ctx.storage.sql);\n    }\n"
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS badges (id INTEGER PRIMARY KEY)");\n',
    )
    assert "`badges` is created outside Profile.SCHEMA_STEPS" in _plan(root, "Profile", "badges")


def test_without_any_list_the_fix_still_creates_sql_migrations_and_says_so(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "fix-before", tmp_path)
    findings, model = run(SCHEMA_RULE, root)
    board = next(f for f in findings if f.data.get("column") == "done_at")
    (fix,) = fixes_for(board, model)
    assert "no migrations list run from the constructor" in fix.review


# -- fresh and deployed databases end with the same schema ---------------------------------------
#
# The lists are run on Python's sqlite3 as the project's runner runs them: each step once, in
# order, when the runner records applied steps (applied keys kept across "restarts"), every step
# on every start otherwise. Function steps are interpreted statement by statement: an exec()
# call, or `if (<sql>.exec(<query>).toArray().length === 0) { … }`.

NOW = int(time.time() * 1000)
CONSTANTS = {"EVENTS_TTL_MS": 30 * 24 * 3600 * 1000, "VISITS_TTL_MS": 30 * 24 * 3600 * 1000}


def _sql_of(data: bytes, node: Node) -> str:
    if node.type == "string":
        value = string_value(data, node)
        assert value is not None
        return value
    assert node.type == "template_string" and not list(walk_type(node, "template_substitution"))
    return node_text(data, node)[1:-1]


def _value(data: bytes, node: Node) -> object:
    text = node_text(data, node).replace("Date.now()", str(NOW))
    for name, value in CONSTANTS.items():
        text = text.replace(name, str(value))
    assert re.fullmatch(r"[\d\s+*()]+", text), text
    return eval(text)  # digits and arithmetic only, checked above


def _interpret(db: sqlite3.Connection, data: bytes, block: Node) -> None:
    statements = [block] if block.type != "statement_block" else block.named_children
    for stmt in statements:
        if stmt.type == "comment":
            continue
        if stmt.type == "expression_statement":
            stmt = stmt.named_children[0]
        if stmt.type == "call_expression":
            assert node_text(data, stmt.child_by_field_name("function")).endswith(".exec")
            args = call_args(stmt)
            db.execute(_sql_of(data, args[0]), [_value(data, a) for a in args[1:]])
            continue
        assert stmt.type == "if_statement", node_text(data, stmt)
        condition = node_text(data, stmt.child_by_field_name("condition"))
        assert condition.endswith(".toArray().length === 0)"), condition
        query = next(walk_type(stmt.child_by_field_name("condition"), "string"))
        if not db.execute(_sql_of(data, query)).fetchall():
            _interpret(db, data, stmt.child_by_field_name("consequence"))


def _run_step(db: sqlite3.Connection, mech: Mechanism, element: Node) -> None:
    data = mech.file.data
    if mech.kind == "strings":
        db.executescript(_sql_of(data, element))
        return
    if mech.kind == "objects":
        prop = next(
            p
            for p in element.named_children
            if node_text(data, p.child_by_field_name("key") or p.child_by_field_name("name"))
            in {"sql", "up"}
        )
        if mech.body_key == "sql":
            db.executescript(_sql_of(data, prop.child_by_field_name("value")))
            return
        element = prop.child_by_field_name("value") if prop.type == "pair" else prop
    _interpret(db, data, element.child_by_field_name("body"))


def _start(db: sqlite3.Connection, mech: Mechanism, applied: set[int]) -> None:
    """One start of the object: the runner over the list."""
    for index, element in enumerate(mech.elements):
        if mech.records and index in applied:
            continue
        _run_step(db, mech, element)
        applied.add(index)


def _schema(db: sqlite3.Connection) -> list[tuple]:
    return db.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()


def _mechanisms_of(rule: str, case: str, tmp_path: Path) -> dict[str, Mechanism]:
    root = tmp_path / case
    shutil.copytree(FIXTURES / rule / case, root)
    _, model = run(rule, root)
    return {k: v for k, v in _mechanisms(model).items() if v is not None}


# rows an object deployed before the fix holds: (class, insert, the columns to read back)
ROWS = {
    "TaskList": (
        "INSERT INTO tasks (title, due_at) VALUES ('write report', 1)",
        "tasks",
        "title, due_at",
    ),
    "Ledger": (
        "INSERT INTO entries (amount, created_at) VALUES (42, 7)",
        "entries",
        "amount, created_at",
    ),
    "Profile": ("UPDATE profile SET display_name = 'ann'", "profile", "id, display_name"),
    "RoomDirectory": (
        "INSERT INTO rooms (slug, title, created_at) VALUES ('lobby', 'Lobby', 3)",
        "rooms",
        "slug, title, created_at",
    ),
    "EventLog": (
        "INSERT INTO events (kind, payload, created_at) VALUES ('signup', '{}', 5)",
        "events",
        "kind, payload, created_at",
    ),
    "VisitCounter": (
        "INSERT INTO visits (path, visited_at) VALUES ('/', 9)",
        "visits",
        "path, visited_at",
    ),
}


@pytest.mark.parametrize("rule", [SCHEMA_RULE, TTL_RULE])
def test_fresh_and_deployed_databases_end_with_the_same_schema(rule: str, tmp_path: Path) -> None:
    old = _mechanisms_of(rule, "own-migrations-before", tmp_path)
    new = _mechanisms_of(rule, "own-migrations-after", tmp_path)
    assert old.keys() == new.keys() and old
    for name, mech in new.items():
        assert len(mech.elements) > len(old[name].elements), name
        fresh = sqlite3.connect(":memory:")
        _start(fresh, mech, set())

        deployed = sqlite3.connect(":memory:")
        applied: set[int] = set()
        _start(deployed, old[name], applied)
        insert, table, columns = ROWS[name]
        deployed.execute(insert)
        kept = deployed.execute(f"SELECT {columns} FROM {table}").fetchall()
        assert kept, name
        _start(deployed, mech, applied)  # the first start after the deploy
        _start(deployed, mech, applied)  # and every later one
        assert _schema(deployed) == _schema(fresh), name
        assert deployed.execute(f"SELECT {columns} FROM {table}").fetchall() == kept, name
        if rule == TTL_RULE:
            # rows written before the step get a full TTL from when it ran
            (expiry,) = deployed.execute(f"SELECT expires_at FROM {table}").fetchone()
            ttl = 30 * 24 * 3600 * 1000
            assert NOW + ttl - 5_000 <= expiry <= int(time.time() * 1000) + ttl, name


def test_one_line_objects_single_quotes_and_no_trailing_comma(tmp_path: Path) -> None:
    root = copy_case(SCHEMA_RULE, "own-migrations-before", tmp_path)
    schema = root / "src" / "schema.ts"
    schema.write_text(
        "export interface Migration {\n"
        "  version: string;\n"
        "  sql: string;\n"
        "}\n"
        "\n"
        "export const LEDGER_MIGRATIONS: Migration[] = [\n"
        "  { version: '0001', sql: 'CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, "
        "amount INTEGER NOT NULL, created_at INTEGER NOT NULL)' },\n"
        "  { version: '0002', sql: 'CREATE INDEX IF NOT EXISTS idx_entries_created_at ON "
        "entries (created_at)' }\n"
        "];\n"
    )
    fix_all(SCHEMA_RULE, root, unsafe=True)
    assert schema.read_text().endswith(
        "entries (created_at)' },\n"
        "  // entries: columns the queries use (memo); CREATE TABLE IF NOT EXISTS\n"
        "  // never adds them to deployed tables. Rows that exist when this step runs get NULL.\n"
        "  { version: '0003', sql: 'ALTER TABLE entries ADD COLUMN memo TEXT' }\n"
        "];\n"
    )
    assert run(SCHEMA_RULE, root)[0] == []
    assert tsc(root) == ""


def test_other_loops_in_the_constructor_do_not_count(tmp_path: Path) -> None:
    """A loop over query rows is not a migrations list: the fix still adds SQL_MIGRATIONS. A
    loop running items of a list we cannot see (imported from a package) blocks it."""
    root = copy_case(SCHEMA_RULE, "fix-before", tmp_path)
    board = root / "src" / "board.ts"
    text = board.read_text()
    hook = "    ctx.blockConcurrencyWhile(async () => {\n"
    assert hook in text
    board.write_text(
        text.replace(
            hook,
            hook + '      for (const row of ctx.storage.sql.exec("SELECT 1 AS one")) {\n'
            '        ctx.storage.sql.exec("SELECT ?", row.one);\n      }\n',
        )
    )
    _, model = run(SCHEMA_RULE, root)
    cls = next(c for c in model.classes if c.name == "TaskBoard")
    assert find_mechanism(cls, model) is None
    board.write_text(
        'import { STEPS } from "@acme/do-migrations";\n'
        + text.replace(hook, hook + "      for (const s of STEPS) ctx.storage.sql.exec(s);\n")
    )
    _, model = run(SCHEMA_RULE, root)
    cls = next(c for c in model.classes if c.name == "TaskBoard")
    with pytest.raises(CannotMigrate, match="a loop over `STEPS`"):
        find_mechanism(cls, model)
