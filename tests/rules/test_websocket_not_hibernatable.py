"""websocket-not-hibernatable: fires on `.accept()` of a WebSocketPair server half in a DO."""

from __future__ import annotations

from pathlib import Path

from tests.rules._hibernation_support import copy_fixture, flagged_lines, marked_lines, run

RULE = "websocket-not-hibernatable"


def _check_file(tmp_path: Path, name: str) -> None:
    root = copy_fixture(RULE, [name], tmp_path)
    findings, _ = run(RULE, root)
    path = root / "src" / name
    assert flagged_lines(findings, path) == marked_lines(path)


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
