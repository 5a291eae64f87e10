"""sql-pragma-not-allowed: the workerd PRAGMA allowlist and reserved `_cf_` names."""

from __future__ import annotations

from pathlib import Path

from tests.rules._sql_support import check_examples, copy_case, flagged, marked, run, span_text

RULE = "sql-pragma-not-allowed"


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
