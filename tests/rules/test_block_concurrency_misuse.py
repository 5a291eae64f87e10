"""block-concurrency-misuse: per-request use, or network I/O inside the constructor's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules._config_support import fixture, flagged, line_of, marked, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "block-concurrency-misuse"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_per_request_and_io_uses_are_reported_schema_setup_is_not(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    findings, _ = run(RULE, root)
    assert sorted((line_of(f), f.data["class"], f.data["problem"]) for f in findings) == [
        (18, "Store", "outside-constructor"),
        (29, "ConfigHolder", "io-inside"),
    ]


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)
