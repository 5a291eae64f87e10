"""rpc-result-not-disposed: results holding stubs kept without `using`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules._config_support import fix_all, fixture, flagged, line_of, marked, run
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "rpc-result-not-disposed"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_results_of_rpc_target_and_function_returning_methods(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    findings, _ = run(RULE, root)
    # not: `using kept = …join()`, `await stub.count()` (a number), `stub.fetch()`
    assert sorted((line_of(f), f.data["method"]) for f in findings) == [
        (50, "join"),
        (52, "onChange"),
    ]


def test_fix_uses_using(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    # disposal at the block's end breaks a later use of the result: unsafe
    assert fix_all(RULE, root) == 0
    assert fix_all(RULE, root, unsafe=True) == 2
    assert fix_all(RULE, root, unsafe=True) == 0
    text = (root / "src" / "index.ts").read_text()
    assert 'using membership = await stub.join("ada"); // flagged' in text
    assert "using listener = await stub.onChange(); // flagged" in text


def test_flagged_lines_match_markers(tmp_path: Path) -> None:
    root = fixture(RULE, "worker", tmp_path)
    assert flagged(run(RULE, root)[0], root) == marked(root)
