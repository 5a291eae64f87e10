"""Fixes of the alarm and hibernation rules applied together to one class.

The TTL fix (unbounded-table-growth) and the timer fix (timer-blocks-hibernation) applied to
one class, in either order, leave ONE alarm() that runs both jobs and re-arms each at its own
time: TTL first (the harden planner's order) gives the schedule table; timer first gives the
TTL's earliest-time helper, with the timer's "only while no alarm is pending" guard removed.
A timer fixed after alarm-shared-by-purposes joins its dispatcher; what the timer fix writes
into a constructor is not flagged by alarm-unconditional-in-constructor; the timer and
WebSocket fixes together leave the chat room type-checking."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.rules._hibernation_support import (
    EXAMPLES,
    FIXTURES,
    error_nodes,
    fix_all,
    run,
    tsc_errors,
)


def test_chat_room_ttl_then_timer_share_one_dispatching_alarm(tmp_path: Path) -> None:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root, ignore=shutil.ignore_patterns("node_modules"))
    path = root / "src" / "chat-room.ts"
    errors = error_nodes(path)
    assert fix_all("unbounded-table-growth", root) == 1
    assert fix_all("timer-blocks-hibernation", root) == 1
    # idempotent, in either order
    assert fix_all("unbounded-table-growth", root) == 0
    assert fix_all("timer-blocks-hibernation", root) == 0
    assert error_nodes(path) <= errors
    text = path.read_text()
    assert text.count("async alarm(") == 1
    assert "setInterval" not in text
    # both jobs are dispatched from the one alarm
    assert 'case "default":' in text and 'case "broadcastPresence":' in text
    default = text.split("private async alarmDefault(")[1].split("\n  }")[0]
    assert "await this.cleanupExpiredMessages(info);" in default
    # the TTL's earliest-time helper writes its own row instead of comparing with an alarm that
    # may belong to the presence job (which would drop the cleanup's due time)
    arm = text.split("private async armAlarmBy(time: number): Promise<void> {")[1].split("\n  }")[0]
    assert "getAlarm" not in arm and 'this.scheduleAlarm("default", time)' in arm
    presence = text.split("private async alarmBroadcastPresence(")[1].split("\n  }")[0]
    assert 'this.scheduleAlarm("broadcastPresence", Date.now() + 30_000)' in presence
    # the only direct setAlarm calls left are the schedule's own
    assert text.count(".storage.setAlarm(") == 2
    for rule in ("alarm-shared-by-purposes", "alarm-unconditional-in-constructor"):
        assert run(rule, root)[0] == [], rule
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_chat_room_timer_then_ttl_starts_presence_while_cleanup_is_pending(tmp_path: Path) -> None:
    # The reverse order: the timer fix (no alarm() yet) arms presence behind a
    # `getAlarm().then((pending) => { if (pending === null) … })` guard; the TTL fix then routes
    # that call to armAlarmBy. The guard must go, or presence never starts while a cleanup
    # alarm is pending (i.e. whenever the room has messages).
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root, ignore=shutil.ignore_patterns("node_modules"))
    path = root / "src" / "chat-room.ts"
    errors = error_nodes(path)
    assert fix_all("timer-blocks-hibernation", root) == 1
    assert "if (pending === null)" in path.read_text()
    assert fix_all("unbounded-table-growth", root) == 1
    assert fix_all("timer-blocks-hibernation", root) == 0
    assert fix_all("unbounded-table-growth", root) == 0
    assert error_nodes(path) <= errors
    text = path.read_text()
    start = text.split("private startPresence(): void {")[1].split("\n  }")[0]
    assert start == (
        "\n    if (this.presenceTimer !== undefined) {\n"
        "      return;\n"
        "    }\n"
        '    void this.ctx.storage.put("durable-harden:broadcastPresence-stopped", false);\n'
        "    void this.armAlarmBy(Date.now() + 30_000);"
    )
    # one alarm() runs both jobs; both re-arm through the earliest-time helper
    assert text.count("async alarm(") == 1
    alarm = text.split("async alarm(info?: AlarmInvocationInfo): Promise<void> {")[1]
    alarm = alarm.split("\n  }")[0]
    assert "await this.cleanupExpiredMessages(info);" in alarm
    assert "this.broadcastPresence();" in alarm
    assert "await this.armAlarmBy(Date.now() + 30_000);" in alarm
    # the only setAlarm left is armAlarmBy's own
    assert text.count(".storage.setAlarm(") == 1
    assert text.count("getAlarm()") == 1
    for rule in ("alarm-shared-by-purposes", "alarm-unconditional-in-constructor"):
        assert run(rule, root)[0] == [], rule
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_ttl_fix_drops_an_awaited_pending_guard(tmp_path: Path) -> None:
    # a hand-written "arm only when nothing is pending" around the digest's setAlarm: with the
    # TTL cleanup sharing the alarm it would never arm again while rows await expiry
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "feed.ts"
    path.write_text(
        """import { DurableObject } from "cloudflare:workers";

export class Feed extends DurableObject<unknown> {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
      );
    });
  }

  async record(body: string): Promise<void> {
    this.ctx.storage.sql.exec("INSERT INTO events (body) VALUES (?)", body);
    // send a digest within the hour
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + 60 * 60 * 1000);
    }
  }

  async alarm(): Promise<void> {
    console.log("digest", this.ctx.storage.sql.exec("SELECT COUNT(*) AS n FROM events").one().n);
  }
}
"""
    )
    assert fix_all("unbounded-table-growth", tmp_path) == 1
    assert fix_all("unbounded-table-growth", tmp_path) == 0
    text = path.read_text()
    assert (
        "    // send a digest within the hour\n"
        "    await this.armAlarmBy(Date.now() + 60 * 60 * 1000);\n"
        "  }\n"
    ) in text
    assert text.count("getAlarm()") == 1  # armAlarmBy's own
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_timer_added_after_the_shared_alarm_fix_joins_the_same_dispatcher(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    target = tmp_path / "src" / "todo.ts"
    source = (FIXTURES / "alarm-shared-by-purposes" / "fix.after.ts").read_text()
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
    assert run("alarm-shared-by-purposes", tmp_path)[0] == []
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_timer_fix_output_in_a_constructor_is_not_flagged(tmp_path: Path) -> None:
    # the timer fix guards what it writes into constructors; the two rules must agree
    (tmp_path / "src").mkdir()
    shutil.copy(
        FIXTURES / "timer-blocks-hibernation" / "fix-game-loop.before.ts", tmp_path / "src" / "g.ts"
    )
    assert fix_all("timer-blocks-hibernation", tmp_path) == 1
    findings, _ = run("alarm-unconditional-in-constructor", tmp_path)
    assert findings == []


def test_chat_room_timer_and_socket_fixes_type_check(tmp_path: Path) -> None:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root)
    path = root / "src" / "chat-room.ts"
    errors = error_nodes(path)
    assert fix_all("timer-blocks-hibernation", root) == 1
    assert fix_all("timer-blocks-hibernation", root) == 0
    assert fix_all("websocket-not-hibernatable", root) == 1
    assert error_nodes(path) <= errors
    text = path.read_text()
    assert "setInterval" not in text and "async alarm(): Promise<void>" in text
    for name in ("fix-game-loop", "fix-shared"):
        shutil.copy(
            FIXTURES / "timer-blocks-hibernation" / f"{name}.after.ts", root / "src" / f"{name}.ts"
        )
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed (npm ci --prefix tests/runtime)")
    assert result == "", result
