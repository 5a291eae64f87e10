"""serialize-attachment-misuse: serializeAttachment() without a value, or its void result used.
The fix attaches the id at hand / the id the void result stood for, and tags the socket with it
when it is plainly a string known at the accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    check_fix_fixture,
    check_marked,
    copy_fixture,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "serialize-attachment-misuse"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def _tsc(root: Path) -> None:
    result = tsc_errors(root)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_serialize_attachment_fix_attaches_ids_and_tags_sockets(tmp_path: Path) -> None:
    # result used as an id: the id is computed into the variable and attached (and, being a
    # string known before the accept, becomes the socket's tag); no value: the id at hand is
    # attached and tags the socket; an id read after the accept is attached but not a tag
    rule = RULE
    check_fix_fixture(rule, "fix", tmp_path)
    assert run(rule, tmp_path)[0] == []
    _tsc(tmp_path)


def test_serialize_attachment_unclear_intent_is_reported_only(tmp_path: Path) -> None:
    rule = RULE
    root = copy_fixture(rule, ["nofix.ts"], tmp_path)
    findings, model = run(rule, root)
    assert sorted(f.message_id for f in findings) == [
        "no-value",
        "no-value",
        "result-used",
        "result-used",
    ]
    assert all(fixes_for(f, model) == [] for f in findings)


def test_serialize_attachment_fix_is_unsafe_and_says_how_to_find_sockets(tmp_path: Path) -> None:
    rule = RULE
    root = copy_fixture(rule, ["fix.before.ts"], tmp_path)
    findings, model = run(rule, root)
    fixes = {f.data["class"]: fixes_for(f, model) for f in findings}
    assert all(len(v) == 1 and v[0].safety is Safety.UNSAFE for v in fixes.values())
    assert "getWebSockets(id)" in fixes["GameRoom"][0].review
    assert "tag" in fixes["Inbox"][0].title
    assert "tag" not in fixes["Sessions"][0].title


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    check_marked(RULE, "flagged.ts", tmp_path)


def test_correct_code_is_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_examples() -> None:
    check_examples(RULE)


def test_serialize_attachment_kinds(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert sorted(f.message_id for f in findings) == ["no-value", "result-used", "result-used"]
