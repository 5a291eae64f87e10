"""The guards of two keystroke skips of the language server (docs/performance.md, "Issue 14:
keystroke (session 9)" and "the guards of keys5's skips"), each driven through edits where it
decides, the engine's findings compared with a fresh `analyze_paths` after each edit (as in
tests/test_speed_incremental.py, whose session these tests use). Without either guard the
engine keeps a stale answer and a comparison fails.

- `IncrementalRules._rest_checked`'s *unsettled* check: a statement no exec() call's reuse takes
  (`_Calls.rest`: SQL in a constant) that a QUIET_CALLS rule finds nothing in, but whose
  answer reads more than the rule's context, is checked on every run.
- sql-unbounded-read's `_same_growth`: the edited region's statements are compared one run
  against one run only when they are one run of each list (the fresh ones contiguous, the
  moved ones around them in order); a region with an executed and a loose statement is two
  runs of the file's list (its executed statements come first, then its loose ones).
"""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.analysis import analyze_paths
from durable_harden.analyzers.rules import sql_unbounded_read
from tests.test_speed_incremental import _store_session

# `OLD` reads `message`, a table the catalogue does not have (it has `messages`): SQLite cannot
# plan it. schema-change-without-migration reports it unless the scope's statements name
# `message` as a table renamed into (`ALTER TABLE … RENAME TO message` anywhere in a
# statement's text: here in the text a migrations log records, an INSERT, which is no DDL and
# so no part of the catalogue, the rule's context)
RENAMED_FILE = """import { DurableObject } from "cloudflare:workers";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, body TEXT);
  CREATE TABLE IF NOT EXISTS migrations (step TEXT PRIMARY KEY);
`;
const OLD = "SELECT id FROM message";

export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: never) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(SCHEMA);
    });
  }

  legacy(): unknown {
    return this.ctx.storage.sql.exec(OLD).toArray();
  }

  record(): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO migrations (step) VALUES ('ALTER TABLE message_v0 RENAME TO message')"
    );
  }

  size(a: string): number {
    const n = 1;
    return n + a.length;
  }
}
"""


def _reports_old(root: Path) -> bool:
    """Whether a fresh analysis reports `OLD`'s missing table."""
    return any(
        f.rule_id == "schema-change-without-migration" and "`message`" in f.message
        for f in analyze_paths([root]).findings
    )


def _catalogue(root: Path, path: Path) -> str:
    return analyze_paths([root]).model.schema_for(path).content_key


def test_an_unsettled_rest_statement_is_checked_again(tmp_path: Path) -> None:
    """A query in a constant (`_Calls.rest`) that SQLite cannot plan, quiet only because a
    statement elsewhere names its table as renamed into, becomes a finding when that text
    changes in another member of the file (the spliced edit leaves the rest statements moved,
    `rest_token` carried), while the catalogue (the rule's context) stays the same. Without
    `_rest_checked`'s unsettled check the rule skipped the quiet rest and the finding was
    missing."""
    root = tmp_path / "r"
    s, store = _store_session(root, RENAMED_FILE)
    rules = s.engine.rules
    catalogue = _catalogue(root, store)
    assert not _reports_old(root)
    text = RENAMED_FILE
    edits = [
        # (what, old, new, OLD reported afterwards)
        ("typing in a method without SQL", "const n = 1;", "const n = 12;", False),
        ("the logged rename names another table", "TO message')", "TO message_v1')", True),
        ("typing again", "const n = 12;", "const n = 123;", True),
        ("the logged rename back", "TO message_v1')", "TO message')", False),
        ("typing once more", "const n = 123;", "const n = 1234;", False),
    ]
    for what, old, new, reported in edits:
        assert text.count(old) == 1, what
        text = text.replace(old, new)
        s.write(store, text.encode())
        hits = rules.rest_hits
        s.compare(what)
        # the edit was followed below the file and kept the rest (some rule skipped it),
        # and the catalogue is the one of the opening: only the unsettled check reads again
        assert s.engine.open_parsed[store].memo.get("splice") is not None, what
        if what.startswith("typing"):
            assert rules.rest_hits > hits, what
        assert _catalogue(root, store) == catalogue, what
        assert _reports_old(root) == reported, what


def test_an_unsettled_rest_statement_follows_another_file(tmp_path: Path) -> None:
    """The same, the rename's text logged in another file of the scope: the open file is not
    re-parsed (its rest the same statements, its `_Calls` the same object), the catalogue the
    same; without the unsettled check the missing table's finding stayed away."""
    root = tmp_path / "r"
    s, store = _store_session(root, RENAMED_FILE.replace("TO message')", "TO message_v1')"))
    catalogue = _catalogue(root, store)
    assert _reports_old(root)
    extra = root / "src" / "extra.ts"

    def log(target: str) -> bytes:
        return (
            "export function record(sql: SqlStorage): void {\n"
            '  sql.exec("INSERT OR IGNORE INTO migrations (step) VALUES '
            f"('ALTER TABLE message_v0 RENAME TO {target}')\");\n"
            "}\n"
        ).encode()

    for what, target, reported in [
        ("the rename logged in another file", "message", False),
        ("the other file's log names another table", "message_v2", True),
        ("and back", "message", False),
        ("and away again", "message_v3", True),
    ]:
        s.write(extra, log(target))
        s.compare(what)
        assert _catalogue(root, store) == catalogue, what
        assert _reports_old(root) == reported, what


