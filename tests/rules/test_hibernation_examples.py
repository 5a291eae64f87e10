"""The planted hibernation/WebSocket/alarm problems in examples/ are reported, once, on their
line; the correct code beside them is not."""

from __future__ import annotations

from durable_harden.analyzers.analysis import Settings, analyze_paths
from tests.examples_expected import EXPECTED, MUST_NOT_FLAG
from tests.rules._hibernation_support import EXAMPLES, line_of

MINE = {
    "websocket-not-hibernatable",
    "timer-blocks-hibernation",
    "websocket-close-handshake",
    "serialize-attachment-misuse",
    "websocket-state-in-memory",
    "websocket-manual-ping",
    "setalarm-without-handler",
    "alarm-unconditional-in-constructor",
    "alarm-shared-by-purposes",
    "alarm-retry-suppressed",
    "deleteall-leaves-alarm",
}


def _line(rel: str, snippet: str) -> int:
    lines = (EXAMPLES / rel).read_text().splitlines()
    (number,) = [i for i, line in enumerate(lines, start=1) if snippet in line]
    return number


def _findings() -> dict[tuple[str, int], list[str]]:
    from durable_harden.analyzers.rules import all_rules

    known = {r.id for r in all_rules()}
    result = analyze_paths([EXAMPLES], Settings(select=sorted(MINE & known)))
    found: dict[tuple[str, int], list[str]] = {}
    for finding in result.findings:
        rel = finding.span.path.relative_to(EXAMPLES.resolve()).as_posix()
        found.setdefault((rel, line_of(finding)), []).append(finding.rule_id)
    return found


def test_planted_problems_reported_once() -> None:
    found = _findings()
    for rel, snippet, rule_id in EXPECTED:
        if rule_id in MINE:
            assert found.get((rel, _line(rel, snippet)), []).count(rule_id) == 1, (rel, snippet)


def test_correct_code_not_flagged() -> None:
    found = _findings()
    for rel, snippet in MUST_NOT_FLAG:
        assert found.get((rel, _line(rel, snippet)), []) == [], (rel, snippet)
