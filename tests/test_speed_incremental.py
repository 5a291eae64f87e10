"""Incremental analysis in the language server (analyzers/incremental.py) finds exactly what a
from-scratch `analyze_paths` finds, after every edit of a sequence: typing inside a class,
adding and removing a table, a delete, a binding, an export, a class, editing the wrangler
config, on the examples and on a generated monorepo, and after random edits (seed printed).

The engine keeps its caches between the edits, as the server does; the reference is a fresh
`analyze_paths` of the same files on disk. No timing is asserted."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_harden.analyzers import splice
from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.incremental import MEMBER_LOCAL, SCOPES, STATEMENT_LOCAL
from durable_harden.analyzers.rules import all_rules
from durable_harden.analyzers.rules._bindings import accesses_to
from durable_harden.analyzers.workspace import discover
from durable_harden.server.lsp.engine import Engine, OpenInput
from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent


def _key(finding: Finding) -> tuple[Any, ...]:
    return (
        str(finding.path),
        finding.rule_id,
        finding.span.start,
        finding.span.end,
        finding.message,
        int(finding.severity),
        tuple((str(r.span.path), r.span.start, r.span.end, r.message) for r in finding.related),
        json.dumps(finding.data, sort_keys=True, default=str),
    )


class Session:
    """An engine with some files open, edited like an editor does (open files through their
    buffers, closed ones on disk), compared with a from-scratch analysis after each edit."""

    def __init__(self, root: Path, open_paths: list[Path]) -> None:
        self.root = root
        self.engine = Engine()
        self.open: dict[Path, bytes] = {p: p.read_bytes() for p in open_paths}
        self.version = 1
        self.tick = 0

    def write(self, path: Path, data: bytes) -> None:
        """The file's new content: on disk always (the reference reads it), in the buffer when
        it is open."""
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.tick += 1
        stamp = 1_700_000_000_000_000_000 + self.tick * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))  # a new mtime even within the clock's resolution
        if path in self.open:
            self.open[path] = data
        if not existed:
            self.engine.forget_layout()  # the server does this on a created file

    def remove(self, path: Path) -> None:
        path.unlink()
        self.open.pop(path, None)
        self.engine.forget_layout()

    def compare(self, what: str) -> None:
        self.version += 1
        inputs = {
            p: OpenInput(
                p,
                self.version,
                data,
                "config" if p.name.startswith("wrangler.") else "source",
                Settings(),
                None,
            )
            for p, data in self.open.items()
        }
        root = self.engine.root_for(next(iter(self.open)))
        analysis = self.engine.analyze(root, inputs)
        _forget_content_caches()  # the reference computes everything again
        reference = analyze_paths([self.root])
        got = sorted(_key(f) for p in inputs for f in analysis.findings.get(p, []))
        want = sorted(_key(f) for f in reference.findings if f.path in inputs)
        assert got == want, f"after {what}: incremental and from-scratch findings differ"


def _forget_content_caches() -> None:
    """The caches keyed on content that the engine's analyses share with any other."""
    from durable_harden.analyzers import schema, wrangler
    from durable_harden.analyzers.rules import _sql, _sqlexec, sql_missing_index

    for memo in (_sql._USES, _sqlexec._PARAMS, sql_missing_index._ANALYSES):
        memo.entries.clear()
    schema._BUILT.clear()
    wrangler._LOADED.clear()


