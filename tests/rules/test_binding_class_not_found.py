"""binding-class-not-found: a binding to a class no file declares."""

from __future__ import annotations

from pathlib import Path

import json5
import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import apply_fix, fixture, run, text_of
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "binding-class-not-found"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def _project(tmp_path: Path) -> Path:
    """tests/fixtures/binding-class-not-found/typo: ROOMS binds `ChatRom`, the file declares
    `ChatRoom`; LOBBY is fine; EXTERNAL lives in another Worker; PKG is re-exported from a
    package."""
    return fixture(RULE, "typo", tmp_path)


def test_missing_class_reported_package_and_script_name_bindings_not(tmp_path: Path) -> None:
    root = _project(tmp_path)
    findings, _ = run(RULE, root)
    assert [(text_of(f), f.data["suggestion"]) for f in findings] == [('"ChatRom"', "ChatRoom")]
    # class-not-exported leaves it to this rule
    assert run("class-not-exported", root)[0] == []


def test_unsafe_fix_binds_the_close_class(tmp_path: Path) -> None:
    root = _project(tmp_path)
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "renamed_classes" in fix.review
    before = (root / "wrangler.jsonc").read_text()
    apply_fix(fix)
    after = (root / "wrangler.jsonc").read_text()
    assert after == before.replace('"ChatRom" }, // typo', '"ChatRoom" }, // typo')
    json5.loads(after)
    assert run(RULE, root)[0] == []


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    root = _project(tmp_path)
    config = root / "wrangler.jsonc"
    config.write_text(config.read_text().replace("ChatRom", "Inventory"))
    findings, model = run(RULE, root)
    assert [f.data["suggestion"] for f in findings] == [None]
    assert fixes_for(findings[0], model) == []
