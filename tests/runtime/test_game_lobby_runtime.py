"""game-lobby: an alarm() that already had a job (closing idle lobbies) keeps doing it after
harden merged the TTL cleanup and the countdown (setTimeout -> alarm) into it.

The hardened build and its behaviour tests run in test_examples_runtime.py (EXAMPLES includes
game-lobby); here the merge is broken on purpose and the workerd test must say so.
See docs/runtime-tests.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.codeactions import Edit, apply_edits, fixes_for

from .conftest import record
from .harness import HARDENED, HardenReport, RuntimeProject

SHARED_TEST = "test/behaviour/hardened/shared-alarm.test.ts"
KEY_TEST = "still closes the lobby, deletes expired events and starts the counted-down match"

# (what is broken, regex in the hardened src/lobby.ts, replacement)
MERGE_MUTANTS = [
    # the dispatching alarm() no longer runs the old handler (idle close, renamed alarmDefault)
    ("old job dropped from the dispatcher", r"await this\.alarmDefault\([^)]*\);", "void 0;"),
    # the TTL cleanup is no longer called from the alarm path
    (
        "TTL cleanup dropped from the alarm",
        r"await this\.cleanupExpiredEvents\([^)]*\);",
        "void 0;",
    ),
]


@pytest.mark.harden_runtime
@pytest.mark.parametrize(
    ("what", "pattern", "replacement"), MERGE_MUTANTS, ids=[m[0] for m in MERGE_MUTANTS]
)
def test_breaking_the_alarm_merge_fails_a_runtime_test(
    hardened_run: Callable[[str], HardenReport], what: str, pattern: str, replacement: str
) -> None:
    report = hardened_run("game-lobby")
    if report.failure:
        pytest.fail(report.failure, pytrace=False)
    missing = {"unbounded-table-growth", "timer-blocks-hibernation"} - report.fixed_rules
    if missing:
        pytest.fail(f"harden applied no {sorted(missing)} fix to game-lobby", pytrace=False)
    lobby = report.project.dir / "src" / "lobby.ts"
    source = lobby.read_text(encoding="utf-8")
    assert len(re.findall(pattern, source)) == 1, f"expected one {pattern!r} in:\n{source}"
    lobby.write_text(re.sub(pattern, replacement, source), encoding="utf-8")
    try:
        result = report.project.vitest(f"mutant: {what}", [SHARED_TEST])
    finally:
        lobby.write_text(source, encoding="utf-8")
    assert not result.ok and result.failed >= 1, result.describe()
    assert any(KEY_TEST in f.test for f in result.failures), result.describe()


def _apply_one_fix(root: Path, rule: str) -> None:
    """Apply the one fix of the one finding of `rule` under root (what an editor user does)."""
    result = analyze_paths([root], Settings(select=[rule]))
    findings = [f for f in result.findings if f.rule_id == rule]
    assert len(findings) == 1, (rule, findings)
    fixes = fixes_for(findings[0], result.model)
    assert fixes, f"no fix offered for {rule}"
    by_file: dict[Path, list[Edit]] = {}
    for edit in fixes[0].edits:
        by_file.setdefault(edit.path, []).append(edit)
    for path, edits in by_file.items():
        path.write_bytes(apply_edits(path.read_bytes(), edits))


@pytest.mark.harden_runtime
def test_fixes_applied_timer_first_keep_the_alarm_job(tmp_path: Path) -> None:
    """harden applies the TTL fix first; an editor user may apply the timer fix first (the
    dispatcher exists when the TTL cleanup is merged). The same hand-written tests must pass."""
    project = RuntimeProject("game-lobby", tmp_path / "game-lobby")
    for rule in ("timer-blocks-hibernation", "unbounded-table-growth"):
        _apply_one_fix(project.dir, rule)
    project.add_behaviour_tests(HARDENED)
    for step in (project.tsc(" (timer fix, then TTL fix)"), project.tsc_tests("timer first")):
        if not step.ok:
            pytest.fail(step.describe(), pytrace=False)
    result = record(project.vitest("timer fix, then TTL fix"))
    if not result.ok:
        pytest.fail(result.describe(), pytrace=False)
    assert "shared-alarm.test.ts" in result.step.output