def _copy(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules", ".wrangler"))
    return target


def _insert_in_class(text: str, class_name: str, member: str) -> str:
    match = re.search(rf"class {class_name}\b[^{{]*{{", text)
    assert match is not None, class_name
    return text[: match.end()] + "\n" + member + "\n" + text[match.end() :]


TABLE = """  async recordExtra(value: string): Promise<void> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS extra_rows (id INTEGER PRIMARY KEY, value TEXT, at INTEGER)");
    this.ctx.storage.sql.exec("INSERT INTO extra_rows (value, at) VALUES (?, ?)", value, Date.now());
  }"""
DELETE = """  async pruneExtra(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM extra_rows WHERE at < ?", Date.now() - 1000);
  }"""
READ = """  listExtra(): unknown[] {
    return this.ctx.storage.sql.exec("SELECT * FROM extra_rows WHERE value = ?", "x").toArray();
  }"""
BY_USER = """  sessionsOf(user: string): unknown[] {
    return this.ctx.storage.sql.exec("SELECT id FROM sessions WHERE user_id = ? LIMIT 10", user).toArray();
  }"""
INDEX_AT = b"CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at);"
INDEX_USER = b"\n        CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user_id);"
NEW_CLASS = """import { DurableObject } from "cloudflare:workers";

export class ExtraObject extends DurableObject {
  async ping(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
    setInterval(() => {}, 1000);
  }
}
"""


def test_every_rule_declares_its_scope() -> None:
    """A rule added without a declaration still works (re-run on every analysis), but say it."""
    assert sorted(r.id for r in all_rules()) == sorted(SCOPES)


@pytest.mark.parametrize("opened", ["one", "all"])
def test_scripted_edits_on_an_example(tmp_path: Path, opened: str) -> None:
    root = _copy(tmp_path, EXAMPLES / "rate-limiter")
    src = root / "src"
    audit, session, index = src / "audit-log.ts", src / "session-store.ts", src / "index.ts"
    config = root / "wrangler.jsonc"
    found = discover([root])
    paths = [audit] if opened == "one" else [*found.sources, *found.configs]
    s = Session(root, paths)
    s.compare("opening")
    original = {p: p.read_bytes() for p in (audit, session, index, config)}

    text = audit.read_text()
    at = text.index("CREATE TABLE")
    s.write(audit, (text[:at] + "x" + text[at:]).encode())  # typing inside a class
    s.compare("typing inside a class")
    s.write(audit, original[audit])
    s.compare("deleting the letter again")

    s.write(audit, _insert_in_class(audit.read_text(), "AuditLog", TABLE).encode())
    s.compare("adding a table with an insert")
    s.write(session, _insert_in_class(session.read_text(), "SessionStore", READ).encode())
    s.compare("a read of the table in another file")
    s.write(session, _insert_in_class(session.read_text(), "SessionStore", DELETE).encode())
    s.compare("a delete of the table in another (closed or open) file")
    s.write(session, original[session])
    s.compare("removing the delete")
    s.write(audit, original[audit])
    s.compare("removing the table")

    # a query in the open file on a table created in another file, then its index there
    s.write(audit, _insert_in_class(audit.read_text(), "AuditLog", BY_USER).encode())
    s.compare("a query on another file's table")
    s.write(session, original[session].replace(INDEX_AT, INDEX_AT + INDEX_USER))
    s.compare("an index in the other file")
    s.write(session, original[session])
    s.compare("the index removed")
    s.write(audit, original[audit])

    # a class, its binding and its export
    extra = src / "extra.ts"
    s.write(extra, NEW_CLASS.encode())
    s.compare("a new class file")
    cfg = config.read_text()
    bound = cfg.replace(
        '"bindings": [',
        '"bindings": [\n      { "name": "EXTRA", "class_name": "ExtraObject" },',
        1,
    )
    assert bound != cfg
    s.write(config, bound.encode())
    s.compare("a binding in the wrangler config")
    s.write(index, b'export { ExtraObject } from "./extra";\n' + original[index])
    s.compare("an export of the class")
    s.write(index, original[index].replace(b"export { SessionStore }", b"// { SessionStore }"))
    s.compare("an export removed")
    s.write(config, original[config])
    s.compare("the binding removed")
    s.remove(extra)
    s.write(index, original[index])
    s.compare("the class file deleted")


def test_other_open_files_keep_their_results(tmp_path: Path) -> None:
    """An edit that leaves another open file's inputs alone reuses that file's rule results (the
    same objects): its diagnostics change only when their inputs do."""
    root = _copy(tmp_path, EXAMPLES / "rate-limiter")
    src = root / "src"
    env, session = src / "env.ts", src / "session-store.ts"
    s = Session(root, [env, session])
    s.compare("opening")
    memo = s.engine.rules.memo
    sql_rules = [k for k in memo if k[1] == session and SCOPES[k[0]].unit == "statements"]
    assert sql_rules  # the SQL rules have results for the session store
    before = {k: memo[k] for k in sql_rules}
    s.write(env, env.read_bytes() + b"\n// a comment\n")  # no class, no SQL
    s.compare("a comment in a file without SQL")
    assert all(memo[k] is before[k] for k in sql_rules)
    s.write(session, session.read_bytes() + b"\n// a comment\n")
    s.compare("editing the session store itself")
    assert all(memo[k] is not before[k] for k in sql_rules)


def _generated(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    projects = generate(tmp_path / "mono", 24, projects=2, seed=3)
    return projects[0]


def test_scripted_edits_on_a_generated_monorepo(tmp_path: Path) -> None:
    project = _generated(tmp_path)
    found = discover([project])
    classes = [
        p for p in found.sources if re.search(rb"class \w+ extends DurableObject", p.read_bytes())
    ]
    first, second = classes[0], classes[1]
    name_a = re.search(r"class (\w+) extends DurableObject", first.read_text())
    name_b = re.search(r"class (\w+) extends DurableObject", second.read_text())
    assert name_a is not None and name_b is not None
    s = Session(project, [first, *found.configs])
    s.compare("opening")
    s.write(first, _insert_in_class(first.read_text(), name_a.group(1), TABLE).encode())
    s.compare("a table")
    s.write(second, _insert_in_class(second.read_text(), name_b.group(1), DELETE).encode())
    s.compare("its delete in a closed file")
    config = found.configs[0]
    data = json.loads(config.read_text())
    data["durable_objects"]["bindings"] = data["durable_objects"]["bindings"][1:]
    s.write(config, json.dumps(data, indent=2).encode())
    s.compare("a binding removed from the open config")


SNIPPETS = [TABLE, DELETE, READ, "  tick(): void { setTimeout(() => {}, 10); }"]


@pytest.mark.parametrize("seed", [random.randrange(1 << 30)])
def test_random_edits(tmp_path: Path, seed: int) -> None:
    print(f"random edits, seed {seed}")  # rerun a failure with this seed
    rng = random.Random(seed)
    root = _copy(tmp_path, EXAMPLES / rng.choice(["rate-limiter", "chat-room", "game-lobby"]))
    found = discover([root])
    sources = sorted(found.sources)
    opened = rng.sample(sources, k=min(2, len(sources)))
    s = Session(root, opened)
    s.compare("opening")
    for step in range(12):
        path = rng.choice(sources)
        text = path.read_text()
        roll = rng.random()
        if roll < 0.4:  # a character typed or deleted somewhere
            at = rng.randrange(len(text))
            new = text[:at] + rng.choice("ab(){};'\" \n") + text[at:]
            if rng.random() < 0.5:
                new = text[:at] + text[at + 1 :]
            what = f"step {step}: a character at {at} of {path.name}"
        else:
            classes = re.findall(r"class (\w+) extends DurableObject", text)
            if not classes:
                continue
            new = _insert_in_class(text, rng.choice(classes), rng.choice(SNIPPETS))
            what = f"step {step}: a member inserted in {path.name}"
        s.write(path, new.encode())
        s.compare(f"{what} (seed {seed})")


def test_settings_apply_to_copies_of_the_kept_results(tmp_path: Path) -> None:
    """A severity override or a disabled rule in one analysis does not leak into the results the
    engine keeps for the next one (the kept findings are never changed)."""
    root = _copy(tmp_path, EXAMPLES / "rate-limiter")
    path = root / "src" / "session-store.ts"
    engine = Engine()

    def analyse(settings: Settings, version: int) -> list[tuple[str, int]]:
        inputs = {path: OpenInput(path, version, path.read_bytes(), "source", settings, None)}
        analysis = engine.analyze(root, inputs)
        return sorted((f.rule_id, int(f.severity)) for f in analysis.findings[path])

    plain = analyse(Settings(), 1)
    assert plain
    rule = plain[0][0]
    overridden = analyse(Settings(severity={rule: Severity.HINT}), 2)
    assert (rule, int(Severity.HINT)) in overridden and overridden != plain
    assert analyse(Settings(ignore=[rule]), 3) == [f for f in plain if f[0] != rule]
    assert analyse(Settings(), 4) == plain


# -- edits below the file (analyzers/splice.py): a keystroke re-extracts only the edited members
SPLICE_SCHEMA = """export const SCHEMA = `CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, owner TEXT, at INTEGER)`;
"""
SPLICE_STORE = """import { DurableObject } from "cloudflare:workers";
import { SCHEMA } from "./schema";

const LOCAL_SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)";

function runAll(sql: SqlStorage, text: string) {
  return sql.exec(text);
}

export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(SCHEMA);
    ctx.storage.sql.exec(LOCAL_SCHEMA);
  }

  add(owner: string): void {
    this.ctx.storage.sql.exec("INSERT INTO items (owner, at) VALUES (?, ?)", owner, Date.now());
  }

  // a comment between members

  list(owner: string): unknown[] {
    const sql = "SELECT id FROM items WHERE owner = ?";
    return this.ctx.storage.sql.exec(sql, owner).toArray();
  }

  query(text: string, ...params: unknown[]) {
    return this.ctx.storage.sql.exec(text, ...params);
  }

  notes(): unknown[] {
    return this.query("SELECT body FROM notes").toArray();
  }

  ping(env: { STORE: DurableObjectNamespace }): void {
    env.STORE.idFromName("x");
    setTimeout(() => {}, 10);
  }
}
"""
SPLICE_CONFIG = """{
  "name": "store",
  "main": "src/store.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "STORE", "class_name": "Store" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Store"] }]
}
"""
# (what, old text, new text, whether the edited file's model is spliced; None: either, as
# tree-sitter's error recovery decides): each applied to the file as left by the previous one
SPLICE_EDITS: list[tuple[str, str, str, bool | None]] = [
    ("inside a member", "Date.now());\n  }", "Date.now() + 1);\n  }", True),
    ("inside an SQL string", "WHERE owner = ?", "WHERE owner = ? AND at > 0", True),
    ("a comment between members", "a comment between", "one comment between", True),
    (
        "a member added between members",
        "  // one comment",
        '  count(): number {\n    return this.ctx.storage.sql.exec("SELECT count(*) FROM items").one().n as number;\n  }\n\n  // one comment',
        True,
    ),
    ("a field added between members", "  // one comment", "  hits = 0;\n  // one comment", True),
    (
        "above the members: a top-level function",
        "return sql.exec(text);",
        "return sql.exec(text, 1);",
        True,
    ),
    ("a namespace access", 'idFromName("x")', 'idFromName("y")', True),
    ("a local SQL constant", "SELECT id FROM items", "SELECT id, at FROM items", True),
    ("a local SQL constant renamed", "const sql = ", "const q = ", False),
    ("its use renamed too", "exec(sql, owner)", "exec(q, owner)", True),
    # its caller's statements read again (analyzers/splice.py, Splice.constants)
    ("a module constant a statement reads", "body TEXT)", "body TEXT, at INTEGER)", True),
    (
        "an import",
        'import { SCHEMA } from "./schema";',
        'import { SCHEMA as S } from "./schema";',
        False,
    ),
    ("its use (in the constructor)", "exec(SCHEMA)", "exec(S)", True),
    (
        "the class head",
        "class Store extends DurableObject {",
        "class Store extends DurableObject<unknown> {",
        False,
    ),
    # the constructor: its body read again when its parameters and alias facts are the same
    ("the constructor", "super(ctx, env as never);", "super(ctx, env as never); ", True),
    (
        "a statement in the constructor",
        "ctx.storage.sql.exec(LOCAL_SCHEMA);",
        'ctx.storage.sql.exec(LOCAL_SCHEMA);\n    ctx.storage.sql.exec("DELETE FROM notes");',
        True,
    ),
    (
        "an alias assigned in the constructor",
        "super(ctx, env as never);",
        "super(ctx, env as never);\n    this.store = ctx.storage;",
        False,
    ),
    (
        "an alias used in the constructor",
        "ctx.storage.sql.exec(S)",
        "this.store.sql.exec(S)",
        True,
    ),
    (
        "the constructor's parameters",
        "env: unknown) {\n    super",
        "env: never) {\n    super",
        False,
    ),
    (
        "the constructor's parameter renamed",
        "(ctx: DurableObjectState, env: never)",
        "(state: DurableObjectState, env: never)",
        False,
    ),
    (
        "an alias assigned in a method",
        "setTimeout(",
        "this.db = this.ctx.storage.sql;\n    setTimeout(",
        False,
    ),
    ("a wrapper changed", "exec(text, ...params)", "exec(text)", True),
    (
        "a statement through the alias",
        "setTimeout(",
        'this.db.exec("DELETE FROM items");\n    setTimeout(',
        True,
    ),
    ("a character that breaks the rest", "return this.query(", "return this.query(`", None),
    ("and its removal", "return this.query(`", "return this.query(", None),
]


def splice_project(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(SPLICE_CONFIG)
    (root / "src" / "schema.ts").write_text(SPLICE_SCHEMA)
    (root / "src" / "store.ts").write_text(SPLICE_STORE)
    return root


def _store_session(root: Path, text: str) -> tuple[Session, Path]:
    """A worker whose src/store.ts is `text`, open in a Session and compared once: (session,
    store.ts)."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(SPLICE_CONFIG)
    store = root / "src" / "store.ts"
    store.write_text(text)
    s = Session(root, [store])
    s.compare("opening")
    return s, store


def test_edits_below_the_file(tmp_path: Path) -> None:
    """Edits inside, between and above members, in SQL, module constants, imports, the class
    head: the engine (whose model carries the unchanged members over) finds what a fresh
    analysis finds, after each, and the splice is taken where it applies."""
    root = splice_project(tmp_path)
    store, schema = root / "src" / "store.ts", root / "src" / "schema.ts"
    failed = splice.COUNTS["failed"]
    s = Session(root, [store, schema])
    s.compare("opening")
    for what, old, new, spliced in SPLICE_EDITS:
        text = store.read_text()
        assert text.count(old) == 1, what
        s.write(store, text.replace(old, new).encode())
        s.compare(what)
        memo = s.engine.open_parsed[store].memo
        if spliced is not None:
            assert (memo.get("splice") is not None) == spliced, (what, memo.get("no_splice"))
    s.write(schema, SPLICE_SCHEMA.replace("at INTEGER", "at INTEGER, body TEXT").encode())
    s.compare("the imported constant in its own file")
    assert splice.COUNTS["failed"] == failed  # no internal error fell back to the whole file


GROWING_FILE = """export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, owner TEXT, at INTEGER)");
  }

  add(owner: string): void {
    this.ctx.storage.sql.exec("INSERT INTO items (owner, at) VALUES (?, ?)", owner, Date.now());
  }

  all(): unknown[] {
    return this.ctx.storage.sql.exec("SELECT * FROM items WHERE owner = ?", "x").toArray();
  }

  // cleanup

  note(): number {
    return 1;
  }
}
"""


def test_growing_tables_follow_edits_in_the_file(tmp_path: Path) -> None:
    """sql-unbounded-read's growing tables after edits of the file that moves its statements
    (carried from the previous model when the edited region's statements say the same of
    them): a retention DELETE added below the read, typed in, removed; typing above and below.
    Each compared with a fresh analysis, the finding present and gone as the DELETE comes and
    goes."""
    from durable_harden.analyzers.rules.sql_unbounded_read import SAME_GROWTH_COUNTS

    root = tmp_path / "g"
    s, store = _store_session(root, GROWING_FILE)
    prune = (
        "  prune(): void {\n"
        '    this.ctx.storage.sql.exec("DELETE FROM items WHERE at < ?", Date.now());\n'
        "  }\n\n  // cleanup"
    )
    edits = [
        ("typing below the read", GROWING_FILE.replace("return 1;", "return 12;"), True),
        ("a retention DELETE added", GROWING_FILE.replace("  // cleanup", prune), False),
        (
            "typing in it",
            GROWING_FILE.replace("  // cleanup", prune.replace("at < ?", "at <= ?")),
            False,
        ),
        (
            "typing above it",
            GROWING_FILE.replace("  // cleanup", prune).replace('x")', 'xy")'),
            False,
        ),
        ("the DELETE removed", GROWING_FILE.replace("return 1;", "return 2;"), True),
        ("typing above the read", GROWING_FILE.replace("(owner, at)", "(owner,  at)"), True),
    ]
    for what, text, reported in edits:
        s.write(store, text.encode())
        counts = dict(SAME_GROWTH_COUNTS)
        s.compare(what)
        if what.startswith("typing"):
            # the edited region's statements compared, not the file's
            assert SAME_GROWTH_COUNTS["region"] > counts["region"], what
        analysis = s.engine.analyze(
            root, {store: OpenInput(store, s.version, text.encode(), "source", Settings(), None)}
        )
        rules = {f.rule_id for f in analysis.findings[store]}
        assert ("sql-unbounded-read" in rules) == reported, what


def test_same_growth_runs_agree_with_the_statement_by_statement_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sql-unbounded-read's `_same_growth` finds the edited region's statements as one run of
    each list (slices) when it can: random edits of a file of INSERTs, retention DELETEs and
    reads (in SQL strings, between members, adding and removing statements) answer what the
    general check (the moved statements' origins by identity, the others compared one by one)
    and the comparison of the whole file's facts answer, and the findings equal a fresh
    analysis after each edit."""
    import itertools
    import operator

    from durable_harden.analyzers.rules import sql_unbounded_read as sur

    def general(old: list[Any], new: list[Any], file: Any, schema: Any) -> bool | None:
        # the check before the runs were looked for (None: it compared the whole file)
        moved = file.memo.get("splice")
        if moved is None:
            return None
        was = list(map(moved.origin.get, map(id, new)))
        origins = list(filter(None, was))
        carried = set(map(id, origins))
        kept = [s for s in old if id(s) in carried]
        if kept != origins:
            return None
        fresh = itertools.compress(new, map(operator.is_, was, itertools.repeat(None)))
        gone = [s for s in old if id(s) not in carried]
        facts = sur._statement_facts
        same = [facts(s, schema)[1:] for s in gone] == [facts(s, schema)[1:] for s in fresh]
        return True if same else None

    checked = {"calls": 0, "general": 0, "true": 0, "loose": 0}
    real = sur._same_growth

    def spy(old: list[Any], new: list[Any], file: Any, schema: Any) -> bool:
        counts = dict(sur.SAME_GROWTH_COUNTS)
        answer = real(old, new, file, schema)
        by_region = sur.SAME_GROWTH_COUNTS["region"] > counts["region"]
        whole = sur._growth_facts(old, schema) == sur._growth_facts(new, schema)
        reference = general(old, new, file, schema)
        checked["calls"] += 1
        checked["true"] += answer
        checked["loose"] += any(s.loose for s in new)
        if reference is not None:
            checked["general"] += 1
            assert answer == reference
            assert by_region  # found from the region's statements, not the whole file's
        if answer:
            assert whole  # never "the same" when the file's facts differ
        else:
            assert answer == whole
        return answer

    monkeypatch.setattr(sur, "_same_growth", spy)
    methods = []
    for n in range(24):
        if n % 3 == 0:
            sql = f"INSERT INTO t{n % 4} (a, at) VALUES (?, ?)"
        elif n % 3 == 1:
            sql = f"DELETE FROM t{n % 4} WHERE at < ?"
        else:
            sql = f"SELECT * FROM t{n % 4} WHERE a = ?"
        methods.append(
            f"  m{n}(x: string): void {{\n"
            f'    this.ctx.storage.sql.exec("{sql}", x);\n'
            f"    const y = {n};\n"
            # a loose SQL literal: the region's statements are then two runs of the file's
            # list (its executed ones, its loose ones)
            + (f'    const q = "SELECT a FROM t{n % 4} WHERE at > {n}";\n' if n % 2 else "")
            + "  }\n"
        )
    head = (
        'import { DurableObject } from "cloudflare:workers";\n\n'
        "export class Store extends DurableObject {\n"
        "  constructor(ctx: DurableObjectState, env: never) {\n"
        "    super(ctx, env);\n"
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t0 (a TEXT, at INTEGER)");\n'
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t1 (a TEXT, at INTEGER)");\n'
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t2 (a TEXT, at INTEGER)");\n'
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t3 (a TEXT, at INTEGER)");\n'
        "  }\n\n"
    )
    text = head + "\n".join(methods) + "}\n"
    s, store = _store_session(tmp_path / "w", text)
    rng = random.Random(14)
    inserts = [
        '    this.ctx.storage.sql.exec("INSERT INTO t2 (a, at) VALUES (?, ?)", x);\n',
        '    this.ctx.storage.sql.exec("DELETE FROM t3 WHERE at < ?", x);\n',
        "    // a comment\n",
        '    const r = "DELETE FROM t1 WHERE at < 5";\n',
    ]
    current = text
    for step in range(60):
        lines = current.split("\n")
        choice = rng.random()
        row = rng.randrange(9, len(lines) - 2)
        if choice < 0.5:  # a character typed in a line (an SQL string, a name, a number)
            col = rng.randrange(len(lines[row]) + 1)
            lines[row] = lines[row][:col] + rng.choice("x1 ") + lines[row][col:]
            edited = "\n".join(lines)
        elif choice < 0.8 and "exec" in lines[row]:  # a statement removed
            edited = "\n".join(lines[:row] + lines[row + 1 :])
        else:  # a statement or a comment added at the start of a method's body
            starts = [i for i, line in enumerate(lines) if line.startswith("  m")]
            at = rng.choice(starts) + 1
            edited = "\n".join(lines[:at]) + "\n" + rng.choice(inserts) + "\n".join(lines[at:])
        s.write(store, edited.encode())
        s.compare(f"edit {step}")
        current = edited
    assert checked["calls"] >= 30 and checked["general"] >= 20 and checked["true"] >= 10, checked
    assert checked["loose"] >= 30, checked


