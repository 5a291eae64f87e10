"""alarm-shared-by-purposes: unrelated setAlarm sites overwrite each other; unsafe fix through
the schedule table of codeactions/_alarm.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    EXAMPLES,
    FIXTURES,
    check_fix_fixture,
    copy_fixture,
    fix_all,
    run,
    tsc_errors,
)

RULE = "alarm-shared-by-purposes"


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


def test_a_timer_added_later_joins_the_same_dispatcher(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "todo.ts"
    source = (FIXTURES / RULE / "fix.after.ts").read_text()
    source = source.replace(
        "  async open(): Promise<Reminder[]> {\n",
        "  private ticker: ReturnType<typeof setInterval> | undefined;\n\n"
        '  private tick(): void {\n    console.log("tick");\n  }\n\n'
        # stoppable: an interval never cleared (with no sockets to serve) gets no alarm fix
        "  stopTicking(): void {\n    clearInterval(this.ticker);\n  }\n\n"
        "  async open(): Promise<Reminder[]> {\n"
        "    if (this.ticker === undefined) {\n"
        "      this.ticker = setInterval(() => this.tick(), 60_000);\n    }\n",
    )
    target.write_text(source)
    assert fix_all("timer-blocks-hibernation", tmp_path) == 1
    text = target.read_text()
    assert text.count("async alarm(") == 1
    assert 'case "tick":' in text and 'case "remind":' in text
    assert 'void this.ctx.storage.put("durable-harden:tick-stopped", true);' in text
    assert run(RULE, tmp_path)[0] == []
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


def test_examples_are_quiet() -> None:
    findings, _ = run(RULE, EXAMPLES)
    assert findings == []
