"""sql-bindings-mismatch: parameters in a non-final statement, counts that differ; split fix."""

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
)

RULE = "sql-bindings-mismatch"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_early_parameters_and_count_mismatch_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = sorted(f.message_id for f in findings)
    assert kinds == ["count", "not-last", "not-last", "not-last"]
    count = next(f for f in findings if f.message_id == "count")
    assert (count.data["params"], count.data["args"]) == (2, 1)


def test_strings_comments_numbered_named_spread_and_agents_tag_are_not_flagged(
    tmp_path: Path,
) -> None:
    root = copy_case(RULE, "clean", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    assert any(s.tagged for s in model.statements)


def test_split_keeps_order_arguments_layout_and_the_result(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    fix_all(RULE, root)
    after = (root / "src" / "lobby.ts").read_text()
    expect_file(after, FIXTURES / RULE / "after" / "src" / "lobby.ts")
    # left: the count mismatch (no automatic fix) and the split refused for a method call
    left = sorted(f.message_id for f in run(RULE, root)[0])
    assert left == ["count", "not-last"]
    assert_settled(RULE, root)


def test_count_mismatch_has_no_fix(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    count = next(f for f in findings if f.message_id == "count")
    assert fixes_for(count, model) == []


def test_examples_report_nothing() -> None:
    check_examples(RULE)


SHADOWED = """import { DurableObject } from "cloudflare:workers";
export class Log extends DurableObject {
  write(rows: number[]) {
    const sql = `INSERT INTO log (n) VALUES ${rows.map(() => "(?)").join(", ")}`;
    return sql;
  }
  page(after: number) {
    const sql = "SELECT * FROM log WHERE n > ? LIMIT ?";
    return this.ctx.storage.sql.exec(sql, after, 50).toArray();
  }
  broken(after: number) {
    const sql = "SELECT * FROM log WHERE n > ? AND n < ?";
    return this.ctx.storage.sql.exec(sql, after).toArray();
  }
}
"""


def test_a_variable_is_resolved_in_its_own_function(tmp_path: Path) -> None:
    # each method's `sql` is its own: the first one declared in the file is not the one run
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "log.ts").write_text(SHADOWED)
    findings, _ = run(RULE, tmp_path)
    assert [(f.data["params"], f.data["args"]) for f in findings] == [(2, 1)]