REST_FILE = """import { DurableObject } from "cloudflare:workers";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY, b TEXT, at INTEGER);
  CREATE INDEX IF NOT EXISTS t_at ON t(at);
`;
const PAIR = "SELECT a FROM t WHERE a = ? AND b = ?";
const SCAN = "SELECT a FROM t WHERE b = ?";
const BY_KEY = "SELECT b FROM t WHERE a = ?";

export class Store extends DurableObject {
  constructor(ctx: DurableObjectState, env: never) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(SCHEMA);
    });
  }

  one(a: string): unknown {
    return this.ctx.storage.sql.exec(PAIR, a).toArray();
  }

  two(b: string): unknown {
    return this.ctx.storage.sql.exec(SCAN, b).toArray();
  }

  three(a: string): unknown {
    return this.ctx.storage.sql.exec(BY_KEY, a).one();
  }

  four(x: string): unknown {
    return this.ctx.storage.sql.exec(`SELECT b FROM t WHERE a = '${x}'`).toArray();
  }

  five(a: string): number {
    const n = 1;
    return n + a.length;
  }

  six(a: string): unknown {
    return this.ctx.storage.sql.exec("SELECT b FROM t WHERE a = ?", a).one();
  }
}
"""


def test_rest_statements_skipped_only_while_unchanged_and_quiet(tmp_path: Path) -> None:
    """The statements no exec() call's reuse takes (SQL in constants, `${…}`: `_Calls.rest`)
    are skipped by a statement rule that found nothing in them, while they are the previous
    version's moved (an edit elsewhere) under the same context (the catalogue); those with a
    finding (a binding count, a scan, an interpolation) are checked each time. Each edit is
    compared with a fresh analysis."""
    root = tmp_path / "r"
    s, store = _store_session(root, REST_FILE)
    rules = s.engine.rules
    edits = [
        # (what, old, new, the rest skipped by some rule)
        (
            "typing in a method without SQL",
            "return n + a.length;",
            "return n + a.length + 1;",
            True,
        ),
        ("and back", "return n + a.length + 1;", "return n + a.length;", True),
        ("typing in a call's SQL", 'WHERE a = ?", a).one()', 'WHERE a = ? ", a).one()', True),
        ("a rest call edited", "exec(BY_KEY, a).one()", "exec(BY_KEY, a, a).one()", False),
        ("typing elsewhere again", "const n = 1;", "const n = 12;", True),
        ("a constant's SQL edited", 'AND b = ?";', 'AND b = ? AND at > 0";', None),
        (
            "a constant run from a new call before its other one (the one kept by the dedupe)",
            "return this.ctx.storage.sql.exec(PAIR, a)",
            "this.ctx.storage.sql.exec(SCAN, a);\n    return this.ctx.storage.sql.exec(PAIR, a)",
            False,
        ),
        (
            "a table added (another catalogue)",
            "ON t(at);",
            "ON t(at);\n  CREATE TABLE IF NOT EXISTS u (x TEXT);",
            None,
        ),
        ("typing after the new table", "const n = 12;", "const n = 123;", True),
        ("the interpolation removed", "a = '${x}'", "a = 'x'", False),
        ("typing once more", "const n = 123;", "const n = 1234;", True),
    ]
    text = REST_FILE
    for what, old, new, skipped in edits:
        assert old in text, what
        text = text.replace(old, new, 1)
        s.write(store, text.encode())
        hits = rules.rest_hits
        s.compare(what)
        if skipped is not None:
            assert (rules.rest_hits > hits) == skipped, what
    # the catalogue changed by another file (the edited one not re-parsed): the quiet rest
    # statements are checked again under it (a query that used an index now scans)
    extra = root / "src" / "extra.ts"
    index = 'sql.exec("CREATE INDEX IF NOT EXISTS t_b ON t(b)");'
    # (what, the new body of extra.ts or None: a keystroke in store.ts, the rest skipped by
    # some rule; None: the call-local rules skip, the catalogue's check again)
    for what, body, skipped in [
        ("an index on b added in another file", index, None),
        ("typing in the open file", None, True),
        ("the index removed again", "", None),
    ]:
        if body is None:
            text = text.replace("const n = 1234;", "const n = 12345;", 1)
            s.write(store, text.encode())
        else:
            s.write(
                extra, f"export function setUp(sql: SqlStorage): void {{\n  {body}\n}}\n".encode()
            )
        hits = rules.rest_hits
        s.compare(what)
        if skipped is not None:
            assert (rules.rest_hits > hits) == skipped, what


# -- the rest of the project on a keystroke: the spliced model, the REACH rules, the growth index


