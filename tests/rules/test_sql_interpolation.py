"""sql-interpolation: `${…}` values become bound parameters; names are reported only."""

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

RULE = "sql-interpolation"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_values_and_names_are_told_apart(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = {span_text(f): f.message_id for f in findings}
    assert kinds == {
        "${status}": "value",
        "${words}": "value",
        "${assignee}": "value",
        "${subject}": "value",
        "${column}": "name",
    }
    name = next(f for f in findings if f.message_id == "name")
    assert "allowlist" in name.message


def test_agents_tag_constants_and_placeholder_lists_are_not_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    assert sum(len(s.substitutions) for s in model.statements) >= 6


def test_fix_binds_values_in_parameter_order(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    fix_all(RULE, root)
    after = (root / "src" / "desk.ts").read_text()
    expect_file(after, FIXTURES / RULE / "after" / "src" / "desk.ts")
    left = run(RULE, root)[0]
    assert [span_text(f) for f in left] == ["${column}"]
    assert_settled(RULE, root)


def test_the_bound_query_means_the_same_in_sqlite() -> None:
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, assignee TEXT)")
    db.execute("INSERT INTO tickets VALUES (1, 'printer on fire', 'ann'), (2, 'fire drill', 'bob')")
    words, assignee = "fire", "ann"
    spliced = db.execute(
        f"SELECT id FROM tickets WHERE subject LIKE '%{words}%' AND assignee = '{assignee}'"
    ).fetchall()
    bound = db.execute(
        "SELECT id FROM tickets WHERE subject LIKE ? AND assignee = ?", (f"%{words}%", assignee)
    ).fetchall()
    assert spliced == bound == [(1,)]


def test_names_get_no_fix(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    column = next(f for f in findings if f.message_id == "name")
    assert fixes_for(column, model) == []


def test_examples_report_nothing() -> None:
    check_examples(RULE)


def test_pragma_argument_is_not_turned_into_a_parameter(tmp_path: Path) -> None:
    # `PRAGMA table_info(?)` is a syntax error in SQLite: no value fix there (found in corpus-dev)
    import sqlite3

    from durable_harden.codeactions import fixes_for

    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "src" / "t.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n\n'
        "export class T extends DurableObject<unknown> {\n"
        "  has(table: string, column: string): boolean {\n"
        "    return this.ctx.storage.sql\n"
        "      .exec<{ name: string }>(`PRAGMA table_info(${table})`)\n"
        "      .toArray()\n"
        "      .some((c) => c.name === column);\n"
        "  }\n"
        "}\n"
    )
    findings, model = run(RULE, root)
    assert all(f.message_id != "value" for f in findings)
    assert all(fixes_for(f, model) == [] for f in findings)
    db = sqlite3.connect(":memory:")
    try:
        db.execute("PRAGMA table_info(?)", ("t",))
    except sqlite3.OperationalError as exc:
        assert "syntax error" in str(exc)
    else:
        raise AssertionError("SQLite accepted a parameter in PRAGMA")


FIXED_BY_CODE = """import { DurableObject } from "cloudflare:workers";
const VERSION = 3;
const validName = (raw: string) => raw.replace(/[^a-z0-9_]/gi, "_");
export class Game extends DurableObject {
  private readonly prefix: string;
  constructor(ctx: DurableObjectState, env: { PREFIX?: string }) {
    super(ctx, env);
    this.prefix = env.PREFIX ?? "app_";
  }
  hasColumn(table: string, column: string): boolean {
    return this.ctx.storage.sql.exec(`PRAGMA table_info(${table})`).toArray().some((c) => c.name === column);
  }
  migrate(): void {
    if (!this.hasColumn("players", "score")) this.ctx.storage.sql.exec("ALTER TABLE players ADD COLUMN score INTEGER");
    if (!this.hasColumn("rounds", "ended")) this.ctx.storage.sql.exec("ALTER TABLE rounds ADD COLUMN ended INTEGER");
  }
  columns(table: string) {
    const quoted = `"${table.replace(/"/g, '""')}"`;
    return this.ctx.storage.sql.exec(`PRAGMA table_info(${quoted})`).toArray();
  }
  events() {
    return this.ctx.storage.sql.exec(`SELECT * FROM "${this.prefix}events" WHERE id > ?`, 0).toArray();
  }
  insertMany(rows: [number, string][], store: string) {
    const table = `log_${VERSION}_${validName(store)}`;
    const marks = rows.map(() => "(?, ?)").join(", ");
    this.ctx.storage.sql.exec(`INSERT INTO ${table} (id, body) VALUES ${marks}`, ...rows.flat());
  }
  search(filter: { where: string; params: unknown[] }) {
    const { where, params } = filter;
    const q = `SELECT * FROM events${where ? " WHERE " + where : ""} LIMIT ?`;
    return this.ctx.storage.sql.exec(q, ...params, 10).toArray();
  }
  unsafe(room: string, table: string) {
    this.ctx.storage.sql.exec(`SELECT * FROM ${table} WHERE room = '${room}'`);
  }
}
"""


def test_text_fixed_by_the_code_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "store.ts").write_text(FIXED_BY_CODE)
    findings, _ = run(RULE, tmp_path)
    # literal-only method parameters, escaped identifiers, readonly configuration, sanitised
    # names, placeholder lists and a fragment run with its own `...params` are the code's own
    # text; a caller's table name and room are not
    assert sorted((f.message_id, span_text(f)) for f in findings) == [
        ("name", "${table}"),
        ("value", "${room}"),
    ]
