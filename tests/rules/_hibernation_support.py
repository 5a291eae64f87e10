"""Helpers for the hibernation / WebSocket / alarm rule tests: run one rule over fixture files,
compare flagged lines with `// flagged` markers, and apply fixes."""

from __future__ import annotations

import shutil
from pathlib import Path

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.source import parse_source
from tests.rules._snapshot import expect_file
from tests.rules._support import EXAMPLES, FIXTURES, ROOT, apply_fix, line_of, run

MARKER = "// flagged"

__all__ = [
    "EXAMPLES",
    "FIXTURES",
    "apply_fix",
    "check_fix_fixture",
    "check_marked",
    "copy_fixture",
    "error_nodes",
    "fix_all",
    "flagged_lines",
    "line_of",
    "marked_lines",
    "run",
    "tsc_errors",
    "write_project",
]


def copy_fixture(rule_id: str, names: list[str], dest: Path, config: str | None = None) -> Path:
    """Copy fixture files into dest/src (plus an optional wrangler.jsonc); return dest."""
    (dest / "src").mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / rule_id / name, dest / "src" / name)
    if config is not None:
        (dest / "wrangler.jsonc").write_text(config)
    return dest


def write_project(dest: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest


def marked_lines(path: Path) -> set[int]:
    return {
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.rstrip().endswith(MARKER)
    }


def flagged_lines(findings: list[Finding], path: Path) -> set[int]:
    return {line_of(f) for f in findings if f.span.path == path.resolve()}


def check_marked(rule_id: str, name: str, dest: Path, config: str | None = None) -> list[Finding]:
    """Run the rule over fixture `name` (copied into dest/src) and assert it flags exactly the
    lines marked `// flagged`; returns the findings."""
    copy_fixture(rule_id, [name], dest, config=config)
    findings, _ = run(rule_id, dest)
    path = dest / "src" / name
    assert flagged_lines(findings, path) == marked_lines(path)
    return findings


def fix_all(rule_id: str, root: Path, unsafe: bool = True) -> int:
    """The rule's fix-all on disk, through the planner behind `check --fix` (the edit core):
    returns how many findings the applied fixes resolved."""
    from tests.harden_fakes import fix_all_on_disk

    return fix_all_on_disk(root, [rule_id], unsafe)


def error_nodes(path: Path) -> int:
    source = parse_source(path, path.read_bytes())
    return len(source.error_ranges)


TSC = ROOT / "tests" / "runtime" / "node_modules" / ".bin" / "tsc"
TSCONFIG = EXAMPLES / "chat-room" / "tsconfig.json"


def tsc_errors(project: Path) -> str | None:
    """Run tsc --noEmit on a project folder (given a tsconfig.json, or the examples' one);
    returns its output on failure, "" on success, None when tsc is not installed."""
    import subprocess

    if not TSC.exists():
        return None
    if not (project / "tsconfig.json").exists():
        shutil.copy(TSCONFIG, project / "tsconfig.json")
    proc = subprocess.run(
        [
            str(TSC),
            "--noEmit",
            "-p",
            str(project),
            "--typeRoots",
            str(ROOT / "tests" / "runtime" / "node_modules"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def check_fix_fixture(
    rule_id: str, name: str, dest: Path, config: str | None = None, unsafe: bool = True
) -> Path:
    """Apply fix-all to `<name>.before.ts`; assert it equals `<name>.after.ts`, parses with no
    new errors, and a second run changes nothing. Returns the fixed file."""
    (dest / "src").mkdir(parents=True, exist_ok=True)
    target = dest / "src" / f"{name}.ts"
    shutil.copy(FIXTURES / rule_id / f"{name}.before.ts", target)
    if config is not None:
        (dest / "wrangler.jsonc").write_text(config)
    errors_before = error_nodes(target)
    assert fix_all(rule_id, dest, unsafe=unsafe) >= 1
    expected = target.read_text()
    expect_file(expected, FIXTURES / rule_id / f"{name}.after.ts")
    assert error_nodes(target) <= errors_before
    assert fix_all(rule_id, dest, unsafe=unsafe) == 0
    assert target.read_text() == expected
    return target