def _model_facts(model: Any) -> dict[str, list[Any]]:
    """What a model says, by content (positions, texts, names), in its order."""

    def where(node: Any) -> tuple[int, int]:
        return (node.start_byte, node.end_byte)

    return {
        "files": [str(f.path) for f in model.files],
        "classes": [
            (str(c.file.path), c.name, where(c.node), c.base, c.reason, c.exported, repr(c.aliases))
            for c in model.classes
        ],
        "statements": [
            (
                str(s.file.path),
                str(s.call_file.path),
                s.text,
                list(s.offsets),
                where(s.call),
                where(s.literal),
                s.index_in_call,
                s.statements_in_call,
                s.bindings,
                s.has_spread_binding,
                s.binding_start,
                s.wrapper,
                s.tagged,
                s.method,
                s.loose,
                s.cls.name if s.cls is not None else None,
                s.cls.file is s.file if s.cls is not None else None,
            )
            for s in model.statements
        ],
        "accesses": [
            (str(a.file.path), where(a.node), a.binding, a.method) for a in model.namespace_accesses
        ],
        "scopes": sorted(
            (str(root), [(str(s.file.path), list(s.offsets)) for s in stmts])
            for root, stmts in model._statements_by_scope.items()
        ),
        # the scopes' catalogues and the statements they name (Schema.rebased on a splice)
        "schemas": sorted(
            (
                str(root),
                sorted(
                    (
                        key,
                        t.columns,
                        t.primary_key,
                        [(str(s.file.path), s.offsets[0]) for s in t.statements],
                    )
                    for key, t in schema.tables.items()
                ),
                sorted(
                    (
                        key,
                        i.table,
                        i.columns,
                        (str(i.statement.file.path), i.statement.offsets[0])
                        if i.statement is not None
                        else None,
                    )
                    for key, i in schema.indexes.items()
                ),
                [(str(s.file.path), s.offsets[0], m) for s, m in schema.errors],
            )
            for root, schema in model._schemas.items()
        ),
    }


def _spliced(model: Any) -> bool:
    from durable_harden.analyzers.model import _STATE

    state = model.__dict__.get(_STATE)
    return state is not None and state.spliced


def _full_build(model: Any) -> Any:
    from durable_harden.analyzers.model import build_model

    parsed = {f.path: f for f in model.files}
    return build_model(model.root, list(parsed), [c.path for c in model.configs], parsed=parsed)


def test_a_constant_run_from_inside_and_outside_the_edit(tmp_path: Path) -> None:
    """One SQL constant run by three calls (one statement after the dedupe, keyed by the
    literal's place), a loose literal: edits inside a caller and inside a member without SQL.
    The spliced model (which reads the moved statements' literal starts and dedupe keys as
    numbers) equals a full build each time, and no result is extracted from the whole file."""
    from tests.test_speed_splice import SHARED_SQL

    root = tmp_path / "w"
    s, store = _store_session(root, SHARED_SQL)
    text = SHARED_SQL
    # (what, old, new, whether the loose literal lies outside the edited member)
    edits = [
        ("in a caller", "// typed here", "// typed here x", True),
        ("in it again", "// typed here x", "// typed here xy", True),
        ("in a member without SQL", "id = 1", "id = 12", False),
        ("in a caller again", "// typed here xy", "// typed", True),
    ]
    for what, old, new, outside in edits:
        text = text.replace(old, new, 1)
        s.write(store, text.encode())
        s.compare(what)
        model = s.engine.models[root]
        assert _spliced(model), what
        assert _model_facts(model) == _model_facts(_full_build(model)), what
        runs = [st for st in model.statements if st.text.startswith("SELECT id, owner")]
        assert len(runs) == 1, what
        loose = [st for st in model.statements if st.loose]
        assert len(loose) == 1, what
        # outside the edit, the loose statement was carried (the executed literals the model
        # read from the moved statements were those of the previous version)
        assert _moved(loose[0], s.engine.open_parsed[store]) is outside, what


WRAPPER_FILE = """import { LIMITS, LOG } from "./limits";

export function runSql(sql: SqlStorage, query: string, ...params: unknown[]) {
  return sql.exec(query, ...params);
}
"""
BASE_FILE = """import { DurableObject } from "cloudflare:workers";

export class BaseStore extends DurableObject {
  db = this.ctx.storage.sql;
}
"""
LIMITS_FILE = """export const LIMITS = "SELECT count(*) FROM rows WHERE id = ?";
export const LOG = "INSERT INTO log (at) VALUES (?)";
"""
USER_FILE = """import { BaseStore } from "./base";
import { runSql } from "./helpers";
import { LIMITS } from "./limits";

export class UserStore extends BaseStore {
  async count(id: string): Promise<unknown> {
    this.db.exec("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, v TEXT)");
    runSql(this.ctx.storage.sql, "INSERT INTO rows (id, v) VALUES (?, ?)", id, "v");
    return this.db.exec(LIMITS, id).one();
  }
}
"""
PLAIN_FILE = """import { DurableObject } from "cloudflare:workers";

export class PlainObject extends DurableObject {
  async add(v: string): Promise<void> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT)");
    this.ctx.storage.sql.exec("INSERT INTO items (v) VALUES (?)", v);
  }
  async both(): Promise<unknown> {
    await this.env.USERS.getByName("a").count("x");
    return this.env.USERS.getByName("b").count("y");
  }
}
"""


def test_a_spliced_model_equals_a_full_build(tmp_path: Path) -> None:
    """The engine's model after an edit is the previous one with the edited file's results
    replaced (model._splice) when nothing another file reads of it changed, and a full build
    otherwise; either way it says what a build from scratch of the same files says."""
    root = tmp_path / "w"
    config = {
        "name": "w",
        "main": "src/index.ts",
        "compatibility_date": "2026-03-01",
        "durable_objects": {
            "bindings": [
                {"name": "USERS", "class_name": "UserStore"},
                {"name": "PLAIN", "class_name": "PlainObject"},
            ]
        },
        "migrations": [{"tag": "v1", "new_sqlite_classes": ["UserStore", "PlainObject"]}],
    }
    files = {
        "src/helpers.ts": WRAPPER_FILE,
        "src/base.ts": BASE_FILE,
        "src/limits.ts": LIMITS_FILE,
        "src/user.ts": USER_FILE,
        "src/plain.ts": PLAIN_FILE,
        "src/index.ts": 'export { UserStore } from "./user";\n'
        'export { PlainObject } from "./plain";\n'
        "export default { async fetch(r: Request, env: any) {"
        ' return env.USERS.getByName("a").count("x"); } };\n',
    }
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(json.dumps(config))
    for rel, text in files.items():
        (root / rel).write_text(text)
    src = root / "src"
    s = Session(root, [src / "plain.ts", src / "user.ts"])

    def step(what: str, path: Path, text: str, spliced: bool | None) -> None:
        before = s.engine.models[root]
        s.write(path, text.encode())
        s.compare(what)
        model = s.engine.models[root]
        fresh = _full_build(model)
        assert _model_facts(model) == _model_facts(fresh), what
        # derived data carried over from the previous model equals a fresh computation
        for cls in model.classes:
            twin = next(c for c in fresh.classes if c.name == cls.name)
            assert [(str(a.file.path), a.node.start_byte) for a in accesses_to(model, cls)] == [
                (str(a.file.path), a.node.start_byte) for a in accesses_to(fresh, twin)
            ], what
        if spliced is not None:
            assert _spliced(model) is spliced, what
        if spliced:
            # the files not edited keep their objects: nothing of them was computed again
            unchanged = {f.path for f in before.files} - {path}
            assert [c for c in before.classes if c.file.path in unchanged] == [
                c for c in model.classes if c.file.path in unchanged
            ]
            assert [a for a in before.namespace_accesses if a.file.path in unchanged] == [
                a for a in model.namespace_accesses if a.file.path in unchanged
            ]

    s.compare("opening")
    accesses_to(s.engine.models[root], s.engine.models[root].classes[0])  # the index, to carry
    plain = PLAIN_FILE
    step("typing in a method", src / "plain.ts", plain.replace("(v)", "(vx)"), True)
    step("typing above the table (its CREATE moves)", src / "plain.ts", "// c\n" + plain, True)
    s.compare("nothing changed (an analysis after a save)")
    model = s.engine.models[root]
    assert _spliced(model) and _model_facts(model) == _model_facts(_full_build(model))
    step(
        "a new statement",
        src / "plain.ts",
        plain.replace("(?)", '(?)");\n  x("DELETE FROM items'),
        True,
    )
    step("typing again", src / "plain.ts", plain, True)
    user = USER_FILE
    # a file running a constant of another file: its statements cross files (a full build)
    step("typing in a subclass", src / "user.ts", user.replace('"v")', '"w")'), False)
    step(
        "a constant imported into the file",
        src / "user.ts",
        user.replace("LIMITS }", "LIMITS, LOG }").replace(
            "return this", "this.db.exec(LOG, 1);\n    return this"
        ),
        False,
    )
    step("back", src / "user.ts", user, None)
    step("typing in the base class's file", src / "base.ts", BASE_FILE + "// c\n", None)
    step(
        "the base class's aliases",
        src / "base.ts",
        BASE_FILE.replace("db = this.ctx.storage.sql;", "store = this.ctx.storage.sql;"),
        False,
    )
    step("the base class's aliases back", src / "base.ts", BASE_FILE, False)
    step("typing in the wrapper's file", src / "helpers.ts", WRAPPER_FILE + "// c\n", True)
    step(
        "the wrapper no longer a wrapper",
        src / "helpers.ts",
        WRAPPER_FILE.replace("sql.exec(query, ...params)", "console.log(query, params)"),
        False,
    )
    step("the wrapper back", src / "helpers.ts", WRAPPER_FILE, False)
    step(
        "an imported constant edited",
        src / "limits.ts",
        LIMITS_FILE.replace("count(*)", "count(1)"),
        False,
    )
    step(
        "a class renamed",
        src / "plain.ts",
        plain.replace("class PlainObject", "class PlainThing"),
        False,
    )
    step("a class renamed back", src / "plain.ts", plain, False)
    step(
        "a constant no longer run (it becomes a loose statement of its file)",
        src / "user.ts",
        user.replace("return this.db.exec(LIMITS, id).one();", "return LIMITS;"),
        False,
    )
    step("run again", src / "user.ts", user, False)
    step(
        "a constant renamed in its file (the importer's statement goes)",
        src / "limits.ts",
        LIMITS_FILE.replace("LIMITS =", "LIMITZ ="),
        False,
    )
    step("a comment in a file without classes", src / "limits.ts", LIMITS_FILE + "// c\n", None)


RPC_CONFIG = {
    "name": "rpc",
    "main": "src/index.ts",
    "compatibility_date": "2026-03-01",
    "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}]},
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Counter"]}],
}
COUNTER = """import { DurableObject, RpcTarget } from "cloudflare:workers";
import { Token } from "./token";

export class Counter extends DurableObject {
  async tokens(): Promise<Token> {
    return new Token(this, "n");
  }
  async ping(): Promise<number> {
    return this.ctx.id.name?.length ?? 0;
  }
  async hello(): Promise<string> {
    return `hi ${this.ctx.id.name}`;
  }
}
"""
TOKEN = """import { RpcTarget } from "cloudflare:workers";

export class Token extends RpcTarget {
  constructor(private owner: unknown, private name: string) { super(); }
}
"""
CALLER = """export default {
  async fetch(request: Request, env: any): Promise<Response> {
    const held = await env.COUNTER.getByName("a").tokens();
    env.COUNTER.getByName("b").ping();
    return new Response(String(held));
  },
};
"""


