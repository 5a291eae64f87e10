"""rpc-result-not-disposed: results holding stubs kept without `using`."""

from __future__ import annotations

from pathlib import Path

from tests.rules._config_support import fix_all, fixture, line_of, run

RULE = "rpc-result-not-disposed"
FIXTURE_RULE = "unawaited-rpc"  # one Worker serves the three RPC rules


def test_results_of_rpc_target_and_function_returning_methods(tmp_path: Path) -> None:
    root = fixture(FIXTURE_RULE, "worker", tmp_path)
    findings, _ = run(RULE, root)
    # not: `using kept = …join()`, `await stub.count()` (a number), `stub.fetch()`
    assert sorted((line_of(f), f.data["method"]) for f in findings) == [
        (50, "join"),
        (52, "onChange"),
    ]


def test_fix_uses_using(tmp_path: Path) -> None:
    root = fixture(FIXTURE_RULE, "worker", tmp_path)
    # disposal at the block's end breaks a later use of the result: unsafe
    assert fix_all(RULE, root) == 0
    assert fix_all(RULE, root, unsafe=True) == 2
    assert fix_all(RULE, root, unsafe=True) == 0
    text = (root / "src" / "index.ts").read_text()
    assert 'using membership = await stub.join("ada"); // flagged' in text
    assert "using listener = await stub.onChange(); // flagged" in text
