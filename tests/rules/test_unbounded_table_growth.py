"""unbounded-table-growth: INSERTs into a table nothing ever prunes."""

from __future__ import annotations

from pathlib import Path

from tests.rules._sql_support import (
    check_examples,
    copy_case,
    flagged,
    marked,
    run,
    span_text,
)

RULE = "unbounded-table-growth"


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