# `look`'s two queries are in the edited member; the edits turn the second into a loose SQL
# literal (a string not passed to exec(), unnamed: a named constant is a fact the splice does
# not follow) that prunes `t1`: then `t1` no longer grows, and `read`'s `.toArray()` is no
# longer reported. The loose statement sits after every executed one in the file's list, so
# the region's fresh statements are two runs with `read`'s query between them (and, the edit
# undone, the old list's region statements are two runs)
GROWTH_FILE = """import { DurableObject } from "cloudflare:workers";

export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: never) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t1 (a TEXT, at INTEGER)");
  }

  add(x: string): void {
    this.ctx.storage.sql.exec("INSERT INTO t1 (a, at) VALUES (?, ?)", x, Date.now());
  }

  look(x: string): void {
    this.ctx.storage.sql.exec("SELECT a FROM t1 WHERE a = ?", x);
    this.ctx.storage.sql.exec("SELECT at FROM t1 WHERE a = ?", x);
  }

  read(x: string): unknown {
    return this.ctx.storage.sql.exec("SELECT * FROM t1 WHERE a = ?", x).toArray();
  }
}
"""


def _reports_read(root: Path) -> bool:
    return any(f.rule_id == "sql-unbounded-read" for f in analyze_paths([root]).findings)


def test_same_growth_with_the_region_in_two_runs(tmp_path: Path) -> None:
    """An edit that replaces an executed query with a loose DELETE literal in the same member,
    and its undo: the region's statements are two runs of one of the lists, and comparing
    them as one run (old's [SELECT, SELECT] against new's [SELECT, `read`'s moved SELECT])
    answered "the same growth" while the DELETE prunes the table. Without the contiguity
    check of `_same_growth` the first edit kept `read`'s stale finding; without its tail
    check the undo missed it."""
    root = tmp_path / "g"
    s, store = _store_session(root, GROWTH_FILE)
    assert _reports_read(root)
    executed = 'this.ctx.storage.sql.exec("SELECT at FROM t1 WHERE a = ?", x);'
    loose = 'console.log("DELETE FROM t1 WHERE at < 5");'
    text = GROWTH_FILE
    edits = [
        # (what, old, new, `read` reported afterwards)
        ("typing in the read", "return this", "return  this", True),
        ("a query replaced by a loose DELETE", executed, loose, False),
        ("typing in the read again", "return  this", "return this", False),
        ("the DELETE replaced by the query again", loose, executed, True),
        ("a loose DELETE appended", executed, executed + "\n    " + loose, False),
        ("and removed", "\n    " + loose, "", True),
    ]
    for what, old, new, reported in edits:
        assert text.count(old) == 1, what
        text = text.replace(old, new)
        s.write(store, text.encode())
        counts = dict(sql_unbounded_read.SAME_GROWTH_COUNTS)
        s.compare(what)
        # followed below the file, and the growing tables carried over through _same_growth
        assert s.engine.open_parsed[store].memo.get("splice") is not None, what
        assert sum(sql_unbounded_read.SAME_GROWTH_COUNTS.values()) > sum(counts.values()), what
        assert _reports_read(root) == reported, what


BOUNDED_BY_A_NAME = """import { DurableObject } from "cloudflare:workers";

export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, tag TEXT)");
  }

  find(tags: string[]): unknown[] {
    const list = tags.slice(0, PAGE);
    return this.ctx.storage.sql
      .exec(`SELECT id FROM items WHERE tag IN (${list.map(() => "?").join(",")})`, ...list)
      .toArray();
  }

  other(): number {
    const PAGE = 50;
    return PAGE;
  }
}
"""


def test_a_generated_list_bounded_by_a_constant_of_another_member(tmp_path: Path) -> None:
    """sql-too-many-params finds a generated list (one `?` per element) bounded when its
    `.slice(0, PAGE)` names a number <= 100, looking the name up in the whole file: editing
    `PAGE` in another member changes the answer while the statement (in the statements no call
    takes: it has a `${…}`) stays the same. It is unsettled (reuse.UNSETTLED_REST), so it is
    checked on every run; without that, the third edit kept the quiet rest's mark and missed
    the finding (the engine's findings against a fresh analysis after each)."""
    s, store = _store_session(tmp_path / "w", BOUNDED_BY_A_NAME)
    for page in (500, 60, 5000, 40):
        s.write(store, BOUNDED_BY_A_NAME.replace("PAGE = 50;", f"PAGE = {page};").encode())
        s.compare(f"PAGE = {page} in another member")
