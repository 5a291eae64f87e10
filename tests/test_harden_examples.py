"""Harden the real examples with the real rules and fix builders (whatever has landed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_harden.analyzers.source import language_for, parse_source
from durable_harden.codeactions.harden import harden
from durable_harden.codeactions.harden.outputs import NEEDS_RUNTIME_TEST
from durable_harden.codeactions.harden.plan import BREAKS_FILE
from durable_harden.codeactions.harden.report import render_report
from durable_harden.server.writer import render_diff, write_all

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(params=["chat-room", "rate-limiter", "game-lobby"])
def copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    target = tmp_path / request.param
    shutil.copytree(EXAMPLES / request.param, target)
    return target.resolve()


@pytest.mark.parametrize("unsafe", [False, True])
def test_harden_parses_converges_and_is_idempotent(copy: Path, unsafe: bool) -> None:
    plan = harden([copy], unsafe=unsafe)
    assert plan.converged
    assert not [lo for lo in plan.leftovers if lo.status == BREAKS_FILE], [
        lo.detail for lo in plan.leftovers
    ]
    for path, data in plan.contents.items():
        assert copy in path.parents, "writes stay inside the project"
        if language_for(path) is not None:
            assert not parse_source(path, data).error_ranges, path
    write_all(copy, {p: after for p, (_, after) in plan.changes().items()})

    again = harden([copy], unsafe=unsafe)
    assert again.applied == []
    assert not again.has_changes


def test_diff_and_report_are_stable_across_runs(copy: Path) -> None:
    first = harden([copy], unsafe=True)
    second = harden([copy], unsafe=True)
    assert render_diff(copy, first.changes()) == render_diff(copy, second.changes())
    assert render_report(first, written=False) == render_report(second, written=False)


def test_every_applied_pattern_is_documented(copy: Path) -> None:
    plan = harden([copy], unsafe=True)
    if not plan.applied:
        pytest.skip("no fix builder for this example's findings has landed yet")
    readme = next((d for p, d in plan.contents.items() if p.name == "README.md"), None)
    if not {a.rule_id for a in plan.applied} & NEEDS_RUNTIME_TEST:
        assert readme is None  # no scaffolding where no pattern needs a runtime test
        return
    assert readme is not None
    for applied in plan.applied:
        assert f"`{applied.rule_id}`" in readme.decode()
