"""unbounded-table-growth: INSERTs into a table nothing ever prunes."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._sql_support import (
    EXAMPLES,
    RETENTION,
    assert_settled,
    check_examples,
    copy_case,
    error_nodes,
    fix_all,
    flagged,
    marked,
    run,
    span_text,
    tsc,
)

RULE = "unbounded-table-growth"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_unpruned_tables_are_flagged_once_on_the_first_insert(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    posts = next(f for f in findings if f.data["table"] == "posts")
    assert span_text(posts) == "INSERT INTO posts"
    # the second INSERT is related information, and so is the CREATE TABLE in schema.ts
    messages = [r.message for r in posts.related]
    assert "another INSERT into `posts`" in messages
    create = next(r for r in posts.related if "created here" in r.message)
    assert create.span.path.name == "schema.ts"
    reactions = next(f for f in findings if f.data["table"] == "reactions")
    assert span_text(reactions) == "INSERT OR REPLACE INTO reactions"


def test_singleton_row_and_migrations_table_are_not_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    tables = {f.data["table"] for f in findings}
    assert "settings" not in tables
    assert "_sql_schema_migrations" not in tables


def test_alarm_ttl_helper_in_another_file_and_delete_all_are_not_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    # the fixture really does insert into all three tables
    inserted = {s.text.split()[2] for s in model.statements if s.kind == "INSERT"}
    assert inserted == {"sessions", "audit", "notes"}


def test_agents_sdk_tagged_template_and_multi_statement_exec(tmp_path: Path) -> None:
    root = copy_case(RULE, "agents", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    turns = next(f for f in findings if f.data["table"] == "turns")
    assert span_text(turns) == "INSERT INTO turns"
    assert {f.data["table"] for f in findings} == {"turns", "tool_calls"}


def test_a_delete_in_another_worker_project_does_not_count(tmp_path: Path) -> None:
    root = copy_case(RULE, "monorepo", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root) == {("a/src/log.ts", 10)}


def test_dynamic_delete_target_silences_the_project(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    feed = root / "src" / "feed.ts"
    feed.write_text(
        feed.read_text().replace(
            "  rename(title: string): void {",
            "  purge(table: string): void {\n"
            "    this.sql.exec(`DELETE FROM ${table} WHERE rowid < ?`, 100);\n"
            "  }\n\n"
            "  rename(title: string): void {",
        )
    )
    findings, _ = run(RULE, root)
    assert findings == []


def test_examples_report_exactly_the_planted_lines() -> None:
    check_examples(RULE)


# -- the TTL fix ------------------------------------------------------------------------------


def _chat_room(tmp_path: Path) -> Path:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root, ignore=shutil.ignore_patterns("node_modules"))
    return root


def test_ttl_fix_on_the_chat_room_example(tmp_path: Path) -> None:
    root = _chat_room(tmp_path)
    original_schema = (root / "src" / "schema.ts").read_bytes()
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "MESSAGES_TTL_MS" in fix.review
    assert fix_all(RULE, root) == 0  # unsafe: not applied by a safe fix-all
    assert fix_all(RULE, root, unsafe=True) == 1
    assert run(RULE, root)[0] == []
    text = (root / "src" / "chat-room.ts").read_text()
    # the CREATE TABLE is not edited: deployed tables change through a migration step
    assert (root / "src" / "schema.ts").read_bytes() == original_schema
    assert 'sql.exec("ALTER TABLE messages ADD COLUMN expires_at INTEGER");' in text
    assert "      this.ctx.storage.sql.exec(SCHEMA_SQL);\n      this.runSqlMigrations();\n" in text
    assert "const MESSAGES_TTL_MS = 30 * 24 * 60 * 60 * 1000;" in text
    assert (
        '"INSERT INTO messages (room, author, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",\n'
        "      room,\n      author,\n      body,\n      created_at,\n      expiresAt,\n    );"
    ) in text
    assert "async alarm(info?: AlarmInvocationInfo): Promise<void> {" in text
    # the model of the fixed project: expires_at exists, the cleanup uses its index
    _, fixed = run(RULE, root)
    schema = fixed.schema_for(root / "src" / "chat-room.ts")
    assert "expires_at" in schema.tables["messages"].columns
    cleanup = next(s for s in fixed.statements if s.text.startswith("DELETE FROM messages"))
    assert any(
        "USING INDEX idx_messages_expires_at" in step.detail
        or "COVERING INDEX idx_messages_expires_at" in step.detail
        for step in schema.plan(cleanup.text).steps
    )
    for path in (root / "src").glob("*.ts"):
        assert error_nodes(path.read_bytes(), path) == 0
    assert_settled(RULE, root, unsafe=True)


def test_ttl_fix_merges_with_an_existing_alarm_and_upsert(tmp_path: Path) -> None:
    root = copy_case(RULE, "fix-existing-alarm", tmp_path)
    assert tsc(root) == ""
    assert fix_all(RULE, root, unsafe=True) == 2  # two tables, the second in a later round
    assert run(RULE, root)[0] == []
    text = (root / "src" / "inbox.ts").read_text()
    # the other job keeps the alarm: its body follows the cleanups, its setAlarm keeps the
    # earliest pending time instead of overwriting
    assert (
        "  async alarm(info?: AlarmInvocationInfo): Promise<void> {\n"
        "    await this.cleanupExpiredLastSeen(info);\n"
        "    await this.cleanupExpiredNotifications(info);\n"
        "    const unread = this.sql\n"
    ) in text
    assert "await this.armAlarmBy(Date.now() + DIGEST_EVERY_MS);" in text
    assert "storage.setAlarm(Date.now() + DIGEST_EVERY_MS)" not in text
    # one migrations list, one step per table, in the order they were fixed
    assert text.count("private static readonly SQL_MIGRATIONS") == 1
    assert text.count("ADD COLUMN expires_at INTEGER") == 2
    # the upsert refreshes the expiry; a sync method arms the alarm through waitUntil
    assert "DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at" in text
    assert "    this.ctx.waitUntil(this.armAlarmBy(expiresAt));\n" in text
    # the template literal keeps its layout
    assert (
        "`INSERT INTO notifications (kind, payload, created_at, expires_at)\n"
        "       VALUES (?, ?, ?, ?)`,"
    ) in text
    # retries: rethrow while the runtime retries, otherwise log and re-arm; never both
    catch = text[text.index("} catch (error) {") : text.index("return;\n    }\n    if (next")]
    assert catch.index("throw error") < catch.index("console.error") < catch.index("armAlarmBy")
    assert_settled(RULE, root, unsafe=True)


def test_ttl_migration_gives_deployed_and_fresh_databases_the_same_schema(tmp_path: Path) -> None:
    root = _chat_room(tmp_path)
    _, before = run(RULE, root)
    creates = [s.text for s in before.statements if s.kind == "CREATE"]
    fix_all(RULE, root, unsafe=True)
    _, after = run(RULE, root)
    step = [
        s
        for s in after.statements
        if s.method is None
        and s.kind in {"ALTER", "CREATE", "UPDATE"}
        and s.text not in creates
        and "_sql_schema_migrations" not in s.text
    ]
    assert [s.kind for s in step] == ["ALTER", "CREATE", "UPDATE"]

    def build(rows: bool) -> tuple[list[tuple], list[tuple], list[tuple]]:
        db = sqlite3.connect(":memory:")
        for create in creates:
            db.execute(create)
        if rows:  # an object deployed before the fix, with history
            db.execute(
                "INSERT INTO messages (room, author, body, created_at) VALUES ('a', 'b', 'c', 1)"
            )
        for stmt in step:
            db.execute(stmt.text, (10_000,) if "?" in stmt.text else ())
        columns = db.execute("PRAGMA table_xinfo(messages)").fetchall()
        indexes = db.execute("PRAGMA index_list(messages)").fetchall()
        return columns, indexes, db.execute("SELECT expires_at FROM messages").fetchall()

    fresh, deployed = build(False), build(True)
    assert fresh[:2] == deployed[:2]
    assert deployed[2] == [(10_000,)]  # old rows get an expiry too


def test_no_ttl_fix_when_the_class_keeps_its_own_migrations_table(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, model = run(RULE, root)
    assert findings
    assert all(fixes_for(f, model) == [] for f in findings)


def _retention_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "board.ts").write_text(RETENTION)
    return root


def test_only_pruning_that_bounds_the_table_counts_as_retention(tmp_path: Path) -> None:
    findings, _ = run(RULE, _retention_project(tmp_path))
    # one row deleted by its key (an RPC) and a DROP in a reset path do not bound a table; a
    # delete by age, by count, by a many-row condition or of every row, and a DROP when the
    # last socket closes, do
    assert sorted(f.data["table"] for f in findings) == ["notes", "scratch"]
    by_table = {f.data["table"]: f for f in findings}
    assert by_table["notes"].message_id == "deletes-by-key"
    assert "its only DELETEs remove one row by its key" in by_table["notes"].message
    assert by_table["scratch"].message_id == "dropped-in-reset"


QUEUE = """import { DurableObject } from "cloudflare:workers";
export class Purge extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS pending (tag TEXT PRIMARY KEY)");
  }
  add(tag: string) {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO pending (tag) VALUES (?)", tag);
  }
  async alarm() {
    for (const row of this.ctx.storage.sql.exec<{ tag: string }>("SELECT tag FROM pending LIMIT 100")) {
      this.ctx.storage.sql.exec("DELETE FROM pending WHERE tag = ?", row.tag);
    }
  }
}
"""


def test_a_queue_drained_row_by_row_in_alarm_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "purge.ts").write_text(QUEUE)
    assert run(RULE, tmp_path)[0] == []
    # the same one-row delete from an RPC does not bound the table
    text = QUEUE.replace("async alarm()", "async drop()")
    (tmp_path / "src" / "purge.ts").write_text(text)
    (finding,) = run(RULE, tmp_path)[0]
    assert finding.message_id == "deletes-by-key"
