"""sql-transaction-statement: BEGIN/COMMIT/… in exec(), and the transactionSync() rewrite."""

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

RULE = "sql-transaction-statement"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_every_transaction_control_statement_is_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    assert sorted(span_text(f) for f in findings) == sorted(
        ["BEGIN", "COMMIT", "BEGIN", "COMMIT", "ROLLBACK", "BEGIN", "END", "SAVEPOINT", "RELEASE"]
    )


def test_triggers_upserts_and_transaction_sync_are_not_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    # the trigger body really is in the model, as one statement
    assert any("CREATE TRIGGER" in s.text and "END" in s.text for s in model.statements)


def test_fix_wraps_the_clear_shapes_and_leaves_the_others(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    fix_all(RULE, root)
    after = (root / "src" / "ledger.ts").read_text()
    expect_file(after, FIXTURES / RULE / "after" / "src" / "ledger.ts")
    left = {span_text(f) for f in run(RULE, root)[0]}
    # close(): `removed` is read after END; audit(): an await inside
    assert left == {"BEGIN", "END", "SAVEPOINT", "RELEASE"}
    assert_settled(RULE, root)


def test_each_finding_of_a_pair_offers_the_same_edit(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    transfer = [f for f in findings if f.data["keyword"] in {"BEGIN", "COMMIT"}][:2]
    edits = [fixes_for(f, model)[0].edits for f in transfer]
    assert edits[0] == edits[1]
    assert all(fixes_for(f, model)[0].is_safe for f in transfer)


def test_rollback_before_commit_or_no_commit_gets_no_fix(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    ledger = root / "src" / "ledger.ts"
    ledger.write_text(
        ledger.read_text().replace(
            '    this.sql.exec("COMMIT"); // flagged\n  }\n\n  open',
            '    if (amount < 0) this.sql.exec("ROLLBACK"); // flagged\n  }\n\n  open',
        )
    )
    findings, model = run(RULE, root)
    begin = next(f for f in findings if f.data["keyword"] == "BEGIN")
    assert fixes_for(begin, model) == []


def test_examples_report_nothing() -> None:
    check_examples(RULE)
