"""alarm-unconditional-in-constructor: setAlarm reached from the constructor with no getAlarm()
guard; safe fix guards it (async: if/await, sync constructor: getAlarm().then)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    EXAMPLES,
    FIXTURES,
    check_fix_fixture,
    check_marked,
    copy_fixture,
    fix_all,
    run,
    tsc_errors,
    write_project,
)

RULE = "alarm-unconditional-in-constructor"


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


def test_timer_fix_output_in_a_constructor_is_not_flagged(tmp_path: Path) -> None:
    # the timer fix guards what it writes into constructors; the two rules must agree
    (tmp_path / "src").mkdir()
    shutil.copy(
        FIXTURES / "timer-blocks-hibernation" / "fix-game-loop.before.ts", tmp_path / "src" / "g.ts"
    )
    assert fix_all("timer-blocks-hibernation", tmp_path) == 1
    findings, _ = run(RULE, tmp_path)
    assert findings == []


def test_examples_are_quiet() -> None:
    findings, _ = run(RULE, EXAMPLES)
    assert findings == []


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
