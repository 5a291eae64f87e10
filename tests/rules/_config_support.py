"""Helpers for the identity and wrangler-config rule tests: copy a fixture project, run one rule,
compare flagged lines with `// flagged` markers, apply fixes and check what they leave."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.source import parse_source
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
    """The rule's fix-all on disk, through the planner behind `check --fix` (the edit core):
    returns how many findings the applied fixes resolved."""
    from tests.harden_fakes import fix_all_on_disk

    return fix_all_on_disk(root, [rule_id], unsafe)


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