def test_call_site_rules_follow_edits_in_other_files(tmp_path: Path) -> None:
    """The rules about a class and the call sites reaching it (REACH: rpc-result-not-disposed,
    unawaited-rpc, id-name-undefined, obsolete-name-workaround, rpc-compat-date) see an edit of
    the class in a closed file from an open caller, a caller's edit from the open class, and a
    class renamed or an RpcTarget declared elsewhere."""
    root = tmp_path / "rpc"
    (root / "src").mkdir(parents=True)
    config = root / "wrangler.jsonc"
    config.write_text(json.dumps(RPC_CONFIG))
    src = root / "src"
    counter, token, index = src / "counter.ts", src / "token.ts", src / "index.ts"
    counter.write_text(COUNTER)
    token.write_text(TOKEN)
    index.write_text('export { Counter } from "./counter";\n' + CALLER)
    s = Session(root, [index, token])
    s.compare("opening")
    before = s.engine.rules.runs
    s.write(index, index.read_bytes() + b"\n// typing\n")
    s.compare("typing in the caller")
    assert s.engine.rules.runs > before
    s.write(counter, COUNTER.replace("Promise<Token>", "Promise<unknown>").encode())
    s.compare("the class's method no longer says it returns an RpcTarget (closed file)")
    s.write(
        counter,
        COUNTER.replace('return new Token(this, "n");', "return 1;")
        .replace("Promise<Token>", "Promise<number>")
        .encode(),
    )
    s.compare("nor returns one")
    s.write(counter, COUNTER.encode())
    s.compare("back")
    s.write(token, ("// typed above the wrapper\n" + TOKEN).encode())
    s.compare("typing in the RpcTarget's file (its wrapper finding moves)")
    s.write(token, TOKEN.replace("export class Token", "export abstract class Token").encode())
    s.compare("the RpcTarget abstract")
    s.write(token, TOKEN.replace("extends RpcTarget", "extends Object").encode())
    s.compare("the RpcTarget no longer one (open file)")
    s.write(token, TOKEN.encode())
    s.compare("an RpcTarget again")
    s.write(counter, COUNTER.replace("class Counter", "class Counted").encode())
    s.compare("the class renamed in a closed file")
    s.write(counter, COUNTER.encode())
    s.compare("the name back")
    s.open[counter] = counter.read_bytes()
    s.compare("the class file opened")
    s.write(
        index,
        (
            index.read_text()
            + "export const u = (env: any) => env.COUNTER.get(env.COUNTER.newUniqueId());\n"
        ).encode(),
    )
    s.compare("a caller reaching the class without a name (id-name-undefined in the class)")
    s.write(index, index.read_text().replace("newUniqueId()", 'idFromName("x")').encode())
    s.compare("by name again")
    old = dict(RPC_CONFIG, compatibility_date="2024-01-01")
    s.write(config, json.dumps(old).encode())
    s.compare("a compatibility date before RPC")


GROWTH_CLASS = """import { DurableObject } from "cloudflare:workers";

export class {name} extends DurableObject {
  async put(v: string): Promise<void> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS shared (id INTEGER PRIMARY KEY, v TEXT, at INTEGER)");
{body}
  }
}
"""


def test_growth_index_renames_moved_statements(tmp_path: Path) -> None:
    """unbounded-table-growth's kept index, updated after edits that move the statements
    after them (the splice's MovedStatements take their origins' places: renamed, their facts
    not derived again), equals an index built afresh from the scope's statements, and the
    findings equal a fresh analysis."""
    from durable_harden.analyzers.rules.unbounded_table_growth import GROWTH_COUNTS, GrowthIndex

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from keystroke import big_do_file
    finally:
        sys.path.pop(0)
    root = tmp_path / "w"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(SPLICE_CONFIG.replace("store.ts", "big.ts"))
    text = big_do_file(400, random.Random(5)).replace("BigObject", "Store")
    # a table only inserted into, deletes by key and a retention delete elsewhere
    text = text.replace(
        "  async alarm(): Promise<void> {",
        "  log(x: string): void {\n"
        '    this.ctx.storage.sql.exec("INSERT INTO audit (x) VALUES (?)", x);\n'
        '    this.ctx.storage.sql.exec("DELETE FROM audit WHERE x = ?", x);\n'
        "  }\n\n  async alarm(): Promise<void> {",
    )
    big = root / "src" / "big.ts"
    big.write_text(text)
    session = Session(root, [big])
    session.compare("opening")
    rng = random.Random(5)
    lines = text.split("\n")
    renamed = 0
    for step in range(16):
        row = rng.randrange(30, len(lines))
        edited = list(lines)
        edited[row] += "x"
        before = dict(GROWTH_COUNTS)
        session.write(big, "\n".join(edited).encode())
        session.compare(f"typed on line {row}")
        counts = {k: GROWTH_COUNTS[k] - before[k] for k in before}
        model = session.engine.models[root]
        statements = model._statements_by_scope[root.resolve()]
        schema = model.schema_for(big)
        kept = session.engine.rules.indexes[("unbounded-table-growth", root.resolve())]
        fresh = GrowthIndex.of(statements, schema)
        assert kept.resolved() == fresh.resolved(), step
        assert [id(s) for s in kept.members.values()] == [id(s) for s in statements], step
        parsed = session.engine.open_parsed[big]
        if parsed.memo.get("splice") is not None:
            moved = sum(1 for s in statements if _moved(s, parsed))
            renamed += moved
            # the moved statements were kept (by lineage), not removed and added again
            assert counts["added"] <= len(statements) - moved, step
        session.write(big, text.encode())
        session.compare(f"line {row} again")
    assert renamed > 100


def _moved(stmt: Any, file: Any) -> bool:
    return stmt.file is file and file.memo["splice"].origin.get(id(stmt)) is not None


def test_growth_follows_inserts_and_deletes_across_files(tmp_path: Path) -> None:
    """unbounded-table-growth from the kept per-scope index: the finding sits on the first
    INSERT (by file), so it moves between an open and a closed file as inserts come and go;
    deletes elsewhere prune it, by key they do not, a cascade from a pruned parent does."""
    root = tmp_path / "g"
    (root / "src").mkdir(parents=True)
    classes = ["Alpha", "Beta"]
    (root / "wrangler.jsonc").write_text(
        json.dumps(
            {
                "name": "g",
                "main": "src/index.ts",
                "compatibility_date": "2026-03-01",
                "durable_objects": {
                    "bindings": [{"name": n.upper(), "class_name": n} for n in classes]
                },
                "migrations": [{"tag": "v1", "new_sqlite_classes": classes}],
            }
        )
    )
    src = root / "src"
    a, b = src / "a.ts", src / "b.ts"  # a.ts sorts first: the finding sits there when it inserts
    insert = '    this.ctx.storage.sql.exec("INSERT INTO shared (v, at) VALUES (?, ?)", v, 1);'

    def cls(name: str, body: str) -> bytes:
        return GROWTH_CLASS.replace("{name}", name).replace("{body}", body).encode()

    a.write_bytes(cls("Alpha", ""))
    b.write_bytes(cls("Beta", insert))
    (src / "index.ts").write_text('export { Alpha } from "./a";\nexport { Beta } from "./b";\n')
    s = Session(root, [b])
    s.compare("opening: the insert in the open file")
    read = '    this.ctx.storage.sql.exec("SELECT * FROM shared WHERE v = ?", v).toArray();'
    s.write(b, cls("Beta", insert + "\n" + read))
    s.compare("a read of the growing table")
    s.write(b, b"// typed above\n" + cls("Beta", insert + "\n" + read))
    s.compare("typing above the first insert (the read's related span moves)")
    s.write(b, cls("Beta", insert))
    s.compare("the read removed")
    s.write(a, cls("Alpha", insert))
    s.compare("an insert in a closed file that sorts first: the finding moves there")
    s.write(a, cls("Alpha", '    this.ctx.storage.sql.exec("DELETE FROM shared WHERE id = ?", 1);'))
    s.compare("that insert replaced by a delete by key")
    s.write(a, cls("Alpha", '    this.ctx.storage.sql.exec("DELETE FROM shared WHERE at < ?", 1);'))
    s.compare("a delete by age")
    child = (
        '    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS kids (id INTEGER PRIMARY KEY,'
        ' p INTEGER REFERENCES shared(id) ON DELETE CASCADE)");\n'
        '    this.ctx.storage.sql.exec("INSERT INTO kids (p) VALUES (?)", 1);'
    )
    s.write(b, cls("Beta", insert + "\n" + child))
    s.compare("a child table pruned by the cascade")
    s.write(a, cls("Alpha", ""))
    s.compare("the parent no longer pruned")
    s.write(a, cls("Alpha", "    this.ctx.storage.sql.exec(`DELETE FROM ${v}`);"))
    s.compare("a dynamic delete")
    s.write(a, cls("Alpha", ""))
    s.compare("none")


KV_CONFIG = {
    "name": "kv",
    "main": "src/index.ts",
    "compatibility_date": "2026-03-01",
    "durable_objects": {"bindings": [{"name": "STORE", "class_name": "Store"}]},
    "migrations": [{"tag": "v1", "new_classes": ["Store"]}],
}
KV_CLASS = """import { DurableObject } from "cloudflare:workers";

export class Store extends DurableObject {
  async put(v: string): Promise<void> {
    this.ctx.storage.sql.exec("INSERT INTO t (v) VALUES (?)", v);
  }
}
"""


