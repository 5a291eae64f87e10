"""sql-pragma-not-allowed fixes: size reads become sql.databaseSize; user_version has none."""

from __future__ import annotations

from pathlib import Path

from durable_harden.codeactions import fixes_for
from tests.rules._sql_support import (
    FIXTURES,
    assert_settled,
    copy_case,
    fix_all,
    run,
)

RULE = "sql-pragma-not-allowed"


def test_size_read_is_safe_page_count_is_unsafe(tmp_path: Path) -> None:
    root = copy_case(RULE, "size-before", tmp_path)
    findings, model = run(RULE, root)
    safety = sorted(fix.is_safe for f in findings for fix in fixes_for(f, model))
    assert safety == [False, True]
    assert fix_all(RULE, root) == 1  # the safe one only
    assert "const used = sql.databaseSize; // flagged" in (root / "src" / "quota.ts").read_text()
    fix_all(RULE, root, unsafe=True)
    after = (root / "src" / "quota.ts").read_text()
    assert after == (FIXTURES / RULE / "size-after" / "src" / "quota.ts").read_text()
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
