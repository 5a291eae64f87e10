"""sql-pragma-not-allowed: the workerd PRAGMA allowlist and reserved `_cf_` names; size reads
become sql.databaseSize, user_version has no fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._snapshot import Snapshots, check_case, expect_file, fixture_cases
from tests.rules._sql_support import (
    FIXTURES,
    assert_settled,
    check_examples,
    copy_case,
    fix_all,
    flagged,
    marked,
    run,
    span_text,
)

RULE = "sql-pragma-not-allowed"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_rejected_pragmas_and_reserved_names_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "case", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    texts = sorted(span_text(f) for f in findings)
    assert texts == [
        "_cf_cache",
        "page_count",
        "page_size",
        "pragma_journal_mode",
        "user_version",
        "user_version",
    ]
    page_count = next(f for f in findings if f.data.get("pragma") == "page_count")
    assert "databaseSize" in page_count.message


def test_examples_report_nothing() -> None:
    check_examples(RULE)


def test_size_read_is_safe_page_count_is_unsafe(tmp_path: Path) -> None:
    root = copy_case(RULE, "size-before", tmp_path)
    findings, model = run(RULE, root)
    safety = sorted(fix.is_safe for f in findings for fix in fixes_for(f, model))
    assert safety == [False, True]
    assert fix_all(RULE, root) == 1  # the safe one only
    assert "const used = sql.databaseSize; // flagged" in (root / "src" / "quota.ts").read_text()
    fix_all(RULE, root, unsafe=True)
    after = (root / "src" / "quota.ts").read_text()
    expect_file(after, FIXTURES / RULE / "size-after" / "src" / "quota.ts")
    assert run(RULE, root)[0] == []
    assert_settled(RULE, root, unsafe=True)


def test_user_version_and_other_pragmas_get_no_fix(tmp_path: Path) -> None:
    root = copy_case(RULE, "case", tmp_path)
    findings, model = run(RULE, root)
    for finding in findings:
        fixes = fixes_for(finding, model)
        if finding.data.get("pragma") == "page_count":
            # `pages: sql.exec("PRAGMA page_count").one()` reads the whole row: no fix
            assert fixes == []
        else:
            assert fixes == [], finding.message
    user_version = [f for f in findings if f.data.get("pragma") == "user_version"]
    assert user_version and all("migrations table" in f.message for f in user_version)
