"""alarm-retry-suppressed: re-arm + rethrow in catch, re-arm before the work, re-arm forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    check_fix_fixture,
    check_marked,
    copy_fixture,
    run,
    tsc_errors,
    write_project,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "alarm-retry-suppressed"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_each_kind_is_flagged_on_its_setalarm(tmp_path: Path) -> None:
    findings = check_marked(RULE, "flagged.ts", tmp_path)
    assert sorted(f.message_id for f in findings) == [
        "catch-rearm-rethrow",
        "early-rearm",
        "unconditional-rearm",
    ]


def test_retry_guarded_rethrow_conditional_rearm_and_swallowing_catch_are_quiet(
    tmp_path: Path,
) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_fix_all_retries_first_and_rearms_last(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix", tmp_path)
    findings, _ = run(RULE, tmp_path)
    # a forever re-arm has no automatic fix (only the author knows when work is pending); the
    # moved poller re-arm is now one too, and is still reported
    assert [(f.data["class"], f.message_id) for f in findings] == [
        ("FeedPoller", "unconditional-rearm"),
        ("Sweeper", "unconditional-rearm"),
    ]
    assert "async alarm(info?: AlarmInvocationInfo)" in path.read_text()
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_fixes_are_unsafe_and_keep_an_existing_info_name(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "src/a.ts": """import { DurableObject } from "cloudflare:workers";
export class Job extends DurableObject<unknown> {
  async alarm(invocation: AlarmInvocationInfo): Promise<void> {
    for (const url of ["https://a.example", "https://b.example"]) {
      try {
        await fetch(url);
      } catch (e) {
        await this.ctx.storage.setAlarm(Date.now() + 1000);
        throw e;
      }
    }
    await this.ctx.storage.put("done", true);
  }
}
""",
        },
    )
    findings, model = run(RULE, tmp_path)
    (finding,) = findings
    (fix,) = fixes_for(finding, model)
    assert fix.safety is Safety.UNSAFE
    texts = [e.new_text for e in fix.edits]
    assert any("(invocation?.retryCount ?? 0) < 5" in t for t in texts)
    # the loop continues after the catch: the rethrow becomes a return, not a fall-through
    assert "return;" in texts


def test_early_rearm_with_a_return_is_not_moved(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "src/a.ts": """import { DurableObject } from "cloudflare:workers";
export class Poll extends DurableObject<unknown> {
  async alarm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1000);
    const resp = await fetch("https://example.com");
    if (!resp.ok) return;
    await this.ctx.storage.put("last", await resp.text());
  }
}
""",
        },
    )
    findings, model = run(RULE, tmp_path)
    (finding,) = findings
    assert finding.message_id == "early-rearm"
    assert fixes_for(finding, model) == []


STOPPING = """import { DurableObject } from "cloudflare:workers";
export class Idle extends DurableObject {
  async alarm() {
    if (this.ctx.getWebSockets().length === 0) {
      await this.cleanup();
      return;
    }
    await this.ping();
    await this.ctx.storage.setAlarm(Date.now() + 30_000);
    console.log("next check in 30 s");
  }
  async cleanup() {}
  async ping() {}
}
export class Forever extends DurableObject {
  async alarm() {
    const due = await this.pending();
    if (due.length === 0) {
      await this.ctx.storage.setAlarm(Date.now() + 86_400_000);
      return;
    }
    await this.run(due);
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
  }
  async pending(): Promise<string[]> { return []; }
  async run(_: string[]) {}
}
"""


def test_a_handler_that_stops_when_idle_is_not_always_rearming(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "idle.ts").write_text(STOPPING)
    findings, _ = run(RULE, tmp_path)
    # Idle returns without re-arming when no socket is left (the log line after the re-arm is
    # not work); Forever re-arms on its early return too, so it wakes forever
    assert [(f.data["class"], f.message_id) for f in findings] == [
        ("Forever", "unconditional-rearm")
    ]
