"""websocket-state-in-memory: per-socket state kept in memory by a hibernatable object. The fix
writes attachments beside each `set` and rebuilds the map in the constructor from
`getWebSockets()` + `deserializeAttachment()`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    EXAMPLES,
    check_fix_fixture,
    check_marked,
    copy_fixture,
    fix_all,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "websocket-state-in-memory"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def _tsc(root: Path) -> None:
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_map_values_become_attachments_and_are_rebuilt(tmp_path: Path) -> None:
    # object literal computed once into a const; a plain-data literal attached as is;
    # the Set of spectators has no value to attach and stays reported
    check_fix_fixture(RULE, "fix", tmp_path)
    findings, model = run(RULE, tmp_path)
    assert [f.data["field"] for f in findings] == ["spectators"]
    assert fixes_for(findings[0], model) == []
    _tsc(tmp_path)


def test_constructor_added_in_the_files_style(tmp_path: Path) -> None:
    # no constructor: one is added after the fields, tab-indented like the file
    check_fix_fixture(RULE, "tabs", tmp_path)
    _tsc(tmp_path)


def test_fix_is_unsafe_and_names_the_attachment_limits(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["fix.before.ts"], tmp_path)
    findings, model = run(RULE, root)
    seats = next(f for f in findings if f.data["field"] == "seats")
    (fix,) = fixes_for(seats, model)
    assert fix.safety is Safety.UNSAFE
    assert "structured-clonable" in fix.review and "16 KiB" in fix.review


def test_unclear_values_get_no_fix(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["nofix.ts"], tmp_path)
    findings, model = run(RULE, root)
    assert sorted(f.data["field"] for f in findings) == [
        "handlers",
        "scores",
        "sessions",
        "watchers",
    ]
    assert all(fixes_for(f, model) == [] for f in findings)


def test_hardened_chat_room_rebuilds_its_socket_map(tmp_path: Path) -> None:
    # the chat room made hibernatable (as harden's websocket-not-hibernatable fix does)
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root, ignore=shutil.ignore_patterns("node_modules"))
    path = root / "src" / "chat-room.ts"
    original = path.read_text()
    path.write_text(original.replace("server.accept();", "this.ctx.acceptWebSocket(server);"))
    assert fix_all(RULE, root) == 1
    assert fix_all(RULE, root) == 0
    text = path.read_text()
    assert (
        "    server.serializeAttachment({ userId, room });\n"
        "    this.sockets.set(server, { userId, room });\n"
    ) in text
    ctor = text.split("constructor(ctx: DurableObjectState, env: Env) {")[1].split("\n  }")[0]
    assert ctor.startswith(
        "\n    super(ctx, env);\n"
        "    // Sockets outlive hibernation, this map does not: rebuild it from their attachments.\n"
        "    for (const ws of this.ctx.getWebSockets()) {\n"
        "      const connection = ws.deserializeAttachment() as Connection | null;\n"
        "      if (connection !== null) {\n"
        "        this.sockets.set(ws, connection);\n"
        "      }\n"
        "    }\n"
    )
    assert run(RULE, root)[0] == []


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    check_marked(RULE, "flagged.ts", tmp_path)


def test_correct_code_is_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_examples() -> None:
    check_examples(RULE)


def test_hibernating_chat_room_keeps_its_socket_map_in_memory(tmp_path: Path) -> None:
    # examples/chat-room made hibernatable keeps `sockets` in a Map: the rule must say so
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root)
    text = (
        (root / "src" / "chat-room.ts")
        .read_text()
        .replace("server.accept();", "this.ctx.acceptWebSocket(server);")
    )
    (root / "src" / "chat-room.ts").write_text(text)
    findings, _ = run(RULE, root)
    assert [f.data["field"] for f in findings] == ["sockets"]


RESTORED = """import { DurableObject } from "cloudflare:workers";
export class Doc extends DurableObject {
  protected sessions = new Map<WebSocket, () => void>();
  private joined = new Map<WebSocket, number>();
  private names = new Map<WebSocket, string>();
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(this.onStart.bind(this));
  }
  protected async onStart(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.register(ws);
  }
  protected register(ws: WebSocket) {
    this.sessions.set(ws, () => ws.close());
  }
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    this.register(server);
    this.joined.set(server, Date.now());
    this.names.set(server, "guest");
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws: WebSocket, message: string) {
    this.sessions.get(ws)?.();
    ws.send(`${this.names.get(ws)}: ${message}`);
  }
  async webSocketClose(ws: WebSocket) {
    this.joined.delete(ws);
    this.sessions.delete(ws);
  }
}
"""


def test_rebuilt_through_a_helper_or_never_read_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "doc.ts").write_text(RESTORED)
    findings, _ = run("websocket-state-in-memory", tmp_path)
    # sessions is rebuilt by onStart -> register; joined is never read; names is lost
    assert [f.data["field"] for f in findings] == ["names"]
