"""Helpers for the SQL rule tests: copy a fixture project, run one rule, compare the flagged
lines with `// flagged` (TypeScript) or `-- flagged` (inside SQL text) markers."""

from __future__ import annotations

import re
from pathlib import Path

from tests.rules._support import (
    EXAMPLES,
    FIXTURES,
    check_examples,
    copy_case,
    flagged,
    line_of,
    run,
    span_text,
)

_MARKER = re.compile(r"(//|--) flagged\b")

__all__ = [
    "EXAMPLES",
    "FIXTURES",
    "assert_settled",
    "check_examples",
    "copy_case",
    "error_nodes",
    "fix_all",
    "flagged",
    "line_of",
    "marked",
    "run",
    "snapshot",
    "span_text",
    "tsc",
]


def marked(root: Path) -> set[tuple[str, int]]:
    """(path relative to root, line) of every marked line under root."""
    found: set[tuple[str, int]] = set()
    for path in sorted(root.rglob("*.ts")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if _MARKER.search(line):
                found.add((path.relative_to(root).as_posix(), number))
    return found


def error_nodes(data: bytes, path: Path) -> int:
    from durable_harden.analyzers.source import parse_source
    from durable_harden.analyzers.tsutil import walk

    source = parse_source(path, data)
    return sum(1 for n in walk(source.root) if n.type == "ERROR" or n.is_missing)


def fix_all(rule_id: str, root: Path, unsafe: bool = False) -> int:
    """The rule's fix-all on disk, through the planner behind `check --fix` (the edit core):
    returns how many findings the applied fixes resolved."""
    from tests.harden_fakes import fix_all_on_disk

    return fix_all_on_disk(root, [rule_id], unsafe)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.ts"))}


def assert_settled(rule_id: str, root: Path, unsafe: bool = False, typecheck: bool = True) -> None:
    """After a fix-all: running it again changes nothing (idempotent) and, unless typecheck is
    off, the project type-checks."""
    before = snapshot(root)
    assert fix_all(rule_id, root, unsafe=unsafe) == 0
    assert snapshot(root) == before
    if typecheck:
        assert tsc(root) == ""


RUNTIME = Path(__file__).resolve().parents[1] / "runtime" / "node_modules"


def tsc(root: Path) -> str:
    """Type-check a project copy against @cloudflare/workers-types; returns tsc's output, ""
    when clean. Uses the pinned toolchain of tests/runtime (npm ci --prefix tests/runtime)."""
    import subprocess

    import pytest

    binary = RUNTIME / ".bin" / "tsc"
    if not binary.exists():
        pytest.fail("tests/runtime/node_modules is missing: run `npm ci --prefix tests/runtime`")
    if not (root / "tsconfig.json").exists():
        (root / "tsconfig.json").write_text((EXAMPLES / "chat-room" / "tsconfig.json").read_text())
    link = root / "node_modules"
    if not link.exists():
        link.symlink_to(RUNTIME, target_is_directory=True)
    proc = subprocess.run(
        [str(binary), "--noEmit", "-p", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return "" if proc.returncode == 0 else (proc.stdout + proc.stderr)


# Tables pruned by age, by count, wholesale, one row by key, or not at all: shared by the
# retention tests of unbounded-table-growth and sql-unbounded-read (one story, two rules).
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
