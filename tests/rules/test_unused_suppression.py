"""unused-suppression: a `durable-harden-ignore` comment that silences nothing, or names an
unknown rule. The fix removes the comment, or only the unused rule from its list."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.codeactions import fixes_for
from tests.rules._hibernation_support import copy_fixture
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import apply_fix, check_examples, line_of

RULE = "unused-suppression"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    # every rule runs, so the comments that name one can be used or not
    check_case(RULE, case, tmp_path, snapshots, select=["ALL"])


def test_examples() -> None:
    check_examples(RULE)


def test_unused_and_used_suppressions(project):
    root = project(
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              start() {
                // durable-harden-ignore timer-blocks-hibernation: flushes a batch once, bounded
                setTimeout(() => this.flush(), 5000);
                // durable-harden-ignore timer-blocks-hibernation: stale, nothing here
                this.flush();
                // durable-harden-ignore not-a-rule: typo
                this.flush();
              }
              flush() {}
            }
            """
        }
    )
    result = analyze_paths([root], Settings())
    assert [
        (f.rule_id, result.model.files[0].lines.row_of(f.span.start) + 1) for f in result.findings
    ] == [
        ("unused-suppression", 6),
        ("unused-suppression", 8),
    ]
    assert result.findings[1].message_id == "unknown-rule"
    assert "unknown rule `not-a-rule`" in result.findings[1].message


def test_suppressions_of_rules_that_are_off_are_not_reported(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["suppressions.ts"], tmp_path)
    result = analyze_paths([root], Settings(select=[RULE]))
    # only the unknown rule: timer-blocks-hibernation is off, so its comments are neither
    # used nor wrong
    assert [(line_of(f), f.data["suppressed_rule"]) for f in result.findings] == [(9, "not-a-rule")]


def test_fix_removes_one_rule_from_a_list_and_whole_comments(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["suppressions.ts"], tmp_path)
    path = root / "src" / "suppressions.ts"
    for _ in range(3):  # one fix per round: edits are offsets into the analysed file
        result = analyze_paths([root], Settings(select=["ALL"]))
        findings = [f for f in result.findings if f.rule_id == RULE]
        if not findings:
            break
        fixes = fixes_for(findings[0], result.model)
        assert fixes and all(fix.is_safe for fix in fixes)
        apply_fix(fixes[0])
    text = path.read_text()
    assert "stale" not in text and "not-a-rule" not in text
    assert "// durable-harden-ignore timer-blocks-hibernation: one of two is used\n" in text
    assert "// durable-harden-ignore timer-blocks-hibernation: flushes a batch" in text
    result = analyze_paths([root], Settings(select=["ALL"]))
    assert [f.rule_id for f in result.findings] == []
