"""The rule tests are laid out mechanically: from a rule id alone, its tests are
tests/rules/test_<rule_id>.py, its fixtures tests/fixtures/<rule-id>/ and their snapshots
tests/fixtures/<rule-id>/snapshots/. Tests of several rules together live in
tests/rules/test_cross_rule_<topic>.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durable_harden.analyzers.rules import all_rules
from tests.rules import _snapshot
from tests.rules._snapshot import (
    SNAPSHOTS,
    SUFFIX,
    fixture_cases,
    snapshot_path,
)
from tests.rules._support import FIXTURES

RULES = sorted(r.id for r in all_rules())
TESTS = Path(__file__).resolve().parent


def rule_test_file(rule_id: str) -> Path:
    return TESTS / f"test_{rule_id.replace('-', '_')}.py"


@pytest.mark.parametrize("rule_id", RULES)
def test_each_rule_has_its_test_file_fixtures_and_snapshot_test(rule_id: str) -> None:
    path = rule_test_file(rule_id)
    assert path.is_file(), f"{rule_id}: no {path.relative_to(TESTS.parents[1])}"
    text = path.read_text()
    assert f'RULE = "{rule_id}"' in text
    assert "def test_snapshot(" in text and "check_case(RULE, case" in text
    assert "check_examples(RULE)" in text
    cases = fixture_cases(rule_id)
    missing = [c for c in cases if not snapshot_path(rule_id, c).is_file()]
    assert missing == [], f"{rule_id}: cases without a snapshot (run with --snapshot-update)"


def test_every_test_file_is_named_after_a_rule_or_is_cross_rule() -> None:
    names = {rule_test_file(r).name for r in RULES}
    stray = [
        p.name
        for p in sorted(TESTS.glob("test_*.py"))
        if p.name not in names and not p.name.startswith("test_cross_rule_")
    ]
    assert stray == [], "name a rule's test file test_<rule_id>.py, others test_cross_rule_*.py"


def test_every_fixture_folder_is_a_rules_and_every_snapshot_has_its_case() -> None:
    """A snapshot whose case was renamed or deleted fails here; --snapshot-update deletes it."""
    folders = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert [f for f in folders if f not in RULES] == []
    orphans = []
    for folder in folders:
        cases = set(fixture_cases(folder))
        for snap in sorted((FIXTURES / folder / SNAPSHOTS).glob("*")):
            case = re.sub(re.escape(SUFFIX) + "$", "", snap.name)
            if not snap.name.endswith(SUFFIX) or case not in cases:
                if _snapshot.UPDATE:
                    snap.unlink()
                else:
                    orphans.append(snap.relative_to(FIXTURES).as_posix())
    assert orphans == [], "snapshots of no fixture case: delete them (or run --snapshot-update)"
