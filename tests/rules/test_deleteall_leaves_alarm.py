"""deleteall-leaves-alarm: deleteAll() keeps the alarm before compatibility_date 2026-02-24."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import Safety, fixes_for
from tests.rules._hibernation_support import (
    EXAMPLES,
    check_fix_fixture,
    check_marked,
    copy_fixture,
    run,
    tsc_errors,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "deleteall-leaves-alarm"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def _config(main: str, date: str, flags: str = "") -> str:
    classes = ["Lobby", "Bucketed", "Careful", "Notes"]
    bindings = ", ".join(
        f'{{ "name": "B{i}", "class_name": "{c}" }}' for i, c in enumerate(classes)
    )
    return (
        f'{{ "name": "w", "main": "src/{main}", "compatibility_date": "{date}", '
        f'"compatibility_flags": [{flags}],\n'
        f'  "durable_objects": {{ "bindings": [{bindings}] }} }}\n'
    )


def test_old_date_flags_deleteall_in_alarm_classes(tmp_path: Path) -> None:
    findings = check_marked(
        RULE, "flagged.ts", tmp_path, config=_config("flagged.ts", "2025-11-01")
    )
    assert all("(compatibility_date 2025-11-01)" in f.message for f in findings)


def test_no_config_is_conservative_and_says_so(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path)
    findings, _ = run(RULE, root)
    assert len(findings) == 3
    assert all("assumes a date before 2026-02-24" in f.message for f in findings)


@pytest.mark.parametrize(
    ("date", "flags"), [("2026-02-24", ""), ("2025-06-01", '"delete_all_deletes_alarm"')]
)
def test_new_date_or_flag_deletes_the_alarm_itself(tmp_path: Path, date: str, flags: str) -> None:
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path, config=_config("flagged.ts", date, flags))
    findings, _ = run(RULE, root)
    assert findings == []


def test_alarm_without_rearm_prior_deletealarm_and_no_alarms_are_quiet(tmp_path: Path) -> None:
    root = copy_fixture(RULE, ["clean.ts"], tmp_path, config=_config("clean.ts", "2025-11-01"))
    findings, _ = run(RULE, root)
    assert findings == []


def test_rate_limiter_example_is_not_flagged_even_with_an_old_date(tmp_path: Path) -> None:
    src = (EXAMPLES / "rate-limiter" / "src" / "rate-limiter.ts").read_text()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "rate-limiter.ts").write_text(src)
    findings, _ = run(RULE, tmp_path)  # no config: the conservative (old) date
    assert findings == []


def test_fix_all(tmp_path: Path) -> None:
    check_fix_fixture(RULE, "fix", tmp_path, config=_config("fix.ts", "2025-11-01"), unsafe=True)
    result = tsc_errors(tmp_path)
    if result is None:
        pytest.skip("tests/runtime/node_modules is not installed")
    assert result == "", result


def test_fix_is_unsafe(tmp_path: Path) -> None:
    # the pending alarm no longer runs: a change of behaviour a reviewer must accept
    root = copy_fixture(RULE, ["flagged.ts"], tmp_path)
    findings, model = run(RULE, root)
    assert findings
    assert all(fixes_for(f, model)[0].safety is Safety.UNSAFE for f in findings)
