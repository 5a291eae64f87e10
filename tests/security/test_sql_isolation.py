"""A SQL string sqlglot cannot read is one unreadable statement, never a failed analysis: no
exception from sqlglot escapes `parse_sql`/`sql_tokens`, and the rules' findings on the other
statements stay. The fuzz feeds SQL-shaped text (keywords, punctuation, JavaScript arrows,
quotes, comments) to the parser entry points and through a whole analysis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.sql import parse_sql, sql_tokens

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """{
  "name": "sq",
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": { "bindings": [{ "name": "ROOM", "class_name": "Room" }] },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Room"] }]
}
"""


def _source(sql: str) -> str:
    return (
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Room extends DurableObject {\n"
        "  run() {\n"
        f"    this.ctx.storage.sql.exec({json.dumps(sql)});\n"
        '    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER, at INTEGER)");\n'
        '    this.ctx.storage.sql.exec("INSERT INTO messages (id, at) VALUES (?, ?)", 1, 2);\n'
        "  }\n"
        "}\n"
    )


def _write(root: Path, sql: str) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(CONFIG)
    (root / "src" / "index.ts").write_text(_source(sql))
    return root


UNREADABLE = [
    "SELECT f(() => 1) FROM t",
    "SELECT (() => 1)",
    "SELECT x FROM t WHERE y = (a) => b",
]


def test_unreadable_statement_does_not_stop_the_analysis(tmp_path: Path) -> None:
    for i, sql in enumerate(UNREADABLE):
        root = _write(tmp_path / str(i), sql)
        result = analyze_paths([root], Settings())
        assert not [p for p in result.problems if "internal error" in p.message], result.problems
        # the readable statement next to it is still analysed
        assert "unbounded-table-growth" in {f.rule_id for f in result.findings}
        done = subprocess.run(
            [sys.executable, "-m", "durable_harden", "check", str(root)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert done.returncode == 1, done.stderr  # findings, not an internal error (2)
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr


SQL_WORDS = [
    "SELECT",
    "FROM",
    "WHERE",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "CREATE",
    "TABLE",
    "INDEX",
    "ON",
    "AS",
    "JOIN",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "WITH",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "IN",
    "NOT",
    "NULL",
    "AND",
    "OR",
    "LIKE",
    "t",
    "x",
    "f",
    "count",
    "*",
    "?",
    "?1",
    ":a",
    "@b",
    "$c",
    "(",
    ")",
    "()",
    ",",
    ";",
    "=>",
    "->",
    "->>",
    "=",
    "<",
    ">",
    "||",
    "'",
    '"',
    "`",
    "[",
    "]",
    "{",
    "}",
    "--",
    "/*",
    "*/",
    "1",
    "1.5e3",
    "X'00'",
    "\\",
    "\n",
    "\t",
    "\u2028",
    "é",
    "\x00",
    "::",
    ".",
    "..",
    "RETURNING",
    "OVER",
    "PARTITION",
    "WINDOW",
    "FILTER",
    "COLLATE",
    "ESCAPE",
    "GLOB",
    "REGEXP",
    "MATCH",
]
sql_text = st.lists(st.one_of(st.sampled_from(SQL_WORDS), st.text(max_size=4)), max_size=40).map(
    " ".join
)


@settings(max_examples=400, deadline=None)
@given(sql_text)
def test_no_sqlglot_exception_escapes(text: str) -> None:
    expression, error = parse_sql(text)
    assert (expression is None) != (error is None)
    tokens = sql_tokens(text)
    assert tokens is None or isinstance(tokens, tuple)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sql_text)
def test_fuzzed_sql_strings_never_fail_a_rule(tmp_path: Path, text: str) -> None:
    root = _write(tmp_path / "p", text)
    result = analyze_paths([root], Settings())
    assert not [p for p in result.problems if "internal error" in p.message], result.problems


def test_escapes_without_a_utf8_form_do_not_fail_a_rule(tmp_path: Path) -> None:
    """`\\ud83d\\ude00` is one character; a lone `\\ud800` and `\\u{110000}` are not
    characters: none of them may break the rules that encode the SQL text."""
    for i, literal in enumerate(
        [r"SELECT '\ud83d\ude00' FROM t", r"SELECT '\ud800'", r"\u{110000}"]
    ):
        root = _write(tmp_path / str(i), "PLACEHOLDER")
        source = root / "src" / "index.ts"
        source.write_text(source.read_text().replace("PLACEHOLDER", literal.replace("'", "\\'")))
        result = analyze_paths([root], Settings())
        assert not [p for p in result.problems if "internal error" in p.message], result.problems
        assert "unbounded-table-growth" in {f.rule_id for f in result.findings}
