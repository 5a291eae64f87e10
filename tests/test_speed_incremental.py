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

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.incremental import MEMBER_LOCAL, SCOPES, STATEMENT_LOCAL
from durable_harden.analyzers.rules import all_rules
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
    """A member- or call-local rule that raises: one problem per analysis (as a run over the
    whole file or class reports), not one per member or exec() call re-checked alone."""
    from dataclasses import replace

    from durable_harden.analyzers.incremental import IncrementalRules
    from durable_harden.analyzers.rules import all_rules as rules_now

    def boom(model: Any) -> Any:
        if model.classes or model.statements:
            raise RuntimeError("boom")
        return iter(())

    by_id = {r.id: r for r in rules_now()}
    failing = [
        replace(by_id[i], check=boom) for i in ("kv-unbounded-list", "sql-pragma-not-allowed")
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
            "internal error in rule sql-pragma-not-allowed: RuntimeError: boom",
        ], step
