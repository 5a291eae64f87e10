"""sql-missing-index: SQLite's planner says SCAN / temp B-tree / automatic index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._sql_support import (
    EXAMPLES,
    FIXTURES,
    assert_settled,
    check_examples,
    copy_case,
    fix_all,
    flagged,
    marked,
    run,
    span_text,
)

RULE = "sql-missing-index"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_scans_sorts_and_automatic_indexes_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    # equality column first, then the ORDER BY column
    room = next(f for f in findings if f.data["eq"] == ["room"])
    assert room.data["columns"] == ["room", "created_at"]
    assert room.data["order"] == ["created_at"]
    assert any(r.span.path.name == "schema.ts" for r in room.related)


def test_alias_is_resolved_and_range_column_goes_last(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    aliased = next(f for f in findings if span_text(f) == "FROM messages m")
    assert aliased.data["table"] == "messages"
    assert aliased.data["columns"] == ["author", "created_at"]
    assert aliased.data["range"] == "created_at"


def test_composite_primary_key_trailing_column_is_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    seats = next(f for f in findings if f.data["table"] == "seats")
    assert seats.data["columns"] == ["user_id"]


def test_join_reports_the_inner_table_not_the_outer_loop(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    joined = [
        f for f in findings if f.span.path.name == "notes-agent.ts" and "JOIN" in span_text(f)
    ]
    assert len(joined) == 1 and joined[0].data["table"] == "users"
    assert joined[0].data["columns"] == ["name"]
    assert not any(span_text(f) == "FROM notes n" for f in findings)


def test_matching_index_pk_rowid_walk_and_unindexable_filters_are_quiet(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    # the queries are really there (the Agents SDK one too)
    selects = [s for s in model.statements if s.kind == "SELECT"]
    assert len(selects) >= 8
    assert any(s.tagged for s in selects)


def test_examples_report_exactly_the_planted_lines() -> None:
    check_examples(RULE)


# -- the fix ----------------------------------------------------------------------------------


def test_fix_adds_the_index_in_the_schema_literal_keeping_its_layout(tmp_path: Path) -> None:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root, ignore=shutil.ignore_patterns("node_modules"))
    assert fix_all(RULE, root) == 1
    schema = (root / "src" / "schema.ts").read_text()
    assert (
        "  created_at INTEGER NOT NULL\n);\n\n"
        "CREATE INDEX IF NOT EXISTS idx_messages_room_created_at ON messages(room, created_at);\n\n"
        "CREATE TABLE IF NOT EXISTS members ("
    ) in schema
    findings, model = run(RULE, root)
    assert findings == []
    plan = model.schema_for(root / "src" / "schema.ts").plan(
        "SELECT author, body, created_at FROM messages WHERE room = ? "
        "ORDER BY created_at DESC LIMIT 50"
    )
    assert [s.detail for s in plan.steps] == [
        "SEARCH messages USING INDEX idx_messages_room_created_at (room=?)"
    ]
    assert_settled(RULE, root, typecheck=False)


def test_fix_all_on_many_queries_is_idempotent_and_indented(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    fix_all(RULE, root, unsafe=True)  # `author = ?` reads idx (author, created_at): may reorder
    schema = (root / "src" / "schema.ts").read_text()
    # one index serves both `author = ?` and `author = ? AND created_at > ?`
    assert schema.count("idx_messages_author_created_at ON messages(author, created_at);") == 1
    assert "idx_messages_author ON" not in schema
    assert "\n  CREATE INDEX IF NOT EXISTS idx_seats_user_id ON seats(user_id);\n" in schema
    # the indexes of a table follow its CREATE TABLE, before the next table
    assert schema.index("idx_messages_created_at") < schema.index(
        "CREATE TABLE IF NOT EXISTS seats"
    )
    agent = (root / "src" / "notes-agent.ts").read_text()
    assert (
        "at INTEGER NOT NULL); CREATE INDEX IF NOT EXISTS idx_notes_topic_at ON notes(topic, at)`;"
        in agent
    )
    findings, _ = run(RULE, root)
    assert findings == []
    assert_settled(RULE, root, typecheck=False)


def test_no_fix_when_the_create_is_a_one_time_migration_step(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    schema = root / "src" / "schema.ts"
    schema.write_text(
        schema.read_text().replace("CREATE TABLE IF NOT EXISTS seats", "CREATE TABLE seats")
    )
    findings, model = run(RULE, root)
    seats = next(f for f in findings if f.data["table"] == "seats")
    assert fixes_for(seats, model) == []


def test_no_fix_when_an_existing_index_already_has_those_columns(tmp_path: Path) -> None:
    from durable_harden.analyzers.rules._sql import TableUse
    from durable_harden.codeactions.sql_missing_index import provided

    root = copy_case(RULE, "clean", tmp_path)
    _, model = run(RULE, root)
    schema = model.schema_for(root / "src" / "schema.ts")
    assert provided(schema, "messages", ["room"])
    assert provided(schema, "seats", ["room", "user_id"])  # the composite primary key
    assert provided(schema, "messages", ["id"])  # INTEGER PRIMARY KEY is the rowid
    assert not provided(schema, "seats", ["user_id"])
    assert TableUse("seats", eq=["user_id"]).index_columns() == ["user_id"]


def test_single_line_string_schema_gets_a_semicolon_and_a_space(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        (FIXTURES / RULE / "flagged" / "wrangler.jsonc").read_text()
    )
    (root / "src" / "board.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n\n'
        "export class Board extends DurableObject {\n"
        "  constructor(ctx: DurableObjectState, env: unknown) {\n"
        "    super(ctx, env);\n"
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS pins (id INTEGER PRIMARY KEY, owner TEXT)");\n'
        "  }\n\n"
        "  pinsOf(owner: string) {\n"
        '    return this.ctx.storage.sql.exec("SELECT id FROM pins WHERE owner = ?", owner).toArray();\n'
        "  }\n"
        "}\n"
    )
    assert fix_all(RULE, root) == 1
    text = (root / "src" / "board.ts").read_text()
    assert (
        'exec("CREATE TABLE IF NOT EXISTS pins (id INTEGER PRIMARY KEY, owner TEXT); '
        'CREATE INDEX IF NOT EXISTS idx_pins_owner ON pins(owner)");'
    ) in text
    assert run(RULE, root)[0] == []


def test_index_that_reorders_an_unordered_query_is_unsafe(tmp_path: Path) -> None:
    # `WHERE ts > ?` without ORDER BY: a table scan returns rowid order, the new index returns
    # ts order, so the same rows may come back in another order
    from durable_harden.codeactions import Safety, fixes_for

    source = """import { DurableObject } from "cloudflare:workers";

