"""The language server's engine analyses through analyse_within_budget, as `check` does: the
per-file time budget (a file over it is skipped, the rest analysed) and the SQL caches sized to
the workspace apply to every live analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers import analysis, sql
from durable_harden.analyzers.analysis import Settings
from durable_harden.analyzers.budget import OverBudget
from durable_harden.server.lsp.engine import Engine, OpenInput
from tests.conftest import EXAMPLES


def _inputs(paths: list[Path]) -> dict[Path, OpenInput]:
    return {p: OpenInput(p, 1, p.read_bytes(), "source", Settings(), None) for p in paths}


def test_the_engine_keeps_the_per_file_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    root = EXAMPLES / "rate-limiter"
    slow = root / "src" / "export-job.ts"
    other = root / "src" / "session-store.ts"
    plain = Engine().analyze(root, _inputs([slow, other]))
    assert plain.findings[slow] and plain.findings[other]

    real = analysis.build_model
    attempts: list[list[Path]] = []

    def over_budget_on_slow(root, sources, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(list(sources))
        if slow in sources:  # as if walking it went over the budget
            raise OverBudget(slow, 1.0)
        return real(root, sources, *args, **kwargs)

    sized: list[int] = []
    monkeypatch.setattr(analysis, "build_model", over_budget_on_slow)
    real_fit = sql.fit_to_project
    monkeypatch.setattr(sql, "fit_to_project", lambda n, c=None: (sized.append(n), real_fit(n, c)))
    result = Engine().analyze(root, _inputs([slow, other]))

    assert len(attempts) == 2 and slow not in attempts[1]  # analysed again without it
    assert sized and sized[0] == len(attempts[0])  # the SQL caches follow the workspace
    skipped = [p for p in result.problems if p.path == slow]
    assert len(skipped) == 1 and "skipped: analysing this file took longer than the 1 s" in (
        skipped[0].message
    )
    assert result.findings[slow] == []
    # the other file's findings are those of the project without the skipped file
    assert [f.rule_id for f in result.findings[other]] and all(
        f.path == other for f in result.findings[other]
    )
