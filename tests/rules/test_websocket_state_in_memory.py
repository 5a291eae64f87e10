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
    write_project,
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
    fixable = {f.data["field"] for f in findings if fixes_for(f, model)}
    # `watchers` holds every socket the class accepts (added beside the only acceptWebSocket):
    # rebuilt from getWebSockets(); the others carry values no attachment can hold
    assert fixable == {"watchers"}


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


CHANGED_IN_PLACE = """import { DurableObject } from "cloudflare:workers";
type Cursor = { x: number; y: number; trail: number[] };
export class Board extends DurableObject {
  private cursors = new Map<WebSocket, Cursor>();
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    const cursor = { x: 0, y: 0, trail: [] };
    this.cursors.set(server, cursor);
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws: WebSocket, message: string): Promise<void> {
    CHANGE
    for (const other of this.cursors.keys()) other.send(message);
  }
}
"""


@pytest.mark.parametrize(
    "change",
    [
        "this.cursors.get(ws)!.x = Number(message);",
        "const c = this.cursors.get(ws)!; c.x += 1;",
        "const c = this.cursors.get(ws); c?.trail.push(1);",
        "const c = this.cursors.get(ws)!; c.y++;",
        "for (const [s, c] of this.cursors) if (s !== ws) c.x = 0;",
        "for (const c of this.cursors.values()) c.trail.push(2);",
        "this.cursors.forEach((c) => { c.y = 1; });",
    ],
)
def test_no_fix_when_a_stored_value_is_changed_in_place(tmp_path: Path, change: str) -> None:
    # the attachment would keep the old value: after a wake the change is gone
    root = write_project(tmp_path, {"src/board.ts": CHANGED_IN_PLACE.replace("CHANGE", change)})
    (finding,) = run(RULE, root)[0]
    assert fixes_for(finding, model := run(RULE, root)[1]) == [], model


def test_values_stored_again_or_only_read_are_fixable(tmp_path: Path) -> None:
    change = (
        "const c = this.cursors.get(ws)!; const x = c.x + 1; this.cursors.set(ws, { ...c, x });"
    )
    root = write_project(tmp_path, {"src/board.ts": CHANGED_IN_PLACE.replace("CHANGE", change)})
    assert fix_all(RULE, root) == 1
    text = (root / "src" / "board.ts").read_text()
    assert "ws.serializeAttachment({ ...c, x }); this.cursors.set(ws, { ...c, x });" in text
    assert run(RULE, root)[0] == []
    _tsc(root)


SET_OF_SOCKETS = """import { DurableObject } from "cloudflare:workers";
export class Feed extends DurableObject {
  private sockets = new Set<WebSocket>();
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    this.sockets.add(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  publish(text: string): number {
    for (const ws of this.sockets) ws.send(text);
    return this.sockets.size;
  }
  async webSocketMessage(ws: WebSocket, message: string): Promise<void> {
    if (message === "leave") this.sockets.delete(ws);
  }
  async webSocketClose(ws: WebSocket): Promise<void> {
    this.sockets.delete(ws);
  }
}
"""


def test_a_set_of_every_accepted_socket_is_rebuilt_from_getwebsockets(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"src/feed.ts": SET_OF_SOCKETS})
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    # the delete in webSocketMessage leaves the socket open: the reviewer is told where
    assert "`webSocketMessage()` (line 15)" in fix.review
    assert "webSocketClose" not in fix.review
    assert fix_all(RULE, root) == 1
    text = (root / "src" / "feed.ts").read_text()
    assert (
        "    for (const ws of this.ctx.getWebSockets()) {\n      this.sockets.add(ws);\n    }\n"
        in text
    )
    assert run(RULE, root)[0] == []
    assert fix_all(RULE, root) == 0
    _tsc(root)


@pytest.mark.parametrize(
    "edit",
    [
        # added only on a condition: the rebuild would add every socket
        (
            "    this.sockets.add(server);\n",
            "    if (Math.random() > 0.5) this.sockets.add(server);\n",
        ),
        # a second kind of hibernated socket that is never added
        (
            "  publish(",
            "  async other(): Promise<Response> {\n"
            "    const [client, server] = Object.values(new WebSocketPair());\n"
            "    this.ctx.acceptWebSocket(server);\n"
            "    return new Response(null, { status: 101, webSocket: client });\n"
            "  }\n  publish(",
        ),
        # emptied while sockets stay open
        ("    return this.sockets.size;", "    this.sockets.clear();\n    return 0;"),
    ],
)
def test_no_set_fix_when_the_set_is_not_every_socket(tmp_path: Path, edit: tuple[str, str]) -> None:
    source = SET_OF_SOCKETS.replace(*edit)
    assert source != SET_OF_SOCKETS
    root = write_project(tmp_path, {"src/feed.ts": source})
    (finding,) = run(RULE, root)[0]
    assert fixes_for(finding, run(RULE, root)[1]) == []
