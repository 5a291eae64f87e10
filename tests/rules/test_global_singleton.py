"""global-singleton: a namespace reached by a constant name."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import fixture, flagged, line_of, marked, run, text_of
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "global-singleton"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_constant_names_are_reported_keys_are_not(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    findings, model = run(RULE, root)
    assert sorted((line_of(f), text_of(f)) for f in findings) == [
        (44, '"global"'),
        (45, "`settings`"),
    ]
    assert all(fixes_for(f, model) == [] for f in findings)  # advice only


def test_test_files_are_skipped(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    (root / "test").mkdir()
    (root / "test" / "store.test.ts").write_text(
        'import { env } from "cloudflare:test";\n'
        'export const stub = env.STORE.getByName("fixture");\n'
    )
    assert {f.span.path.name for f in run(RULE, root)[0]} == {"index.ts"}


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "app", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)
