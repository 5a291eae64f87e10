"""sql-unbounded-read: a growing table loaded whole, `one()` without a key equality."""

from __future__ import annotations

import sqlite3
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
)

RULE = "sql-unbounded-read"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_loaded_results_and_one_without_key_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = sorted(f.data["consumer"] for f in findings)
    assert kinds == ["iterate", "one", "spread", "toArray", "toArray"]
    # the join reads every entry of the author even though `authors` is pinned by its key
    assert all(f.data["tables"] == ["entries"] for f in findings)
    assert all(r.message == "`entries` grows here" for f in findings for r in f.related)


def test_fix_adds_a_limit_bound_to_a_named_constant(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    one = next(f for f in findings if f.data["consumer"] == "one")
    (fix,) = fixes_for(one, model)
    assert not fix.is_safe and "ORDER BY" in fix.review
    assert fix_all(RULE, root) == 0  # unsafe only
    assert fix_all(RULE, root, unsafe=True) == 5
    after = FIXTURES / RULE / "after" / "src" / "guestbook.ts"
    expect_file((root / "src" / "guestbook.ts").read_text(), after)
    assert run(RULE, root)[0] == []
    assert_settled(RULE, root, unsafe=True)


def test_agents_sdk_tagged_template_and_array_from(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    book = root / "src" / "guestbook.ts"
    book.write_text(
        book.read_text().replace(
            "  // Fine: a key lookup",
            "  bodies(): string[] {\n"
            '    return Array.from(this.sql.exec<{ body: string }>("SELECT body FROM entries"), (r) => r.body);\n'
            "  }\n\n"
            "  // Fine: a key lookup",
        )
    )
    findings, _ = run(RULE, root)
    assert "Array.from" in {f.data["consumer"] for f in findings}
    fix_all(RULE, root, unsafe=True)
    assert '"SELECT body FROM entries LIMIT ?", ENTRIES_READ_LIMIT)' in book.read_text()
    assert book.read_text().count("const ENTRIES_READ_LIMIT = 1000;") == 1


def test_agents_sdk_tagged_template_gets_a_substitution(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    (root / "src").mkdir(parents=True)
    (root / "src" / "agent.ts").write_text(
        'import { Agent } from "agents";\n\n'
        "export class Notes extends Agent<unknown> {\n"
        "  add(text: string) {\n"
        "    this.sql`INSERT INTO notes (text) VALUES (${text})`;\n"
        "  }\n\n"
        "  all() {\n"
        "    this.sql`CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)`;\n"
        "    return this.sql`SELECT text FROM notes ORDER BY id`;\n"
        "  }\n"
        "}\n"
    )
    findings, _ = run(RULE, root)
    assert [f.data["consumer"] for f in findings] == ["tagged"]
    fix_all(RULE, root, unsafe=True)
    text = (root / "src" / "agent.ts").read_text()
    assert "this.sql`SELECT text FROM notes ORDER BY id LIMIT ${NOTES_READ_LIMIT}`;" in text
    assert 'import { Agent } from "agents";\n\n// At most' in text
    assert run(RULE, root)[0] == []


def test_key_lookup_pins_one_row_on_sqlite() -> None:
    """The premise of the key exemption: an equality on a UNIQUE column returns <= 1 row, an
    equality on another column returns every match."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, author TEXT, body TEXT)")
    db.executemany("INSERT INTO entries (author, body) VALUES (?, ?)", [("ann", "x")] * 50)
    assert len(db.execute("SELECT body FROM entries WHERE id = ?", (7,)).fetchall()) == 1
    assert len(db.execute("SELECT body FROM entries WHERE author = ?", ("ann",)).fetchall()) == 50
    limited = db.execute("SELECT body FROM entries WHERE author = ? LIMIT ?", ("ann", 10))
    assert len(limited.fetchall()) == 10


def test_examples_report_nothing() -> None:
    check_examples(RULE)


RETENTION = """import { DurableObject } from "cloudflare:workers";
export class Board extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS rounds (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS scratch (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);
      CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, at INTEGER, done INTEGER);`);
  }
  add(text: string) {
    const sql = this.ctx.storage.sql;
    sql.exec("INSERT INTO notes (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO events (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO jobs (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO rounds (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO items (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO scratch (at) VALUES (?)", Date.now());
    sql.exec("INSERT INTO logs (at) VALUES (?)", Date.now());
  }
  removeNote(id: number) {
    this.ctx.storage.sql.exec("DELETE FROM notes WHERE id = ?", id);
  }
  reset() {
    this.ctx.storage.sql.exec("DROP TABLE IF EXISTS scratch");
  }
  newRound() {
    this.ctx.storage.sql.exec("DELETE FROM rounds");
  }
  finish() {
    this.ctx.storage.sql.exec("DELETE FROM jobs WHERE done = 1");
  }
  async alarm() {
    this.ctx.storage.sql.exec("DELETE FROM events WHERE at < ?", Date.now() - 86_400_000);
    this.ctx.storage.sql.exec("DELETE FROM items WHERE id NOT IN (SELECT id FROM items ORDER BY id DESC LIMIT 100)");
  }
  async webSocketClose(ws: WebSocket) {
    this.ctx.storage.sql.exec("DROP TABLE IF EXISTS logs");
  }
  list() {
    const sql = this.ctx.storage.sql;
    return [
      sql.exec("SELECT * FROM notes").toArray(),
      sql.exec("SELECT * FROM events").toArray(),
      sql.exec("SELECT * FROM rounds").toArray(),
      sql.exec("SELECT * FROM jobs").toArray(),
    ];
  }
}
"""


def _retention_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "board.ts").write_text(RETENTION)
    return root


def test_tables_pruned_by_age_count_or_wholesale_are_not_said_to_grow(tmp_path: Path) -> None:
    findings, _ = run(RULE, _retention_project(tmp_path))
    # notes only ever lose one row at a time; events (by age), rounds (wholesale) and jobs
    # (many rows at once) are pruned and do not keep growing
    assert [f.data["tables"] for f in findings] == [["notes"]]
