"""kv-unbounded-list: unbounded list(), batches over 128 keys, awaited get() in a loop."""

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
    tsc,
)

RULE = "kv-unbounded-list"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_unbounded_list_large_batches_and_gets_in_loops_are_flagged(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = sorted(f.data["kind"] for f in findings)
    assert kinds == ["batch", *["get-in-loop"] * 4, "list", "list"]
    batch = next(f for f in findings if f.data["kind"] == "batch")
    assert batch.data["size"] == 500


def test_fix_batches_only_the_simple_loop(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    findings, model = run(RULE, root)
    fixable = [f for f in findings if fixes_for(f, model)]
    # `get(\`item:${sku}\`)` (a derived key), the loop that awaits convert(), the while loop,
    # list() and the oversized delete are reported only
    assert len(fixable) == 1
    (fix,) = fixes_for(fixable[0], model)
    assert fix.is_safe
    assert fix_all(RULE, root) == 1
    cart = (root / "src" / "cart.ts").read_text()
    expect_file(cart, FIXTURES / RULE / "after" / "src" / "cart.ts")
    assert_settled(RULE, root, unsafe=True)


def test_no_fix_when_the_body_writes_storage_or_keys_are_not_an_array(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    cart = root / "src" / "cart.ts"
    text = cart.read_text()
    writes = text.replace(
        "      result[key] = item?.qty ?? 0;\n",
        "      result[key] = item?.qty ?? 0;\n      this.ctx.storage.put(`seen:${key}`, true);\n",
    )
    cart.write_text(writes)
    findings, model = run(RULE, root)
    assert not any(fixes_for(f, model) for f in findings)
    iterable = text.replace(
        "async quantities(keys: string[])", "async quantities(keys: Iterable<string>)"
    )
    cart.write_text(iterable)
    findings, model = run(RULE, root)
    assert not any(fixes_for(f, model) for f in findings)


def test_tabs_and_names_already_taken(tmp_path: Path) -> None:
    root = copy_case(RULE, "before", tmp_path)
    cart = root / "src" / "cart.ts"
    text = cart.read_text().replace(
        "    const result:", "    const batchKeys = 0;\n    const result:"
    )
    cart.write_text(text.replace("  ", "\t"))
    fix_all(RULE, root)
    fixed = cart.read_text()
    assert "\t\tconst batchKeys2 = keys.slice(batchStart, batchStart + 128);\n" in fixed
    assert "\t\t\t\tresult[key] = item?.qty ?? 0;\n" in fixed
    assert tsc(root) == ""


def test_examples_report_nothing() -> None:
    check_examples(RULE)
