"""alarm-unconditional-in-constructor: setAlarm reached from the constructor with no getAlarm()
guard; safe fix guards it (async: if/await, sync constructor: getAlarm().then)."""

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

RULE = "alarm-unconditional-in-constructor"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_unguarded_setalarm_on_the_constructor_path_is_flagged(tmp_path: Path) -> None:
    findings = check_marked(RULE, "flagged.ts", tmp_path)
    via = [f for f in findings if f.data["method"] == "startFlushing"]
    assert len(via) == 1 and "which the constructor calls" in via[0].message


def test_guards_of_every_shape_are_recognised(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_safe_fix_all_guards_each_call_and_type_checks(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "fix", tmp_path, unsafe=False)
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_fix_is_safe(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path)
    findings, model = run(RULE, root)
    for finding in findings:
        (fix,) = fixes_for(finding, model)
        assert fix.safety is Safety.SAFE


FROM_STATE = """import { DurableObject } from "cloudflare:workers";
export class Cron extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      await ctx.storage.setAlarm(await this.nextDue());
    });
  }
  async nextDue(): Promise<number> {
    const tasks = await this.ctx.storage.list<{ at: number }>({ prefix: "task:" });
    return Math.min(...[...tasks.values()].map((t) => t.at));
  }
  async alarm() {}
}
export class Ticker extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const next = Date.now() + 60_000;
      await ctx.storage.setAlarm(next);
    });
  }
  async alarm() {}
}
"""


def test_alarm_rearmed_from_durable_state_is_idempotent(tmp_path: Path) -> None:
    write_project(tmp_path, {"src/cron.ts": FROM_STATE})
    findings, _ = run(RULE, tmp_path)
    # the time read back from storage is the same on every wake; the clock-based one moves
    assert [f.data["class"] for f in findings] == ["Ticker"]