def test_config_only_rules_report_in_configs(tmp_path: Path) -> None:
    """Rules declared `configs_only` run only while a config is open: every finding they
    report is in a wrangler config (here and on the examples), and with the config open an edit
    of a source file still changes it (kv-backed-class: a KV-backed class that runs SQL)."""
    configs_only = {rule for rule, scope in SCOPES.items() if scope.configs_only}
    assert {"kv-backed-class", "migration-history-edited"} <= configs_only
    for example in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        for finding in analyze_paths([example]).findings:
            if finding.rule_id in configs_only:
                assert finding.path.name.startswith("wrangler."), finding
    root = tmp_path / "kv"
    (root / "src").mkdir(parents=True)
    config = root / "wrangler.jsonc"
    config.write_text(json.dumps(KV_CONFIG))
    store = root / "src" / "store.ts"
    store.write_text(KV_CLASS)
    (root / "src" / "index.ts").write_text('export { Store } from "./store";\n')
    s = Session(root, [config, store])
    s.compare("opening")
    reported = [f for f in analyze_paths([root]).findings if f.rule_id in configs_only]
    assert reported and all(f.path == config for f in reported)
    s.write(
        store,
        KV_CLASS.replace(
            'this.ctx.storage.sql.exec("INSERT INTO t (v) VALUES (?)", v);', ""
        ).encode(),
    )
    s.compare("the class no longer runs SQL (the config's finding changes)")


# -- below the class: member-level reuse (analyzers/incremental.py, MEMBER_LOCAL) -------------

MEMBERS_FILE = """import { DurableObject } from "cloudflare:workers";

export class Members extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, owner TEXT)");
    });
  }

  async alarm(): Promise<void> {
    await this.ctx.storage.put("a", 1);
    await this.ctx.storage.put("b", 2);
  }

  async save(key: string): Promise<void> {
    await this.ctx.storage.put(key, 1);
    await this.ctx.storage.delete("old");
    await this.ctx.storage.put("seen", true);
  }

  async everything(): Promise<unknown> {
    return await this.ctx.storage.list();
  }

  async each(keys: string[]): Promise<number> {
    let total = 0;
    for (const key of keys) {
      const value = await this.ctx.storage.get<number>(key);
      total += value ?? 0;
    }
    return total;
  }

  async greet(ws: WebSocket): Promise<void> {
    const result = ws.serializeAttachment({ id: 1 });
    console.log(result);
  }

  list(owner: string): unknown[] {
    return this.ctx.storage.sql.exec("SELECT id FROM items WHERE owner = ?", owner).toArray();
  }

  count(owner: string): number {
    return this.ctx.storage.sql.exec("SELECT COUNT(*) AS n FROM items WHERE owner = ? AND id = ?", owner).one().n as number;
  }

  tune(): void {
    this.ctx.storage.sql.exec("PRAGMA journal_mode = WAL");
  }

  begin(): void {
    this.ctx.storage.sql.exec("BEGIN TRANSACTION");
  }

  async viaField(): Promise<void> {
    await this.kv.put("x", 1);
    await this.kv.put("y", 2);
  }

  compute(values: number[]): number {
    let total = 0;
    for (const value of values) {
      total += value;
    }
    return total;
  }
}
"""


def _members_project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "members"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        json.dumps(
            {
                "name": "members",
                "main": "src/index.ts",
                "compatibility_date": "2026-03-01",
                "durable_objects": {"bindings": [{"name": "M", "class_name": "Members"}]},
                "migrations": [{"tag": "v1", "new_sqlite_classes": ["Members"]}],
            }
        )
    )
    (root / "src" / "index.ts").write_text(
        'export { Members } from "./members";\nexport default { fetch() { return new Response(); } };\n'
    )
    target = root / "src" / "members.ts"
    target.write_text(MEMBERS_FILE)
    return root, target


def _edit(text: str, anchor: str, insert: str, after: bool = False) -> str:
    at = text.index(anchor) + (len(anchor) if after else 0)
    return text[:at] + insert + text[at:]


def test_member_edits_match_a_fresh_analysis(tmp_path: Path) -> None:
    """Edits inside, between and above members, of the outline (a handler renamed, a field
    that adds a storage alias), inside an SQL string and a member with a syntax error: the
    member-level reuse finds what a fresh analysis finds, and re-checks only the edited
    members."""
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    rules = s.engine.rules
    assert rules.members, "the member-local rules kept their findings by member"
    # call-local statement rules with a finding to carry (and to shift)
    found = {f.rule_id for f in analyze_paths([root]).findings}
    assert {"sql-pragma-not-allowed", "sql-transaction-statement"} <= found, found
    text = MEMBERS_FILE

    edits = [
        ("typing inside a member with findings", _edit(text, 'put("b"', "x", after=True)),
        (
            "typing inside a member without findings",
            _edit(text, "let total = 0;\n    for (const value", "x"),
        ),
        ("a blank line between members", _edit(text, "  async save(", "\n")),
        ("a comment above the class", "// head\n" + text),
        ("a line added above every member", _edit(text, "  async alarm()", "  // note\n")),
        ("typing inside an SQL string", _edit(text, "WHERE owner = ?", " ", after=True)),
        (
            "a third awaited write in the alarm",
            _edit(
                text,
                '    await this.ctx.storage.put("b", 2);\n',
                '    await this.ctx.storage.put("c", 3);\n',
                after=True,
            ),
        ),
        (
            "the writes split by another await",
            _edit(text, '    await this.ctx.storage.delete("old");\n', "    await fetch('x');\n"),
        ),
        ("the handler renamed", text.replace("async alarm()", "async alarmed()")),
        # the writes of viaField() become a finding, with no edit of that member
        (
            "a field that adds a storage alias",
            _edit(text, "  constructor(", "  kv = this.ctx.storage;\n\n"),
        ),
        ("a syntax error inside a member", _edit(text, "return total;\n  }\n}", "(((")),
        (
            "a member removed",
            text.replace(
                "  async greet(ws: WebSocket): Promise<void> {\n    const result = ws.serializeAttachment({ id: 1 });\n    console.log(result);\n  }\n\n",
                "",
            ),
        ),
    ]
    for what, new_text in edits:
        s.write(target, new_text.encode())
        runs, calls = rules.member_runs, rules.call_runs
        s.compare(what)
        if what == "typing inside an SQL string":
            # that exec() call re-checked per call-local statement rule, the other reused
            assert rules.call_runs - calls == len(STATEMENT_LOCAL), what
        if what in {
            "typing inside a member with findings",
            "typing inside a member without findings",
        }:
            # one member re-checked per member-local rule, the others reused
            assert rules.member_runs - runs == len(MEMBER_LOCAL), what
        s.write(target, text.encode())
        s.compare(f"undoing {what}")
    assert rules.member_hits > 0
    assert rules.call_hits > 0


def test_code_action_on_a_reused_finding(tmp_path: Path) -> None:
    """A finding reused from an earlier analysis (its member unchanged, shifted by an edit
    above it) gets the same fixes as the same finding of a fresh run: its rule runs again on
    the class for its state (`fresh_state`)."""
    from durable_harden.analyzers.incremental import Rerun
    from durable_harden.codeactions import fixes_for

    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    s.write(target, ("// a line above\n" + MEMBERS_FILE).encode())
    s.compare("a line above the class")
    inputs = {target: OpenInput(target, s.version, s.open[target], "source", Settings(), None)}
    analysis = s.engine.analyze(root, inputs)
    reference = analyze_paths([root])
    fixable = {"await-between-kv-writes", "kv-unbounded-list", "serialize-attachment-misuse"}
    reused = [f for f in analysis.findings[target] if isinstance(f.state, Rerun)]
    assert {f.rule_id for f in reused} == {
        *fixable,
        "sql-bindings-mismatch",
        "sql-pragma-not-allowed",
        "sql-transaction-statement",
    }
    offered: set[str] = set()
    for finding in reused:
        fresh = next(
            f
            for f in reference.findings
            if f.rule_id == finding.rule_id and f.span == finding.span and f.data == finding.data
        )
        want = [(x.title, x.edits, x.creates) for x in fixes_for(fresh, reference.model)]
        got = [(x.title, x.edits, x.creates) for x in analysis.fixes_of(finding)]
        assert got == want, finding.rule_id
        if want:
            offered.add(finding.rule_id)
    assert offered >= fixable, "each class rule's reused findings include one with a fix"


def test_member_local_rules_are_class_rules() -> None:
    for rule_id, local in MEMBER_LOCAL.items():
        assert SCOPES[rule_id].unit == "classes", rule_id
        assert local.reason, rule_id
    for rule_id, local in STATEMENT_LOCAL.items():
        assert SCOPES[rule_id].unit == "statements", rule_id
        assert local.reason, rule_id


@pytest.mark.parametrize("seed", [random.randrange(1 << 30)])
def test_random_edits_between_and_inside_members(tmp_path: Path, seed: int) -> None:
    """Characters typed and deleted anywhere in a class of many members (its SQL strings, its
    writes, its fields, between members, above it), one after the other as in an editor: the
    member- and call-level reuse finds what a fresh analysis finds after each."""
    print(f"random member edits, seed {seed}")  # rerun a failure with this seed
    rng = random.Random(seed)
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    text = MEMBERS_FILE
    for step in range(16):
        at = rng.randrange(len(text))
        if rng.random() < 0.3 and text:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + rng.choice("ab(){};'\"? \n") + text[at:]
        s.write(target, text.encode())
        s.compare(f"step {step}: a character at {at} (seed {seed})")
        if rng.random() < 0.3:
            text = MEMBERS_FILE  # undo everything, as a revert does
            s.write(target, text.encode())
            s.compare(f"step {step}: reverted (seed {seed})")


def test_a_failing_rule_is_reported_once_by_member_and_call_runs(tmp_path: Path) -> None:
    """A member- or call-local rule (or one kept per quiet call) that raises: one problem per
    analysis (as a run over the whole file or class reports), not one per member or exec()
    call re-checked alone."""
    from dataclasses import replace

    from durable_harden.analyzers.incremental import IncrementalRules
    from durable_harden.analyzers.rules import all_rules as rules_now

    def boom(model: Any) -> Any:
        if model.classes or model.statements:
            raise RuntimeError("boom")
        return iter(())

    by_id = {r.id: r for r in rules_now()}
    failing = [
        replace(by_id[i], check=boom)
        for i in ("kv-unbounded-list", "sql-pragma-not-allowed", "sql-missing-index")
    ]
    root, target = _members_project(tmp_path)
    engine = IncrementalRules()
    for step in range(3):  # the first run, then members and calls checked alone
        target.write_text(("// edit\n" * step) + MEMBERS_FILE)
        model = analyze_paths([root]).model
        before = len(model.problems)
        assert engine.findings(model, failing, [target]) == []
        messages = [p.message for p in model.problems[before:]]
        assert sorted(messages) == [
            "internal error in rule kv-unbounded-list: RuntimeError: boom",
            "internal error in rule sql-missing-index: RuntimeError: boom",
            "internal error in rule sql-pragma-not-allowed: RuntimeError: boom",
        ], step


