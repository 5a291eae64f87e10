"""schema-change-without-migration: queries the project's schema cannot run; NOT NULL columns
added without a DEFAULT."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, expect_file, fixture_cases
from tests.rules._sql_support import (
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

RULE = "schema-change-without-migration"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_unknown_columns_typo_table_and_not_null_alter_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    texts = {span_text(f): f for f in findings}
    starred = dict(texts["starred"].data)
    assert starred.pop("statement")[0].endswith("inbox.ts")
    assert starred == {
        "kind": "no-such-column",
        "column": "starred",
        "tables": ["mail"],
        "near_miss": None,
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


# -- the fixes --------------------------------------------------------------------------------


def test_fix_adds_missing_columns_in_a_migration_step_and_defaults_not_null(
    tmp_path: Path,
) -> None:
    root = copy_case(RULE, "fix-before", tmp_path)
    findings, model = run(RULE, root)
    by_column = {f.data.get("column"): f for f in findings}
    (add,) = fixes_for(by_column["done_at"], model)
    assert not add.is_safe and "done_at INTEGER, assignee TEXT, labels (untyped)" in add.review
    # both findings on `assignee` and the one on `done_at` offer the very same step
    assert fixes_for(by_column["assignee"], model)[0].edits == add.edits
    # a near miss of `title` is a typo: no column is added for it
    assert fixes_for(by_column["titel"], model) == []
    assert fix_all(RULE, root) == 0  # unsafe: not applied by a safe fix-all
    fix_all(RULE, root, unsafe=True)
    after = FIXTURES / RULE / "fix-after" / "src"
    for name in ("board.ts", "notebook.ts"):
        expect_file((root / "src" / name).read_text(), after / name)
    board = (root / "src" / "board.ts").read_text()
    # the CREATE TABLE IF NOT EXISTS is left as it was: deployed tables change by ALTER only
    assert board.count("created_at INTEGER NOT NULL\n        )") == 1
    left, _ = run(RULE, root)
    assert [f.data["column"] for f in left] == ["titel"]
    assert_settled(RULE, root, unsafe=True)


def test_migrated_schema_runs_on_a_deployed_table_with_rows() -> None:
    """The steps the fix writes, run on SQLite against a table that already has rows."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO notes (body, created_at) VALUES ('hello', 1)")
    db.execute("ALTER TABLE notes ADD COLUMN color TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE notes ADD COLUMN priority INTEGER")
    assert db.execute("SELECT color, priority FROM notes").fetchall() == [("", None)]
    db.execute("ALTER TABLE notes ADD COLUMN labels")  # untyped is valid SQLite
    db.execute("UPDATE notes SET priority = 2.5")
    # INTEGER affinity keeps a non-integral number: a TypeScript `number` loses nothing
    assert db.execute("SELECT priority FROM notes").fetchone() == (2.5,)


def test_not_null_default_in_a_single_quoted_string_and_an_untyped_column(tmp_path: Path) -> None:
    root = copy_case(RULE, "fix-before", tmp_path)
    notebook = root / "src" / "notebook.ts"
    notebook.write_text(
        notebook.read_text().replace(
            'sql.exec("ALTER TABLE notes ADD COLUMN color TEXT NOT NULL");',
            "sql.exec('ALTER TABLE notes ADD COLUMN color VARCHAR(20) NOT NULL');\n"
            '      sql.exec("ALTER TABLE notes ADD COLUMN pinned NOT NULL");',
        )
    )
    findings, model = run(RULE, root)
    alters = {f.data["column"]: f for f in findings if f.data["kind"] != "no-such-column"}
    assert fixes_for(alters["pinned"], model) == []  # no type: no value to choose
    (fix,) = fixes_for(alters["color"], model)
    assert fix.edits[0].new_text == " DEFAULT \\'\\'"
    fix_all(RULE, root, unsafe=True)
    assert "'ALTER TABLE notes ADD COLUMN color VARCHAR(20) NOT NULL DEFAULT \\'\\''" in (
        notebook.read_text()
    )


def test_no_fix_when_the_table_is_not_created_in_the_class(tmp_path: Path) -> None:
    """The flagged fixture runs a project-wide MIGRATIONS array in a loop: a step belongs
    there by hand (its runner has no bookkeeping we could extend)."""
    root = copy_case(RULE, "flagged", tmp_path)
    findings, model = run(RULE, root)
    starred = next(f for f in findings if f.data.get("column") == "starred")
    assert fixes_for(starred, model) == []


def test_insert_naming_a_column_no_ddl_defines(analyze):
    """SQLite words it `table t has no column named c` for INSERTs; still the same finding."""
    result = analyze(
        {
            "src/ledger.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Ledger extends DurableObject {
              constructor(ctx: DurableObjectState, env: unknown) {
                super(ctx, env);
                ctx.blockConcurrencyWhile(async () => {
                  this.ctx.storage.sql.exec(
                    "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)",
                  );
                });
              }
              add(amount: number, memo: string) {
                this.ctx.storage.sql.exec("INSERT INTO entries (amount, memo) VALUES (?, ?)", amount, memo);
              }
            }
            """
        },
        select=["schema-change-without-migration"],
    )
    (finding,) = result.findings
    assert finding.data["column"] == "memo" and finding.data["tables"] == ["entries"]
    source = result.model.files[0]
    assert source.data[finding.span.start : finding.span.end] == b"memo"
    fixes = fixes_for(finding, result.model)
    assert fixes and "ADD COLUMN memo" in "".join(e.new_text for e in fixes[0].edits)


RENAMED = """import { DurableObject } from "cloudflare:workers";
export class Board extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS scores (name TEXT PRIMARY KEY, points INTEGER NOT NULL)");
    if (this.hasColumn("scores", "strokes")) {
      sql.exec("ALTER TABLE scores RENAME TO scores_legacy");
      sql.exec("CREATE TABLE scores (name TEXT PRIMARY KEY, points INTEGER NOT NULL)");
      sql.exec("INSERT INTO scores (name, points) SELECT name, 72 - strokes FROM scores_legacy");
      sql.exec("DROP TABLE scores_legacy");
    }
  }
  hasColumn(table: string, column: string): boolean {
    return this.ctx.storage.sql.exec("SELECT name FROM pragma_table_info(?)", table).toArray().some((c) => c.name === column);
  }
  best() {
    return this.ctx.storage.sql.exec("SELECT name, strokes FROM scores").toArray();
  }
}
"""


def test_a_migration_reading_the_old_shape_of_a_renamed_table_is_not_reported(
    tmp_path: Path,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "board.ts").write_text(RENAMED)
    findings, _ = run(RULE, tmp_path)
    # the legacy copy keeps the old column; the current table really lacks it
    assert [(f.data["column"], f.data["tables"]) for f in findings] == [("strokes", ["scores"])]
