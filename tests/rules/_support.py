"""Helpers every rule test shares: copy a fixture project, run one rule, locate findings, write
a fix to disk. The families' own helpers (markers, fix-all strategies, tsc) live in
`_config_support.py`, `_hibernation_support.py` and `_sql_support.py`, which re-export these."""

from __future__ import annotations

import shutil
from pathlib import Path

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions import Edit, Fix, apply_edits

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def copy_case(rule_id: str, case: str, dest: Path) -> Path:
    """A fresh copy of tests/fixtures/<rule_id>/<case> under dest (fixes write to it)."""
    target = dest / case
    shutil.copytree(FIXTURES / rule_id / case, target)
    return target


def run(rule_id: str, root: Path) -> tuple[list[Finding], ProjectModel]:
    """The rule's findings over root (no rule may fail internally) and the model they came from."""
    result = analyze_paths([root], Settings(select=[rule_id]))
    assert not [p for p in result.problems if "internal error" in p.message], result.problems
    return [f for f in result.findings if f.rule_id == rule_id], result.model


def line_of(finding: Finding) -> int:
    """1-based line of the finding's start."""
    data = finding.span.path.read_bytes()
    return data[: finding.span.start].count(b"\n") + 1


def span_text(finding: Finding) -> str:
    data = finding.span.path.read_bytes()
    return data[finding.span.start : finding.span.end].decode()


def flagged(findings: list[Finding], root: Path) -> set[tuple[str, int]]:
    """(path relative to root, line) of each finding."""
    root = root.resolve()
    return {(f.span.path.relative_to(root).as_posix(), line_of(f)) for f in findings}


def apply_fix(fix: Fix) -> None:
    """Write one fix's edits (grouped per file) and new files to disk."""
    by_file: dict[Path, list[Edit]] = {}
    for edit in fix.edits:
        by_file.setdefault(edit.path, []).append(edit)
    for path, edits in by_file.items():
        path.write_bytes(apply_edits(path.read_bytes(), edits))
    for new in fix.creates:
        new.path.parent.mkdir(parents=True, exist_ok=True)
        new.path.write_text(new.content)


def check_examples(rule_id: str) -> None:
    """The rule reports exactly its planted lines of tests/examples_expected.py and nothing on
    the MUST_NOT_FLAG lines."""
    from tests.examples_expected import EXPECTED, MUST_NOT_FLAG

    findings, _ = run(rule_id, EXAMPLES)
    root = EXAMPLES.resolve()
    got = flagged(findings, root)

    def where(path: str, snippet: str) -> tuple[str, int]:
        lines = (root / path).read_text().splitlines()
        rows = [i for i, line in enumerate(lines, 1) if snippet in line]
        assert len(rows) == 1, (path, snippet, rows)
        return path, rows[0]

    expected = {where(p, s) for p, s, r in EXPECTED if r == rule_id}
    assert got == expected
    quiet = {where(p, s) for p, s in MUST_NOT_FLAG}
    assert not (got & quiet)
