"""websocket-not-hibernatable: fires on `.accept()` of a WebSocketPair server half in a DO."""

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
    error_nodes,
    fix_all,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "websocket-not-hibernatable"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def _check_file(tmp_path: Path, name: str) -> None:
    check_marked(RULE, name, tmp_path)


def test_accept_shapes_are_flagged(tmp_path: Path) -> None:
    _check_file(tmp_path, "flagged.ts")


def test_outbound_and_hibernatable_sockets_are_not_flagged(tmp_path: Path) -> None:
    _check_file(tmp_path, "clean.ts")


def test_socket_handed_to_a_library_is_information_only(tmp_path: Path) -> None:
    _check_file(tmp_path, "handoff.ts")
    findings, _ = run(RULE, tmp_path)
    (finding,) = findings
    assert finding.severity.name == "INFO"
    assert finding.data["kind"] == "handoff"
    assert "handleSocketConnect" in finding.message


def test_listeners_on_hibernatable_socket(tmp_path: Path) -> None:
    _check_file(tmp_path, "listeners-on-hibernatable.ts")


def test_listeners_are_related_information(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path)
    findings, _ = run(RULE, root)
    lobby = next(f for f in findings if f.data["kind"] == "accept" and "server.accept" in f.message)
    assert [r.message.split(")")[0] for r in lobby.related] == ['`addEventListener("message"']
    assert lobby.data["listeners"][0][0] == "message"
    # the span is exactly the call
    text = lobby.span.path.read_bytes()[lobby.span.start : lobby.span.end]
    assert text == b"server.accept()"


def test_legacy_state_alias_is_named_in_message(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "legacy.ts").write_text(
        """export class Legacy implements DurableObject {
  constructor(private state: DurableObjectState) {}
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    return new Response(null, { status: 101, webSocket: client });
  }
}
"""
    )
    findings, _ = run(RULE, tmp_path)
    (finding,) = findings
    assert "this.state.acceptWebSocket(server)" in finding.message


# -- fixes ---------------------------------------------------------------------------------


def test_safe_fix_without_listeners(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "fix-accept", tmp_path, unsafe=False)


def test_listener_fix_is_unsafe_and_not_applied_by_safe_fix_all(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["fix-listeners.before.ts"], tmp_path)
    assert fix_all(RULE, root, unsafe=False) == 0
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert fix.safety is Safety.UNSAFE and "serializeAttachment" in fix.review


def test_listeners_move_into_new_handlers(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "fix-listeners", tmp_path)


def test_listeners_merge_into_existing_handler_behind_a_tag(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "fix-merge", tmp_path)


def test_no_close_call_added_when_runtime_answers_the_handshake(tmp_path: Path) -> None:
    config = '{ "name": "w", "main": "src/fix-listeners.ts", "compatibility_date": "2026-04-07" }\n'
    root = copy_fixture(RULE, ["fix-listeners.before.ts"], tmp_path, config=config)
    fix_all(RULE, root)
    text = (root / "src" / "fix-listeners.before.ts").read_text()
    assert "async webSocketClose(" in text and "ws.close(" not in text


def test_listener_closing_over_locals_gets_no_fix(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["fix-closure.before.ts"], tmp_path)
    findings, model = run(RULE, root)
    assert len(findings) == 1
    assert fixes_for(findings[0], model) == []


def test_fixed_chat_room_type_checks(tmp_path: Path) -> None:
    root = tmp_path / "chat-room"
    shutil.copytree(EXAMPLES / "chat-room", root)
    path = root / "src" / "chat-room.ts"
    errors = error_nodes(path)
    assert fix_all(RULE, root) == 1
    assert fix_all(RULE, root) == 0
    assert error_nodes(path) <= errors
    text = path.read_text()
    assert "server.accept()" not in text and 'addEventListener("message"' not in text
    assert "async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer)" in text
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed (npm ci --prefix tests/runtime)")
    assert result == ""
    for name in ("fix-accept", "fix-listeners", "fix-merge"):
        shutil.copy(FIXTURES / RULE / f"{name}.after.ts", root / "src" / f"{name}.ts")
    assert tsc_errors(root) == ""


CASTS = """import { DurableObject } from "cloudflare:workers";
export class A extends DurableObject {
  async fetch(): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    (server as any).accept();
    return new Response(null, { status: 101, webSocket: client });
  }
}
export class B extends DurableObject {
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    (<WebSocket>server).accept();
    return new Response(null, { status: 101, webSocket: client });
  }
}
export class C extends DurableObject {
  socket?: WebSocket;
  async fetch(): Promise<Response> {
    const pair = new WebSocketPair();
    const server = pair[1];
    server!.accept();
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
}
"""


def test_accept_through_casts_is_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "casts.ts").write_text(CASTS)
    findings, _ = run(RULE, tmp_path)
    assert sorted(f.data["class"] for f in findings) == ["A", "B", "C"]


ERROR_FRAME = """import { DurableObject } from "cloudflare:workers";
export class Gate extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    if (!request.headers.get("authorization")) {
      server.accept();
      server.send(JSON.stringify({ error: "unauthorized" }));
      server.close(1008, "unauthorized");
      return new Response(null, { status: 101, webSocket: client });
    }
    Object.assign(server, { joinedAt: Date.now() });
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
}
export class Open extends DurableObject {
  async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (e) => server.send(String(e.data)));
    return new Response(null, { status: 101, webSocket: client });
  }
}
"""


def test_error_frame_then_close_and_object_assign_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "gate.ts").write_text(ERROR_FRAME)
    findings, _ = run(RULE, tmp_path)
    # Gate accepts only to refuse, then hibernates its real sockets; Open keeps one open
    assert [(f.data["class"], f.data["kind"]) for f in findings] == [("Open", "accept")]