export class Log extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, room TEXT, ts INTEGER)");
  }

  QUERY
}
"""
    since = 'since(t: number) { return this.ctx.storage.sql.exec("SELECT * FROM events WHERE ts > ?", t).toArray(); }'
    room = 'inRoom(r: string) { return this.ctx.storage.sql.exec("SELECT * FROM events WHERE room = ?", r).toArray(); }'
    for name, query, safety in (("range", since, Safety.UNSAFE), ("eq", room, Safety.SAFE)):
        root = tmp_path / name
        (root / "src").mkdir(parents=True)
        (root / "src" / "log.ts").write_text(source.replace("QUERY", query))
        findings, model = run(RULE, root)
        (finding,) = findings
        (fix,) = fixes_for(finding, model)
        assert fix.safety is safety, name
        if safety is Safety.UNSAFE:
            assert "ORDER BY" in fix.review and "WHERE ts > ?" in fix.review


SORTS = """import { DurableObject } from "cloudflare:workers";
export class Files extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS uploads (
      id INTEGER PRIMARY KEY, owner TEXT NOT NULL, created_at INTEGER NOT NULL)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS idx_uploads_owner ON uploads(owner)");
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS "${PREFIX}log" (id INTEGER PRIMARY KEY, at INTEGER)`);
  }
  all() {
    return this.ctx.storage.sql.exec("SELECT * FROM uploads ORDER BY created_at DESC").toArray();
  }
  latest() {
    return this.ctx.storage.sql.exec("SELECT * FROM uploads ORDER BY created_at DESC LIMIT 10").toArray();
  }
  mine(owner: string) {
    return this.ctx.storage.sql.exec("SELECT * FROM uploads WHERE owner = ? ORDER BY created_at", owner).toArray();
  }
  log() {
    return this.ctx.storage.sql.exec(`SELECT * FROM "${PREFIX}log" WHERE at > ? ORDER BY at`, 1).toArray();
  }
}
const PREFIX = "app_";
"""


def test_whole_table_sorts_and_unknown_tables_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "files.ts").write_text(SORTS)
    findings, _ = run(RULE, tmp_path)
    by_method = {f.data["query"].split("FROM ")[1][:20]: f for f in findings}
    # `all()` reads every row anyway: no index removes that; `log()` names a table whose real
    # name is built at run time
    assert sorted(by_method) == [
        "uploads ORDER BY cre",
        "uploads WHERE owner ",
    ]
    mine = by_method["uploads WHERE owner "]
    # the plan seeks idx_uploads_owner and only sorts: the message must not say "reads all"
    assert mine.message_id == "sorts-every-run"
    latest = by_method["uploads ORDER BY cre"]
    assert "LIMIT 10" in latest.data["query"]


EXISTING = """import { DurableObject } from "cloudflare:workers";
export class Log extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, kind TEXT, at INTEGER)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS idx_events_kind ON events(kind)");
  }
  unlikely() {
    // `+kind` keeps SQLite from using idx_events_kind: the scan stays, the index exists
    return this.ctx.storage.sql.exec("SELECT * FROM events WHERE +kind = ?", "x").toArray();
  }
  recent() {
    return this.ctx.storage.sql.exec("SELECT * FROM events WHERE at > ?", 1).toArray();
  }
}
"""


def test_an_index_that_already_exists_is_not_suggested_again(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "log.ts").write_text(EXISTING)
    findings, _ = run(RULE, tmp_path)
    assert [f.data["columns"] for f in findings] == [["at"]]
