"""schema-change-without-migration: queries the project's schema cannot run; NOT NULL columns
added without a DEFAULT."""

from __future__ import annotations

from pathlib import Path

from tests.rules._sql_support import check_examples, copy_case, flagged, marked, run, span_text

RULE = "schema-change-without-migration"


def test_unknown_columns_typo_table_and_not_null_alter_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    texts = {span_text(f): f for f in findings}
    assert texts["starred"].data == {
        "kind": "no-such-column",
        "column": "starred",
        "tables": ["mail"],
    }
    # the qualified name is resolved through the alias `m`
    assert texts["m.snippet"].data["tables"] == ["mail"]
    assert texts["mails"].data["suggestion"] == "mail"
    alter = next(f for f in findings if f.data["kind"] == "not-null-without-default")
    assert span_text(alter) == "ALTER TABLE mail ADD COLUMN folder TEXT NOT NULL"
    # the CREATE TABLE (in the migrations array) is related information
    assert any(r.span.path.name == "migrations.ts" for r in texts["starred"].related)


def test_column_added_by_migration_elsewhere_and_invisible_ddl_are_quiet(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_without_any_ddl_in_view_nothing_is_reported(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    (root / "src" / "migrations.ts").write_text("export const MIGRATIONS: string[] = [];\n")
    findings, _ = run(RULE, root)
    assert findings == []


def test_sqlite_really_rejects_not_null_without_default_on_a_table_with_rows() -> None:
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, subject TEXT)")
    db.execute("ALTER TABLE mail ADD COLUMN a TEXT NOT NULL")  # empty table: accepted
    db.execute("INSERT INTO mail (subject, a) VALUES ('hi', 'x')")
    try:
        db.execute("ALTER TABLE mail ADD COLUMN b TEXT NOT NULL")
    except sqlite3.Error as exc:
        assert "NOT NULL" in str(exc)
    else:  # pragma: no cover - would mean the rule's premise is wrong
        raise AssertionError("SQLite accepted NOT NULL without DEFAULT on a table with rows")
    db.execute("ALTER TABLE mail ADD COLUMN c TEXT NOT NULL DEFAULT 'inbox'")


def test_examples_report_nothing() -> None:
    check_examples(RULE)
