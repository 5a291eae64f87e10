"""unawaited-rpc: stub calls whose promise is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import (
    fix_all,
    fixture,
    flagged,
    line_of,
    marked,
    no_new_syntax_errors,
    run,
    snapshot,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "unawaited-rpc"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_dropped_stub_calls_are_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    findings, _ = run(RULE, root)
    # not: `void stub.remove()`, `ctx.waitUntil(stub.remove())`, awaited and `using` calls
    assert sorted((line_of(f), f.data["method"], f.data["async"]) for f in findings) == [
        (39, "count", False),  # in a helper that is not async
        (46, "remove", True),
    ]


def test_fix_awaits_inside_async_functions_only(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    before = snapshot(root)
    findings, model = run(RULE, root)
    sync = next(f for f in findings if not f.data["async"])
    assert fixes_for(sync, model) == []
    # awaiting changes when the caller continues and where errors go: unsafe, never applied
    # by a safe fix-all
    assert fix_all(RULE, root) == 0
    assert fix_all(RULE, root, unsafe=True) == 1
    assert fix_all(RULE, root, unsafe=True) == 0
    no_new_syntax_errors(before, root)
    text = (root / "src" / "index.ts").read_text()
    assert '    await stub.remove("ghost"); // flagged\n' in text
    assert "  env.ROOMS.getByName(room).count(); // flagged\n" in text


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)