@pytest.mark.parametrize("unit", ["classes", "statements"])
def test_a_scoped_view_carries_every_field_of_the_project_model(unit: str) -> None:
    # ScopedModel sets the model's fields itself (not through the dataclass's __init__, for
    # speed): a field added to ProjectModel and not to the view would be missing in the rules
    # that run on views; here it fails first
    import dataclasses

    from durable_harden.analyzers.incremental import ScopedModel
    from durable_harden.analyzers.model import ProjectModel

    whole = analyze_paths([EXAMPLES]).model
    items = list(getattr(whole, unit))[:2]
    view = ScopedModel(whole, unit, items)
    for field in dataclasses.fields(ProjectModel):
        assert field.name in view.__dict__, f"ScopedModel does not set {field.name}"
        if field.name == unit:
            assert getattr(view, unit) == items
        elif field.name != "memo":
            assert getattr(view, field.name) is getattr(whole, field.name), field.name


# -- statement rules that read the scope, kept per exec() call while quiet (QUIET_CALLS) -------

QUIET_FILE = """import { DurableObject } from "cloudflare:workers";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, room TEXT, body TEXT, at INTEGER);
  CREATE TABLE IF NOT EXISTS scores (id INTEGER PRIMARY KEY, points INTEGER);
  CREATE TABLE IF NOT EXISTS scores_legacy (id INTEGER PRIMARY KEY);
`;

export class Chat extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(SCHEMA);
    });
  }

  post(room: string, body: string): void {
    this.ctx.storage.sql.exec("INSERT INTO messages (room, body, at) VALUES (?, ?, ?)", room, body, Date.now());
  }

  page(room: string): unknown[] {
    return this.ctx.storage.sql.exec("SELECT body FROM messages WHERE id > ? LIMIT 20", room).toArray();
  }

  recent(room: string): unknown[] {
    const cursor = this.ctx.storage.sql.exec("SELECT body FROM messages WHERE room = ? ORDER BY id", room);
    return cursor.toArray();
  }

  edit(id: number): void {
    this.ctx.storage.sql.exec("UPDATE messages SET edited_at = ? WHERE id = ?", Date.now(), id);
  }

  top(): unknown[] {
    return this.ctx.storage.sql.exec("SELECT points FROM scores WHERE id = ?", 1).toArray();
  }

  migrate(): void {
    this.ctx.storage.sql.exec("ALTER TABLE scores ADD COLUMN rank INTEGER NOT NULL");
  }

  count(): number {
    return this.ctx.storage.sql.exec("SELECT COUNT(*) AS n FROM messages").one().n as number;
  }

  legacy(): unknown[] {
    return this.ctx.storage.sql.exec("SELECT points FROM scores_legacy WHERE id = ?", 1).toArray();
  }

  named(name: string): unknown[] {
    return this.ctx.storage.sql.exec(`SELECT body FROM messages WHERE id = '${name}'`).toArray();
  }

  noted(): void {
    // a rename the catalogue does not see (not DDL: a comment), which the rule reads
    this.ctx.storage.sql.exec("/* ALTER TABLE scores RENAME TO scores_legacy */ SELECT 1");
  }
}
"""


def test_scope_reading_statement_rules_follow_edits(tmp_path: Path) -> None:
    """sql-missing-index, sql-unbounded-read and schema-change-without-migration, whose exec()
    calls are skipped while they are quiet under the same catalogue and growing tables: typing
    in quiet and in reported calls, a finding made and unmade by code outside its call (how the
    cursor is consumed), the catalogue changed (a column, an index), the growing tables changed
    (a retention DELETE), everything moved by a line above. Each compared with a fresh
    analysis; quiet calls are skipped, and an edit inside one call checks that call again."""
    from durable_harden.analyzers.incremental import QUIET_CALLS

    assert set(QUIET_CALLS) == {
        "sql-missing-index",
        "sql-unbounded-read",
        "schema-change-without-migration",
        "sql-interpolation",
    }
    root = tmp_path / "quiet"
    s, store = _store_session(root, QUIET_FILE)
    found = {f.rule_id for f in analyze_paths([root]).findings}
    assert set(QUIET_CALLS) <= found, found
    rules = s.engine.rules
    text = QUIET_FILE
    prune = '    this.ctx.storage.sql.exec("DELETE FROM messages WHERE at < ?", Date.now());\n'
    edits = [
        ("typing in a quiet call", text.replace("LIMIT 20", "LIMIT 200"), True),
        ("typing in a reported call", text.replace("ORDER BY id", "ORDER BY  id"), True),
        (
            "the cursor no longer loaded",
            text.replace("return cursor.toArray();", "return [];"),
            True,
        ),
        ("the cursor loaded with one()", text.replace("cursor.toArray()", "[cursor.one()]"), True),
        (
            "a column added to the CREATE",
            text.replace("at INTEGER)", "at INTEGER, edited_at INTEGER)"),
            False,
        ),
        (
            "an index that serves the query",
            text.replace(
                "`;\n\nexport",
                "  CREATE INDEX IF NOT EXISTS by_room ON messages(room, id);\n`;\n\nexport",
            ),
            False,
        ),
        (
            "a retention DELETE",
            text.replace(
                '    this.ctx.storage.sql.exec("INSERT',
                prune + '    this.ctx.storage.sql.exec("INSERT',
            ),
            False,
        ),
        ("a LIMIT on the reported read", text.replace("ORDER BY id", "ORDER BY id LIMIT 5"), True),
        (
            "the ALTER given a DEFAULT (the catalogue changes)",
            text.replace('NOT NULL")', 'NOT NULL DEFAULT 0")'),
            False,
        ),
        ("a line above everything", "// head\n" + text, True),
        (
            "the rename read by the rule removed (not DDL: the same catalogue)",
            text.replace("/* ALTER TABLE scores RENAME TO scores_legacy */ ", ""),
            True,
        ),
        ("the substitution made a placeholder", text.replace("'${name}'`)", "?`, name)"), True),
        ("typing by the substitution", text.replace("'${name}'", "'${name} '"), True),
        ("a query of a missing table", text.replace("FROM scores WHERE", "FROM scors WHERE"), True),
    ]
    for what, new_text, same_context in edits:
        assert new_text != text, what
        s.write(store, new_text.encode())
        hits, runs = rules.quiet_hits, rules.quiet_runs
        s.compare(what)
        if same_context:
            # the quiet calls were skipped: only the edited call and the reported ones checked
            assert rules.quiet_hits > hits, what
            assert rules.quiet_runs - runs <= len(QUIET_CALLS) * 4, what
        s.write(store, text.encode())
        s.compare(f"undoing {what}")


def test_rollout_findings_in_sources_and_configs(tmp_path: Path, monkeypatch: Any) -> None:
    """rollout-unsafe in the language server (FILE_PARTS): in a source file only its canary
    part runs (memoised like any per-file result), the part reading deploy scripts, CI and git
    only while a config is open; both compared with a fresh analysis, also after the deploy
    script on disk changes."""
    from durable_harden.analyzers import incremental

    part = incremental.FILE_PARTS["rollout-unsafe"]
    calls: list[int] = []

    def counted(model: Any) -> Any:
        calls.append(1)
        return part.elsewhere(model)

    monkeypatch.setitem(
        incremental.FILE_PARTS,
        "rollout-unsafe",
        incremental.FileParts(part.in_sources, part.facts, counted, part.reason),
    )
    fixtures = ROOT / "tests" / "fixtures" / "rollout-unsafe"
    pipelines = _copy(tmp_path, fixtures / "pipelines")
    index = pipelines / "src" / "index.ts"
    s = Session(pipelines, [index])
    s.compare("a source file with a canary ternary")
    assert "second-binding-canary" in {
        f.message_id for f in analyze_paths([pipelines]).findings if f.path == index
    }
    s.write(index, index.read_bytes().replace(b"\n", b"\n\n", 1))
    s.compare("a line added above the canary")
    assert calls == []  # no config open: the deploy scripts were not read

    plain = _copy(tmp_path, fixtures / "plain-deploy")
    config, source = plain / "wrangler.jsonc", plain / "src" / "index.ts"
    s = Session(plain, [config, source])
    s.compare("the config open: no rollout path")
    assert calls

    def in_config() -> list[str]:
        return [f.message_id for f in analyze_paths([plain]).findings if f.path == config]

    assert in_config() == ["no-rollout-path"]
    package = plain / "package.json"
    s.write(package, package.read_bytes().replace(b"wrangler deploy", b"wrangler versions upload"))
    s.compare("the deploy script now uploads a version")
    assert in_config() == []


# -- typing inside top-level string constants (analyzers/splice.py, Splice.constants) --------
CONSTANTS_FILE = """import { DurableObject } from "cloudflare:workers";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT);
  CREATE INDEX IF NOT EXISTS items_by_owner ON items(owner);
`;

const BY_OWNER = "SELECT id, body FROM items WHERE owner = ?";

const FILTER = "owner = ?";

const FULL = `SELECT id FROM items WHERE ${FILTER}`;

export const COUNT_SQL = "SELECT count(*) AS n FROM items";

const QUERY = "SELECT id FROM items";

const EMPTY = ``;

const STEP = "ALTER TABLE items ADD COLUMN extra TEXT";

function helper(sql: SqlStorage): unknown[] {
  return sql.exec(BY_OWNER, "x").toArray();
}

function runAll(sql: SqlStorage, steps: { sql: string }[]): void {
  for (const step of steps) sql.exec(step.sql);
}

export class Store extends DurableObject {
  static readonly BY_ID = "id = ?";

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(SCHEMA);
  }

  byId(id: number): unknown[] {
    return this.ctx.storage.sql.exec(`SELECT body FROM items WHERE ${Store.BY_ID}`, id).toArray();
  }

  first(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(BY_OWNER, owner).toArray();
  }

  second(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(BY_OWNER, owner).toArray();
  }

  filtered(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(`SELECT body FROM items WHERE ${FILTER}`, owner).toArray();
  }

  full(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(FULL, owner).toArray();
  }

  loose(): string {
    return `DELETE FROM notes WHERE ${FILTER}`;
  }

  shadowed(): unknown[] {
    const QUERY = "SELECT body FROM items";
    return this.ctx.storage.sql.exec(QUERY).toArray();
  }

  count(): number {
    return this.ctx.storage.sql.exec(COUNT_SQL).one().n as number;
  }

  empty(owner: string): unknown[] {
    return this.ctx.storage.sql.exec(EMPTY, owner).toArray();
  }

  migrate(): void {
    runAll(this.ctx.storage.sql, [{ sql: "DELETE FROM notes" }, { sql: STEP }, { sql: QUERY }]);
  }

  both(): void {
    this.ctx.storage.sql.exec(`SELECT 1; DELETE FROM notes WHERE ${FILTER}; SELECT 2`);
  }

  looseBoth(): string {
    return `UPDATE notes SET n = 1; DELETE FROM notes WHERE ${FILTER}; SELECT 3`;
  }

  add(owner: string, body: string): void {
    this.ctx.storage.sql.exec("INSERT INTO items (owner, body) VALUES (?, ?)", owner, body);
  }

  forget(owner: string): void {
    this.ctx.storage.sql.exec("DELETE FROM items WHERE owner = ?", owner);
  }
}
"""
# another file of the worker runs the exported constant
CONSTANTS_READER = """import { DurableObject } from "cloudflare:workers";
import { COUNT_SQL } from "./store";

export class Reader extends DurableObject {
  count(): number {
    return this.ctx.storage.sql.exec(COUNT_SQL).one().n as number;
  }
}
"""


