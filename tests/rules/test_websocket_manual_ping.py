"""websocket-manual-ping: pings answered in webSocketMessage wake the object; the fix sets an
auto-response (setWebSocketAutoResponse) that answers them without waking it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    FIXTURES,
    check_fix_fixture,
    copy_fixture,
    fix_all,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "websocket-manual-ping"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_correct_code_is_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_examples() -> None:
    check_examples(RULE)


def test_manual_ping_fix_adds_auto_response_and_type_checks(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    shutil.copy(FIXTURES / RULE / "fix.before.ts", tmp_path / "src" / "w.ts")
    findings, model = run(RULE, tmp_path)
    assert [(f.data["ping"], f.data["pong"]) for f in findings] == [
        ("ping", "pong"),
        ("__heartbeat__", "__ack__"),
    ]
    assert all(fixes_for(f, model)[0].safety is Safety.SAFE for f in findings)
    fixed = tmp_path / "fixed"
    check_fix_fixture(RULE, "fix", fixed, unsafe=False)
    assert fix_all(RULE, fixed, unsafe=False) == 0
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
