"""alarm-shared-by-purposes: unrelated setAlarm sites overwrite each other; unsafe fix through
the schedule table of codeactions/_alarm.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    FIXTURES,
    check_fix_fixture,
    copy_fixture,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "alarm-shared-by-purposes"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_two_methods_arming_different_times_are_flagged(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / RULE / "fix.before.ts", tmp_path / "src" / "todo.ts")
    findings, model = run(RULE, tmp_path)
    (finding,) = findings
    text = (tmp_path / "src" / "todo.ts").read_bytes()
    assert text[finding.span.start : finding.span.end] == b"this.ctx.storage.setAlarm"
    assert "`open()`, `remind()`" in finding.message
    assert [r.message for r in finding.related] == ["also sets the alarm (`open`)"]
    (fix,) = fixes_for(finding, model)
    assert fix.safety is Safety.UNSAFE and "alarmDefault()" in fix.review


def test_same_purpose_earliest_time_helpers_and_handler_rearm_are_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_fix_gives_each_purpose_a_row_and_type_checks(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix", tmp_path)
    text = path.read_text()
    assert 'this.scheduleAlarm("remind", dueAt)' in text
    assert 'this.scheduleAlarm("open", Date.now() + IDLE_MS)' in text
    assert "private async alarmDefault()" in text
    # each purpose keeps setAlarm's own semantics (its new time replaces its old one)
    assert "DO UPDATE SET due_at = excluded.due_at" in text
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_no_fix_without_sqlite_storage(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "kv.ts").write_text(
        """import { DurableObject } from "cloudflare:workers";
export class Kv extends DurableObject<unknown> {
  async a(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + 1_000);
  }
  async b(at: number): Promise<void> {
    await this.ctx.storage.setAlarm(at);
  }
  async alarm(): Promise<void> {}
}
"""
    )
    findings, model = run(RULE, tmp_path)
    assert len(findings) == 1
    assert fixes_for(findings[0], model) == []


ONE_PURPOSE = """import { DurableObject } from "cloudflare:workers";
export class Account extends DurableObject {
  async start() {
    await this.ctx.storage.setAlarm(Date.now() + 3_600_000);
  }
  async finish(ephemeral: boolean) {
    if (ephemeral) await this.ctx.storage.setAlarm(Date.now() + 120_000);
  }
  async alarm() {
    if (!(await this.ctx.storage.get("token"))) await this.ctx.storage.deleteAll();
  }
}
export class Planner extends DurableObject {
  async add(at: number) {
    await this.ctx.storage.put(`job:${at}`, at);
    await this.plan();
  }
  async revoke() {
    await this.ctx.storage.setAlarm(Date.now());
  }
  async alarm() {
    await this.run();
  }
  private async run() {
    await this.plan();
  }
  private async plan() {
    const jobs = await this.ctx.storage.list<number>({ prefix: "job:" });
    await this.ctx.storage.setAlarm(Math.min(...jobs.values()));
  }
}
export class Mixed extends DurableObject {
  async remind(at: number) {
    await this.ctx.storage.setAlarm(at);
  }
  async touch() {
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
  }
  async alarm() {}
}
"""


def test_one_purpose_alarms_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "alarms.ts").write_text(ONE_PURPOSE)
    findings, _ = run(RULE, tmp_path)
    # Account's alarm only expires the object; Planner's plan() is also what alarm() calls and
    # revoke() runs the alarm at once; Mixed has two purposes that overwrite each other
    assert [f.data["class"] for f in findings] == ["Mixed"]
