"""The TTL fix (unbounded-table-growth) and the timer fix (timer-blocks-hibernation) applied to
one class, in the harden planner's order (TTL first), leave ONE alarm() that runs both jobs and
re-arms each at its own time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.rules._hibernation_support import EXAMPLES, error_nodes, fix_all, run, tsc_errors


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
