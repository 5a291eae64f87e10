"""sql-unbounded-read: a growing table loaded whole, `one()` without a key equality."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, expect_file, fixture_cases
from tests.rules._sql_support import (
    FIXTURES,
    RETENTION,
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
    # only where the ORDER BY says which rows the code wants: `ORDER BY id DESC` and one();
    # the unordered reads and the oldest-first spread are left to a human
    unordered = [f for f in findings if f.data["consumer"] in {"iterate", "spread"}]
    assert all(fixes_for(f, model) == [] for f in unordered)
    assert fix_all(RULE, root, unsafe=True) == 2
    after = FIXTURES / RULE / "after" / "src" / "guestbook.ts"
    expect_file((root / "src" / "guestbook.ts").read_text(), after)
    assert sorted(f.data["consumer"] for f in run(RULE, root)[0]) == [
        "iterate",
        "spread",
        "toArray",
    ]
    assert_settled(RULE, root, unsafe=True)


def test_agents_sdk_tagged_template_and_array_from(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    book = root / "src" / "guestbook.ts"
    book.write_text(
        book.read_text().replace(
            "  // Fine: a key lookup",
            "  bodies(): string[] {\n"
            '    return Array.from(this.sql.exec<{ body: string }>("SELECT body FROM entries ORDER BY id DESC"), (r) => r.body);\n'
            "  }\n\n"
            "  // Fine: a key lookup",
        )
    )
    findings, _ = run(RULE, root)
    assert "Array.from" in {f.data["consumer"] for f in findings}
    fix_all(RULE, root, unsafe=True)
    assert (
        '"SELECT body FROM entries ORDER BY id DESC LIMIT ?", ENTRIES_READ_LIMIT)'
        in book.read_text()
    )
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
    # oldest first by id: the newest rows are kept, and reversed back into the code's order
    assert (
        "this.sql`SELECT text FROM notes ORDER BY id DESC LIMIT ${NOTES_READ_LIMIT}`.reverse();"
        in text
    )
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


HISTORY = """import { DurableObject } from "cloudflare:workers";

export class Chat extends DurableObject<unknown> {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT, sent_at INTEGER)");
  }

  post(body: string): void {
    this.ctx.storage.sql.exec("INSERT INTO messages (body, sent_at) VALUES (?, ?)", body, Date.now());
  }

  history(): { body: string }[] {
    return this.ctx.storage.sql.exec<{ body: string }>("SELECT body FROM messages ORDER BY sent_at").toArray();
  }
}
"""


def test_history_read_oldest_first_keeps_the_newest_rows(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "chat.ts"
    path.write_text(HISTORY)
    findings, model = run(RULE, tmp_path)
    (finding,) = findings
    (fix,) = fixes_for(finding, model)
    assert "the newest 1000 rows by `sent_at`" in fix.review
    assert fix_all(RULE, tmp_path, unsafe=True) == 1
    text = path.read_text()
    call = '"SELECT body FROM messages ORDER BY sent_at DESC LIMIT ?", MESSAGES_READ_LIMIT).toArray().reverse();'
    assert call in text
    # what SQLite returns for the rewritten query: the newest rows, oldest of them first
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT, sent_at INTEGER)")
    db.executemany(
        "INSERT INTO messages (body, sent_at) VALUES (?, ?)", [(f"m{i}", i) for i in range(1500)]
    )
    rows = db.execute("SELECT body FROM messages ORDER BY sent_at DESC LIMIT ?", (1000,)).fetchall()
    bodies = [r[0] for r in reversed(rows)]
    assert bodies == [f"m{i}" for i in range(500, 1500)]
    assert_settled(RULE, tmp_path, unsafe=True)


def test_the_limit_constant_goes_after_imports_written_without_semicolons(tmp_path: Path) -> None:
    # found on corpus-dev: `import … from '…'` lines with no `;`: a text search for the end of
    # the imports ran into the class and put the constant inside a SQL template literal
    source = (
        HISTORY.replace(
            'import { DurableObject } from "cloudflare:workers";\n',
            "import { DurableObject } from 'cloudflare:workers'\nimport { z } from './z'\n",
        )
        .replace(
            "export class Chat extends DurableObject {",
            "export class Chat extends DurableObject<unknown> {",
        )
        .replace('ctx.storage.sql.exec("CREATE TABLE', "ctx.storage.sql.exec(`\n      CREATE TABLE")
        .replace(
            'sent_at INTEGER)");\n  }',
            "sent_at INTEGER);\n      CREATE TABLE IF NOT EXISTS seen (id TEXT);\n    `);\n    void z;\n  }",
        )
    )
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "chat.ts"
    path.write_text(source)
    (tmp_path / "src" / "z.ts").write_text("export const z = 1\n")
    assert fix_all(RULE, tmp_path, unsafe=True) == 1
    text = path.read_text()
    assert text.startswith(
        "import { DurableObject } from 'cloudflare:workers'\nimport { z } from './z'\n\n// At most"
    )
    from tests.rules._sql_support import tsc

    assert tsc(tmp_path) == ""


def _retention_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "board.ts").write_text(RETENTION)
    return root


def test_tables_pruned_by_age_count_or_wholesale_are_not_said_to_grow(tmp_path: Path) -> None:
    findings, _ = run(RULE, _retention_project(tmp_path))
    # notes only ever lose one row at a time; events (by age), rounds (wholesale) and jobs
    # (many rows at once) are pruned and do not keep growing
    assert [f.data["tables"] for f in findings] == [["notes"]]
