"""Fixed and per-walk costs of the cold check (issue 14, docs/performance.md "Issue 14: fixed
costs (session 7)"). `walk_type(node, ..., file=f)` trusts the caller that `node` lies in `f`'s
tree (no search for the tree): every caller that names its file is checked here against the
search it skips, on the examples, the rule fixtures and a generated monorepo, findings and fixes
alike. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from durable_harden.analyzers import tsutil
from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.source import parse_source
from tests.conftest import EXAMPLES, ROOT, generate_monorepo

FIXTURES = ROOT / "tests" / "fixtures"


def test_a_node_named_with_another_file_is_caught() -> None:
    """The check the tests below rely on fails when a caller names the wrong file."""
    one = parse_source(Path("a.ts"), b"class A { f() { g(); } }\n")
    other = parse_source(Path("b.ts"), b"class A { f() { g(); } }\n")
    method = next(tsutil.walk_type(one.root, "method_definition"))
    assert [n.type for n in tsutil.walk_type(method, "call_expression", file=one)] == [
        "call_expression"
    ]
    tsutil._CHECK_FILE = True
    try:
        with pytest.raises(AssertionError):
            list(tsutil.walk_type(method, "call_expression", file=other))
        assert len(list(tsutil.walk_type(method, "call_expression", file=one))) == 1
    finally:
        tsutil._CHECK_FILE = False


def test_every_file_named_to_walk_type_holds_its_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable_harden.codeactions import fixes_for

    monkeypatch.setattr(tsutil, "_CHECK_FILE", True)
    checked: list[int] = []
    search = tsutil._root_of

    def counted(node):  # type: ignore[no-untyped-def]
        caller = sys._getframe(1)
        if caller.f_code.co_name == "walk_type" and caller.f_locals.get("file") is not None:
            checked.append(1)  # a walk naming its file
        return search(node)

    monkeypatch.setattr(tsutil, "_root_of", counted)
    generate_monorepo(tmp_path / "mono", 60)
    folders = [tmp_path / "mono", EXAMPLES, *sorted(p for p in FIXTURES.iterdir() if p.is_dir())]
    findings = 0
    for folder in folders:
        result = analyze_paths([folder], Settings())
        for finding in result.findings:
            findings += 1
            list(fixes_for(finding, result.model))  # type: ignore[arg-type]
    assert findings > 100
    assert len(checked) > 500, len(checked)  # ~1,100 walks naming their file
