"""Helpers for the identity and wrangler-config rule tests: copy a fixture project, run one rule,
compare flagged lines with `// flagged` markers, apply fixes and check what they leave."""

from __future__ import annotations

import shutil
from pathlib import Path

from analyzers.analysis import Settings, analyze_paths
from analyzers.findings import Finding
from analyzers.model import ProjectModel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MARKER = "// flagged"


def fixture(rule_id: str, case: str, dest: Path) -> Path:
    """A fresh copy of tests/fixtures/<rule_id>/<case> under dest (fixes write to it)."""
    target = dest / case
    shutil.copytree(FIXTURES / rule_id / case, target)
    return target


def run(rule_id: str, root: Path) -> tuple[list[Finding], ProjectModel]:
    result = analyze_paths([root], Settings(select=[rule_id]))
    assert not [p for p in result.problems if "internal error" in p.message], result.problems
    return [f for f in result.findings if f.rule_id == rule_id], result.model


def line_of(finding: Finding) -> int:
    data = finding.span.path.read_bytes()
    return data[: finding.span.start].count(b"\n") + 1


def text_of(finding: Finding) -> str:
    data = finding.span.path.read_bytes()
    return data[finding.span.start : finding.span.end].decode()


def marked(root: Path) -> set[tuple[str, int]]:
    """(relative path, line) of every line ending in `// flagged` under root."""
    found: set[tuple[str, int]] = set()
    for path in sorted(root.rglob("*.ts")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.rstrip().endswith(MARKER):
                found.add((path.relative_to(root).as_posix(), number))
    return found


def flagged(findings: list[Finding], root: Path) -> set[tuple[str, int]]:
    return {(f.span.path.relative_to(root.resolve()).as_posix(), line_of(f)) for f in findings}
