"""sql-too-many-params: generated `IN (?, ?, …)` lists and > 100 parameters; json_each fix."""

from __future__ import annotations

import json
import sqlite3
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

RULE = "sql-too-many-params"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_generated_lists_are_flagged_fixed_lists_are_not(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    assert {f.data["array"] for f in findings} == {"skus"}


def test_fix_binds_the_array_once(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    # the elements' types are unchecked (a BLOB element would match nothing): unsafe
    assert fix_all(RULE, root) == 0
    fix_all(RULE, root, unsafe=True)
    after = (root / "src" / "catalog.ts").read_text()
    expect_file(after, FIXTURES / RULE / "after" / "src" / "catalog.ts")
    left = run(RULE, root)[0]
    assert len(left) == 1 and "...extra" in left[0].span.path.read_text()
    assert fixes_for(left[0], run(RULE, root)[1]) == []
    assert_settled(RULE, root, unsafe=True)


def test_json_each_matches_one_parameter_per_element() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, qty INTEGER)")
    rows = [(f"sku-{i}", i) for i in range(300)]
    db.executemany("INSERT INTO products VALUES (?, ?)", rows)
    skus = [f"sku-{i}" for i in range(0, 300, 2)]  # 150 elements: over the limit
    got = db.execute(
        "SELECT sku FROM products WHERE sku IN (SELECT value FROM json_each(?)) ORDER BY sku",
        (json.dumps(skus),),
    ).fetchall()
    assert [r[0] for r in got] == sorted(skus)
    qty = db.execute(
        "SELECT COUNT(*) FROM products WHERE qty IN (SELECT value FROM json_each(?))",
        (json.dumps([1, 2, 3]),),
    ).fetchone()
    assert qty == (3,)


def test_more_than_100_literal_parameters(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    values = ", ".join(["(?, ?)"] * 51)
    args = ", ".join(f"a{i}" for i in range(102))
    params = ", ".join(f"a{i}: string" for i in range(102))
    catalog = root / "src" / "catalog.ts"
    catalog.write_text(
        catalog.read_text().replace(
            "  // Fine: a fixed list",
            f"  seed({params}): void {{\n"
            f'    this.ctx.storage.sql.exec("INSERT INTO tags (sku, tag) VALUES {values}", {args});\n'
            "  }\n\n  // Fine: a fixed list",
        )
    )
    findings, _ = run(RULE, root)
    count = [f for f in findings if f.message_id == "too-many"]
    assert len(count) == 1 and count[0].data["count"] == 102


def test_examples_report_nothing() -> None:
    check_examples(RULE)


BOUNDED = """import { DurableObject } from "cloudflare:workers";
const BATCH = 100;
export class Purge extends DurableObject {
  drain() {
    let tags = this.ctx.storage.sql.exec<{ tag: string }>(`SELECT tag FROM pending LIMIT ${BATCH}`).toArray();
    while (tags.length > 0) {
      this.ctx.storage.sql.exec(`DELETE FROM pending WHERE tag IN (${tags.map(() => "?").join(",")})`, ...tags.map((t) => t.tag));
      tags = this.ctx.storage.sql.exec<{ tag: string }>(`SELECT tag FROM pending LIMIT ${BATCH}`).toArray();
      if (tags.length < BATCH) tags = [];
    }
  }
  lookup(ids: string[]) {
    const first = ids.slice(0, 50);
    this.ctx.storage.sql.exec(`SELECT * FROM pending WHERE tag IN (${first.map(() => "?").join(",")})`, ...first);
    return this.ctx.storage.sql.exec(`SELECT * FROM pending WHERE tag IN (${ids.map(() => "?").join(",")})`, ...ids);
  }
}
"""


def test_arrays_bounded_to_100_elements_are_not_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "purge.ts").write_text(BOUNDED)
    findings, _ = run(RULE, tmp_path)
    # rows of a LIMIT 100 query and a slice of 50 fit; the caller's `ids` may not
    assert [f.data["array"] for f in findings] == ["ids"]
