"""syntax-error: a source file that does not parse is reported, where it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers.analysis import Settings, analyze_paths
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "syntax-error"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)  # the examples parse: nothing reported


def test_each_error_is_reported_and_other_rules_still_run(project):
    root = project(
        {
            "src/room.ts": """
            import { DurableObject } from "cloudflare:workers";
            export class Room extends DurableObject {
              start() { setInterval(() => this.tick(), 1000); }
              broken() { const x = ; }
              tick() {}
            }
            """
        }
    )
    result = analyze_paths([root], Settings())
    rules = sorted(f.rule_id for f in result.findings)
    assert rules == ["syntax-error", "timer-blocks-hibernation"]
    (error,) = [f for f in result.findings if f.rule_id == "syntax-error"]
    source = result.model.files[0]
    assert source.lines.row_of(error.span.start) == 3  # the `const x = ;` line (0-based)
    assert error.message.startswith("Could not parse")


def test_a_missing_token_at_the_end_of_the_file(project):
    root = project({"src/a.ts": "export function f() {\n  return 1;\n"})
    result = analyze_paths([root], Settings(select=["syntax-error"]))
    (error,) = result.findings
    assert error.span.end <= len(result.model.files[0].data)
    assert error.message_id == "missing" and "missing `}`" in error.message
