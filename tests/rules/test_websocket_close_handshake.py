"""websocket-close-handshake: missing close (compat-date aware), echoed codes, reserved literals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.rules._hibernation_support import (
    FIXTURES,
    check_fix_fixture,
    check_marked,
    copy_fixture,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "websocket-close-handshake"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


NAME = "flagged.before.ts"


def _config(date: str, flags: str = "") -> str:
    classes = ["Echo", "Quiet", "EarlyOut", "Correct"]
    bindings = ", ".join(
        f'{{ "name": "B{i}", "class_name": "{c}" }}' for i, c in enumerate(classes)
    )
    return (
        f'{{ "name": "w", "main": "src/{NAME}", "compatibility_date": "{date}", '
        f'"compatibility_flags": [{flags}],\n'
        f'  "durable_objects": {{ "bindings": [{bindings}] }} }}\n'
    )


def test_without_config_is_conservative_and_says_so(tmp_path: Path) -> None:
    findings = check_marked(RULE, NAME, tmp_path)
    missing = [f for f in findings if f.message_id == "missing-close"]
    assert len(missing) == 2 and all("assumes a date before" in f.message for f in missing)


def test_old_date_reports_missing_close_with_the_date(tmp_path: Path) -> None:
    root = copy_fixture(RULE, [NAME], tmp_path, config=_config("2026-03-01"))
    findings, _ = run(RULE, root)
    missing = [f for f in findings if f.message_id == "missing-close"]
    assert len(missing) == 2 and all("2026-03-01" in f.message for f in missing)


@pytest.mark.parametrize(
    ("date", "flags"),
    [("2026-04-07", ""), ("2026-01-01", '"web_socket_auto_reply_to_close"')],
)
def test_auto_reply_date_or_flag_needs_no_close(tmp_path: Path, date: str, flags: str) -> None:
    root = copy_fixture(RULE, [NAME], tmp_path, config=_config(date, flags))
    findings, _ = run(RULE, root)
    kinds = sorted(f.data["kind"] for f in findings)
    # the echo and the reserved literal still throw whatever the date
    assert kinds == ["echo", "reserved-literal"]


def test_safe_fix_all(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "flagged", tmp_path, unsafe=False)


def test_fixed_file_type_checks(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / RULE / "flagged.after.ts", tmp_path / "after.ts")
    (tmp_path / "tsconfig.json").write_text(
        (Path(__file__).resolve().parents[2] / "examples/chat-room/tsconfig.json")
        .read_text()
        .replace('"src/**/*.ts"', '"*.ts"')
    )
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == ""


HANDS_ON = """import { DurableObject } from "cloudflare:workers";

import { presence } from "./presence";

export class Room extends DurableObject {
  async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    presence.leave(ws);
  }
}
"""


def test_added_close_is_unsafe_when_the_handler_hands_the_socket_on(tmp_path: Path) -> None:
    # presence.leave(ws) (another module's code) may close it already: the added close could be
    # a second close(). (A method of the class that closes the socket counts as the close: the
    # rule then reports nothing, see test_close_done_by_a_helper_and_guarded_echo.)
    from durable_harden.codeactions import Safety, fixes_for

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "room.ts").write_text(HANDS_ON)
    findings, model = run(RULE, tmp_path)
    (missing,) = [f for f in findings if f.message_id == "missing-close"]
    (fix,) = fixes_for(missing, model)
    assert fix.safety is Safety.UNSAFE and "`presence.leave()`" in fix.review
    (tmp_path / "src" / "room.ts").write_text(
        HANDS_ON.replace("presence.leave(ws);", "console.log(code);")
    )
    findings, model = run(RULE, tmp_path)
    (missing,) = [f for f in findings if f.message_id == "missing-close"]
    assert fixes_for(missing, model)[0].safety is Safety.SAFE


HELPER_CLOSE = """import { DurableObject } from "cloudflare:workers";
export class Call extends DurableObject {
  async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.leave(ws);
  }
  private async leave(socket: WebSocket): Promise<void> {
    this.drop(socket, "left");
  }
  private drop(conn: WebSocket, why: string): void {
    try {
      conn.close(1000, why);
    } catch {}
  }
}
export class Guarded extends DurableObject {
  webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {}
  }
}
export class Forgets extends DurableObject {
  webSocketClose(ws: WebSocket, code: number): void {
    this.log(code);
  }
  private log(code: number): void {}
}
"""


def test_close_done_by_a_helper_and_guarded_echo(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "calls.ts").write_text(HELPER_CLOSE)
    (tmp_path / "wrangler.jsonc").write_text(
        '{ "name": "w", "main": "src/calls.ts", "compatibility_date": "2025-01-01" }\n'
    )
    findings, _ = run(RULE, tmp_path)
    # the helper two calls away closes the socket; the echo inside `try` cannot break anything;
    # a handler whose helper never closes is still reported
    assert [(f.data["class"], f.data["kind"]) for f in findings] == [("Forgets", "missing-close")]
