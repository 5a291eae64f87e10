"""Property tests for the SQL fixes: over the examples and the SQL fixtures, with random layout
variations (indentation style, comments between members, whitespace inside SQL template
literals) and random subsets of rules, applying every fix (safe and unsafe) round by round
leaves every file parsing with no new tree-sitter ERROR nodes, and applying them again changes
nothing."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_harden.analyzers.source import parse_source
from durable_harden.analyzers.tsutil import walk_type
from tests.harden_fakes import fix_all_on_disk, syntax_errors
from tests.rules._sql_support import EXAMPLES, FIXTURES

SQL_RULES = [
    "sql-transaction-statement",
    "sql-bindings-mismatch",
    "sql-interpolation",
    "sql-too-many-params",
    "sql-pragma-not-allowed",
    "sql-missing-index",
    "unbounded-table-growth",
    "schema-change-without-migration",
    "sql-unbounded-read",
    "kv-unbounded-list",
    "await-between-kv-writes",
]

PROJECTS = [
    EXAMPLES / "chat-room",
    EXAMPLES / "rate-limiter",
    FIXTURES / "sql-transaction-statement" / "before",
    FIXTURES / "sql-bindings-mismatch" / "before",
    FIXTURES / "sql-interpolation" / "before",
    FIXTURES / "sql-too-many-params" / "before",
    FIXTURES / "sql-pragma-not-allowed" / "size-before",
    FIXTURES / "sql-missing-index" / "flagged",
    FIXTURES / "unbounded-table-growth" / "flagged",
    FIXTURES / "schema-change-without-migration" / "fix-before",
    FIXTURES / "sql-unbounded-read" / "before",
    FIXTURES / "kv-unbounded-list" / "before",
    FIXTURES / "await-between-kv-writes" / "before",
]

_MEMBER = re.compile(r"^(\s+)(?:(?:async|private|public|static|protected)\s+)*\w+\(.*\)[^;]*\{\s*$")
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE)\b")


_errors = syntax_errors


def _vary(path: Path, text: str, indent: str, notes: set[int], sql_gap: str) -> str:
    """The same program in another layout: indentation unit, comment lines before members,
    other whitespace before WHERE/FROM inside SQL template literals."""
    data = text.encode()
    source = parse_source(path, data)
    pieces: list[tuple[int, int, str]] = []
    for node in walk_type(source.root, "template_string"):
        body = data[node.start_byte : node.end_byte].decode()
        if "\n" not in body or not _SQL.search(body):
            continue
        varied = re.sub(r" (WHERE|FROM) ", lambda m: f"{sql_gap}{m.group(1)} ", body)
        if varied != body:
            pieces.append((node.start_byte, node.end_byte, varied))
    for start, end, new in sorted(pieces, reverse=True):
        data = data[:start] + new.encode() + data[end:]
    lines = data.decode().split("\n")
    out: list[str] = []
    for number, line in enumerate(lines):
        lead = len(line) - len(line.lstrip(" "))
        member = _MEMBER.match(line)
        if member is not None and number in notes:
            out.append(indent * (lead // 2) + "// reviewed: keep as is")
        out.append(indent * (lead // 2) + " " * (lead % 2) + line[lead:])
    return "\n".join(out)


def _fix_to_fixed_point(root: Path, rules: list[str]) -> int:
    """Safe and unsafe fixes of the selected rules, through the planner (`check --fix`'s loop)."""
    return fix_all_on_disk(root, rules, unsafe=True)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.ts"))}


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # CI runs the same examples every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    project=st.sampled_from(PROJECTS),
    indent=st.sampled_from(["  ", "    ", "\t"]),
    notes=st.sets(st.integers(min_value=0, max_value=120), max_size=6),
    sql_gap=st.sampled_from([" ", "  ", "\n      ", "\n\t"]),
    rules=st.lists(st.sampled_from(SQL_RULES), min_size=1, max_size=len(SQL_RULES), unique=True),
)
def test_fixes_parse_and_are_idempotent_under_layout_changes(
    project: Path, indent: str, notes: set[int], sql_gap: str, rules: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / project.name
        shutil.copytree(project, root, ignore=shutil.ignore_patterns("node_modules"))
        for path in root.rglob("*.ts"):
            original = path.read_text()
            varied = _vary(path, original, indent, notes, sql_gap)
            # the variation itself must be a valid program, else the property means nothing
            if _errors(path, varied.encode()) > _errors(path, original.encode()):
                varied = original
            path.write_text(varied)
        _fix_to_fixed_point(root, rules)
        fixed = _snapshot(root)
        assert _fix_to_fixed_point(root, rules) == 0
        assert _snapshot(root) == fixed


def test_every_sql_fix_on_every_project_at_once() -> None:
    """No variation, all rules: the widest single run, kept as a plain regression test."""
    for project in PROJECTS:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / project.name
            shutil.copytree(project, root, ignore=shutil.ignore_patterns("node_modules"))
            assert _fix_to_fixed_point(root, SQL_RULES) >= 0
            fixed = _snapshot(root)
            assert _fix_to_fixed_point(root, SQL_RULES) == 0, project
            assert _snapshot(root) == fixed