def constant_typing() -> list[tuple[str, str, bool | None]]:
    """CONSTANTS_FILE's versions as typing in its constants makes them, one keystroke after
    another: (what, the text, whether the edited file's model is spliced; None: either)."""
    steps: list[tuple[str, str, bool | None]] = []
    text = CONSTANTS_FILE

    def typed(what: str, anchor: str, letters: str, spliced: bool | None = True) -> None:
        nonlocal text
        at = text.index(anchor) + len(anchor)
        for n, letter in enumerate(letters):
            text = text[:at] + letter + text[at:]
            at += len(letter)
            steps.append((f"{what}: {letters[: n + 1]!r}", text, spliced))

    def erased(what: str, anchor: str, letters: str) -> None:
        nonlocal text
        at = text.index(anchor + letters) + len(anchor + letters)
        for n in range(len(letters)):
            text = text[: at - 1] + text[at:]
            at -= 1
            steps.append((f"{what}: {letters[: len(letters) - n - 1]!r}", text, True))

    def replaced(what: str, old: str, new: str, spliced: bool | None) -> None:
        nonlocal text
        assert text.count(old) == 1, old
        text = text.replace(old, new)
        steps.append((what, text, spliced))

    # a class's field in a method's `${…}` (typed and erased: the rules that read its text
    # find nothing in the file before and after, see incremental._rest_checked)
    typed("a class field in `${}`", 'BY_ID = "id = ?', " OR id = ?")
    erased("the field again", 'BY_ID = "id = ?', " OR id = ?")
    # a constant in the `${…}` of another constant and of a method's SQL, and of a loose one
    typed("a constant in `${}`", 'FILTER = "owner = ?', " AND body = ?")
    # the schema's DDL (the catalogue the other statements are checked against): `forget`
    # deletes by the key once `owner` is unique (unbounded-table-growth)
    typed("a unique owner", "owner TEXT NOT NULL", " UNIQUE")
    typed("a schema column", "body TEXT", ", tag TEXT")
    typed("a schema index", "ON items(owner);", "\n  CREATE INDEX items_by_tag ON items(tag);")
    # a query run from two methods and a function (one statement after the dedupe)
    typed("a query run from three places", "WHERE owner = ?", " AND body = ?")
    # an exported constant, and one shadowed by a method's local of the same name
    typed("an exported constant", "AS n FROM items", " WHERE tag = ?")
    typed("a shadowed constant", 'QUERY = "SELECT id FROM items', " WHERE owner = 1")
    # a constant a call through the project's own wrapper runs (in an object of an array)
    typed("a constant run by a wrapper", "ADD COLUMN extra TEXT", " NOT NULL DEFAULT ''")
    # a constant that held no SQL: its callers are not known from its statements
    typed("an empty constant", "EMPTY = `", "SELECT ?, ?", None)
    # renamed while typing: other names, the whole file read
    typed("a constant renamed", "const BY_OWNER", "2", False)
    replaced("its name back", "const BY_OWNER2", "const BY_OWNER", False)
    # `let`, a `${…}` typed in: the whole file read
    replaced("a `let`", "const FILTER", "let FILTER", False)
    replaced("a `const` again", "let FILTER", "const FILTER", False)
    typed("a `${}` in the schema", "tag TEXT", "${}", None)
    typed("a name in it", "tag TEXT${", "x", False)
    replaced("the `${}` removed", "tag TEXT${x}", "tag TEXT", False)
    typed("the schema again", "tag TEXT", " NOT NULL")
    return steps


def test_typing_in_top_level_constants(tmp_path: Path) -> None:
    """Typing character by character in top-level string constants (schema DDL, a query run
    from three places, a constant in another's `${}`, an exported, a shadowed, an empty one),
    renaming one, turning one into `let`, typing a `${}`: after every keystroke the engine
    finds what a fresh analysis finds, and the model equals a full build; the splice is taken
    where the calls that run the constant are read again."""
    from durable_harden.analyzers.incremental import MEMBERS_COUNTS, _Members
    from durable_harden.analyzers.rules.unbounded_table_growth import GROWTH_COUNTS, GrowthIndex

    (tmp_path / "w" / "src").mkdir(parents=True)
    (tmp_path / "w" / "src" / "reader.ts").write_text(CONSTANTS_READER)
    s, store = _store_session(tmp_path / "w", CONSTANTS_FILE)
    failed = splice.COUNTS["failed"]
    carried = MEMBERS_COUNTS["carried"]
    catalogue = GROWTH_COUNTS["catalogue"]
    reasons: set[str] = set()
    for step, (what, text, spliced) in enumerate(constant_typing()):
        whole = splice.COUNTS["whole"]
        s.write(store, text.encode())
        s.compare(what)
        memo = s.engine.open_parsed[store].memo
        if spliced is not None:
            assert (memo.get("splice") is not None) == spliced, (what, memo.get("no_splice"))
        if spliced and step:  # every result of the file carried over, none extracted whole
            # (but on the first edit: the opening analysis summarized no wrapper of the file)
            assert splice.COUNTS["whole"] == whole, what
        if memo.get("splice") is None:
            reasons.add(str(memo.get("no_splice")))
        model = s.engine.models[s.engine.root_for(store)]
        assert _model_facts(model) == _model_facts(_full_build(model)), what
        # the class after the edited constant: its members as the previous version read them
        # (places shifted), as reading them again finds them
        for cls in model.classes:
            kept, whole = _Members.kept(cls), _Members.of(cls)
            assert kept is not None and whole is not None
            assert (kept.nodes, kept.starts, kept.texts) == (whole.nodes, whole.starts, whole.texts)
            assert (kept.head, kept.positions, kept.errors) == (
                whole.head,
                whole.positions,
                whole.errors,
            )
            assert (kept.indices, kept.children) == (whole.indices, whole.children), what
        # unbounded-table-growth's kept index (its catalogue facts read again when the schema
        # changed) equals one built afresh
        root = s.engine.root_for(store).resolve()
        index = s.engine.rules.indexes.get(("unbounded-table-growth", root))
        if index is not None:
            fresh = GrowthIndex.of(model._statements_by_scope[root], model.schema_for(store))
            assert index.resolved() == fresh.resolved(), what
    assert GROWTH_COUNTS["catalogue"] > catalogue
    assert MEMBERS_COUNTS["carried"] - carried >= 60
    assert splice.COUNTS["failed"] == failed
    assert reasons >= {
        "other constants declared",
        "a top-level lexical_declaration",
        "a constant without SQL in it",
    }, reasons


MIXED_CALL = """import { DurableObject } from "cloudflare:workers";

const FILTER = "id = ?";

export class Store extends DurableObject {
  both(): void {
    this.ctx.storage.sql.exec(`SELECT 1; DELETE FROM notes WHERE ${FILTER}; SELECT 2`);
  }

  other(): number {
    return 1;
  }
}
"""


def test_a_call_s_statements_stay_together_in_the_rest(tmp_path: Path) -> None:
    """One exec() of three statements, the second with a `${…}` (a statement `_Calls` leaves
    to the rest): all three are checked together, as the rules read a call's statements
    (sql-bindings-mismatch: "statement 2 of 3 … has parameters"); grouped apart, the second
    alone looked like a call of one statement with one parameter and no argument."""
    from durable_harden.analyzers.incremental import _Calls

    s, store = _store_session(tmp_path / "w", MIXED_CALL)
    s.write(store, MIXED_CALL.replace("return 1;", "return 12;").encode())
    s.compare("an edit in another method")
    parsed = s.engine.open_parsed[store]
    stmts = [st for st in s.engine.models[s.engine.root_for(store)].statements]
    parts = _Calls.of(parsed, stmts)
    assert not parts.calls and len(parts.rest) == 3


ELSEWHERE = """import { DurableObject } from "cloudflare:workers";

export class Store extends DurableObject {
  readonly limit = 10;

  list(): unknown[] {
    return this.ctx.storage.sql.exec(`SELECT id FROM items LIMIT ${this.limit}`).toArray();
  }

  byColumn(column: string): unknown[] {
    return this.ctx.storage.sql.exec(`SELECT ${column} FROM items`).toArray();
  }

  names(): unknown[] {
    return this.byColumn("name");
  }

  other(): number {
    return 1;
  }
}
"""


def test_a_substitution_fixed_by_other_code_follows_it(tmp_path: Path) -> None:
    """sql-interpolation finds `${this.limit}` and `${column}` fixed by other members (a
    `readonly` field; every call passes a literal): an edit of those members (the statements
    moved unchanged, the rest's token carried) makes them findings, and their undo quiet again,
    as a fresh analysis says."""
    s, store = _store_session(tmp_path / "w", ELSEWHERE)
    text = ELSEWHERE
    edits = [
        ("an edit elsewhere", "return 1;", "return 12;"),
        ("`readonly` removed", "readonly limit", "limit"),
        ("`readonly` again", "  limit = 10;", "  readonly limit = 10;"),
        ("a call with a variable", 'this.byColumn("name")', "this.byColumn(String(this.limit))"),
        ("a literal again", "this.byColumn(String(this.limit))", 'this.byColumn("name")'),
    ]
    for what, old, new in edits:
        assert text.count(old) == 1, what
        text = text.replace(old, new)
        s.write(store, text.encode())
        s.compare(what)
        assert s.engine.open_parsed[store].memo.get("splice") is not None, what
