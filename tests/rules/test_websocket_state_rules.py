"""serialize-attachment-misuse, websocket-state-in-memory and websocket-manual-ping."""

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
    fix_all,
    run,
    tsc_errors,
)


@pytest.mark.parametrize("rule", ["serialize-attachment-misuse", "websocket-state-in-memory"])
def test_flagged_lines_match_markers(tmp_path: Path, rule: str) -> None:
    check_marked(rule, "flagged.ts", tmp_path)


@pytest.mark.parametrize(
    "rule",
    ["serialize-attachment-misuse", "websocket-state-in-memory", "websocket-manual-ping"],
)
def test_correct_code_is_quiet(tmp_path: Path, rule: str) -> None:
    root = copy_fixture(rule, ["clean.ts"], tmp_path)
    findings, _ = run(rule, root)
    assert findings == []


@pytest.mark.parametrize(
    "rule",
    ["serialize-attachment-misuse", "websocket-state-in-memory", "websocket-manual-ping"],
)
def test_examples_are_quiet(rule: str) -> None:
    findings, _ = run(rule, EXAMPLES)
    assert findings == []


def test_serialize_attachment_kinds(tmp_path: Path) -> None:
    root = copy_fixture("serialize-attachment-misuse", ["flagged.ts"], tmp_path)
    findings, _ = run("serialize-attachment-misuse", root)
    assert sorted(f.data["kind"] for f in findings) == ["no-value", "result-used", "result-used"]


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
    findings, _ = run("websocket-state-in-memory", root)
    assert [f.data["field"] for f in findings] == ["sockets"]


def test_manual_ping_fix_adds_auto_response_and_type_checks(tmp_path: Path) -> None:
    rule = "websocket-manual-ping"
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / rule / "fix.before.ts", tmp_path / "src" / "w.ts")
    findings, model = run(rule, tmp_path)
    assert [(f.data["ping"], f.data["pong"]) for f in findings] == [
        ("ping", "pong"),
        ("__heartbeat__", "__ack__"),
    ]
    assert all(fixes_for(f, model)[0].safety is Safety.SAFE for f in findings)
    fixed = tmp_path / "fixed"
    check_fix_fixture(rule, "fix", fixed, unsafe=False)
    assert fix_all(rule, fixed, unsafe=False) == 0
    result = tsc_errors(fixed)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_manual_ping_fix_is_unsafe_when_the_handler_does_more_for_a_ping(tmp_path: Path) -> None:
    # an exact ping answered by the runtime never reaches webSocketMessage: the `lastSeen`
    # update (before the branch, or inside it) would stop
    rule = "websocket-manual-ping"
    base = (FIXTURES / rule / "fix.before.ts").read_text()
    variants = {
        "before": base.replace(
            '    if (message === "ping") {',
            '    this.lastSeen = Date.now();\n    if (message === "ping") {',
        ),
        "inside": base.replace(
            '      ws.send("pong");\n      return;',
            '      ws.send("pong");\n      this.lastSeen = Date.now();\n      return;',
        ),
    }
    for name, text in variants.items():
        assert text != base
        text = text.replace(
            "extends DurableObject<Env> {\n  constructor",
            "extends DurableObject<Env> {\n  lastSeen = 0;\n\n  constructor",
            1,
        )
        root = tmp_path / name
        (root / "src").mkdir(parents=True)
        (root / "src" / "w.ts").write_text(text)
        findings, model = run(rule, root)
        first = next(f for f in findings if f.data["ping"] == "ping")
        (fix,) = fixes_for(first, model)
        assert fix.safety is Safety.UNSAFE and "no longer reach" in fix.review, name
