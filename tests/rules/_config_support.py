"""Helpers for the identity and wrangler-config rule tests: copy a fixture project, run one rule,
compare flagged lines with `// flagged` markers, apply fixes and check what they leave."""

from __future__ import annotations

import shutil
from pathlib import Path

from analyzers.analysis import Settings, analyze_paths
from analyzers.findings import Finding
from analyzers.model import ProjectModel
from analyzers.source import parse_source
from codeactions import Edit, Fix, apply_edits, fixes_for

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
