"""game-lobby: an alarm() that already had a job (closing idle lobbies) keeps doing it after
harden merged the TTL cleanup and the countdown (setTimeout -> alarm) into it.

The hardened build and its behaviour tests run in test_examples_runtime.py (EXAMPLES includes
game-lobby); here the merge is broken on purpose and the workerd test must say so.
See docs/runtime-tests.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from .harness import HardenReport

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
