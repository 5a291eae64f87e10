"""Helpers for the identity and wrangler-config rule tests: copy a fixture project, run one rule,
compare flagged lines with `// flagged` markers, apply fixes and check what they leave."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.source import parse_source
from durable_harden.codeactions import fixes_for
from tests.rules._support import FIXTURES, apply_fix, flagged, line_of, run
from tests.rules._support import copy_case as fixture
from tests.rules._support import span_text as text_of

MARKER = "// flagged"

__all__ = [
    "FIXTURES",
    "apply_fix",
    "fix_all",
    "fixture",
    "flagged",
    "line_of",
    "marked",
    "no_new_syntax_errors",
    "run",
    "snapshot",
    "text_of",
]


def marked(root: Path) -> set[tuple[str, int]]:
    """(relative path, line) of every line ending in `// flagged` under root."""
    found: set[tuple[str, int]] = set()
    for path in sorted(root.rglob("*.ts")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.rstrip().endswith(MARKER):
                found.add((path.relative_to(root).as_posix(), number))
    return found


def fix_all(rule_id: str, root: Path, unsafe: bool = False) -> int:
    """Apply the first fix of each finding, re-analysing after each (edits are offsets into the
    analysed bytes); returns how many fixes were applied."""
    applied = 0
    for _ in range(50):
        findings, model = run(rule_id, root)
        for finding in findings:
            fixes = [f for f in fixes_for(finding, model) if unsafe or f.is_safe]
            if fixes:
                apply_fix(fixes[0])
                applied += 1
                break
        else:
            return applied
    raise AssertionError("fix-all did not converge")


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def no_new_syntax_errors(before: dict[str, bytes], root: Path) -> None:
    for rel, data in snapshot(root).items():
        if not rel.endswith(".ts"):
            continue
        new_errors = parse_source(root / rel, data).root.has_error
        old = before.get(rel)
        old_errors = parse_source(root / rel, old).root.has_error if old is not None else False
        assert not new_errors or old_errors, f"{rel} gained a syntax error"
