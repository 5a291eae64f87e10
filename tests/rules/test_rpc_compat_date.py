"""rpc-compat-date: RPC calls need compatibility_date >= 2024-04-03."""

from __future__ import annotations

from pathlib import Path

import json5
import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import apply_fix, fixture, flagged, marked, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "rpc-compat-date"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_rpc_calls_with_an_old_date_are_reported_fetch_is_not(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    findings, _ = run(RULE, root)
    methods = sorted(f.data["method"] for f in findings)
    assert methods == ["count", "count", "join", "join", "onChange", "remove", "remove", "remove"]


def test_new_date_or_rpc_flag_is_fine(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    config = root / "wrangler.jsonc"
    text = config.read_text()
    config.write_text(text.replace('"2024-01-15"', '"2024-04-03"'))
    assert run(RULE, root)[0] == []
    config.write_text(
        text.replace(
            '"compatibility_date": "2024-01-15",',
            '"compatibility_date": "2024-01-15",\n  "compatibility_flags": ["rpc"],',
        )
    )
    assert run(RULE, root)[0] == []


def test_unsafe_fix_bumps_the_date_keeping_the_file(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    config = root / "wrangler.jsonc"
    before = config.read_text()
    findings, model = run(RULE, root)
    (fix,) = fixes_for(findings[0], model)
    assert not fix.is_safe and "2024-01-15" in fix.review
    apply_fix(fix)
    assert config.read_text() == before.replace('"2024-01-15"', '"2024-04-03"')
    json5.loads(config.read_text())
    assert run(RULE, root)[0] == []


def test_toml_date_stays_a_toml_date(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    (root / "wrangler.jsonc").unlink()
    (root / "wrangler.toml").write_text(
        'name = "chat"\nmain = "src/index.ts"\ncompatibility_date = 2024-01-15 # old\n\n'
        '[[durable_objects.bindings]]\nname = "ROOMS"\nclass_name = "Room"\n'
    )
    findings, model = run(RULE, root)
    apply_fix(fixes_for(findings[0], model)[0])
    assert "compatibility_date = 2024-04-03 # old\n" in (root / "wrangler.toml").read_text()


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)
