"""timer-blocks-hibernation fix: the timer becomes an alarm (unsafe), through a schedule table
when alarm() already serves another purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    EXAMPLES,
    FIXTURES,
    check_fix_fixture,
    error_nodes,
    fix_all,
    run,
    tsc_errors,
)

RULE = "timer-blocks-hibernation"


def test_game_loop_in_constructor(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix-game-loop", tmp_path)
    findings, _ = run(RULE, tmp_path)
    assert findings == []
    assert "setAlarm(Date.now() + 100)" in path.read_text()


def test_game_loop_fix_says_timing_changes(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / RULE / "fix-game-loop.before.ts", tmp_path / "src" / "g.ts")
    findings, model = run(RULE, tmp_path)
    (fix,) = fixes_for(findings[0], model)
    assert fix.safety is Safety.UNSAFE
    assert "Timing changes" in fix.review and "sub-second" in fix.review


def test_existing_ttl_alarm_and_new_timer_share_a_schedule(tmp_path: Path) -> None:
    path = check_fix_fixture(RULE, "fix-shared", tmp_path)
    text = path.read_text()
    assert "private async alarmDefault()" in text  # the TTL cleanup survives
    assert 'case "pulse":' in text and 'case "default":' in text
    assert "getAlarm()) === null" not in text.split("async add(")[1].split("}")[0]


def test_chat_room_timer_and_socket_fixes_type_check(tmp_path: Path) -> None:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root)
    path = root / "src" / "chat-room.ts"
    errors = error_nodes(path)
    assert fix_all(RULE, root) == 1
    assert fix_all(RULE, root) == 0
    assert fix_all("websocket-not-hibernatable", root) == 1
    assert error_nodes(path) <= errors
    text = path.read_text()
    assert "setInterval" not in text and "async alarm(): Promise<void>" in text
    for name in ("fix-game-loop", "fix-shared"):
        shutil.copy(FIXTURES / RULE / f"{name}.after.ts", root / "src" / f"{name}.ts")
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed (npm ci --prefix tests/runtime)")
    assert result == "", result


def test_callback_using_method_locals_is_not_rewritten(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.ts").write_text(
        """import { DurableObject } from "cloudflare:workers";
export class Reminder extends DurableObject {
  remind(user: string, ms: number): void {
    setTimeout(() => console.log("remind", user), ms);
  }
}
"""
    )
    findings, model = run(RULE, tmp_path)
    assert len(findings) == 1
    assert fixes_for(findings[0], model) == []
