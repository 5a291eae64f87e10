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


def test_a_watched_workspace_stats_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the client watches the files (`Engine.watched`), a closed file's stat is trusted
    between full passes DISK_RECHECK_S apart: the files its events name (`disk_changed`) and
    the files closed in the editor (`forget_open`) are read again at once, the others at the
    next full pass. After each, the open file's findings are a fresh analysis's (a closed
    schema file adds the index that store.ts's query lacks)."""
    from durable_harden.server.lsp import engine as engine_module
    from tests.test_speed_incremental import SPLICE_SCHEMA, Session, splice_project

    root = splice_project(tmp_path)
    store, schema = root / "src" / "store.ts", root / "src" / "schema.ts"
    s = Session(root, [store])
    s.engine.watched = True
    clock = [1000.0]
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: clock[0])
    stats: list[Path] = []
    real = s.engine.parse_disk
    monkeypatch.setattr(s.engine, "parse_disk", lambda path: (stats.append(path), real(path))[1])

    s.compare("opening")  # the first pass stats every closed file
    assert schema in stats
    stats.clear()
    clock[0] += 0.5
    s.compare("a keystroke")
    assert stats == []  # no closed file stat'ed within the pass

    indexed = SPLICE_SCHEMA.replace(
        "at INTEGER)`", "at INTEGER); CREATE INDEX IF NOT EXISTS by_owner ON items(owner)`"
    )
    s.write(schema, indexed.encode())
    s.engine.disk_changed([schema])  # the client's watcher event
    clock[0] += 0.5
    s.compare("the schema changed, with an event")
    assert stats == [schema]

    stats.clear()
    s.write(schema, SPLICE_SCHEMA.encode())  # no event this time (a dropped one)
    clock[0] += engine_module.DISK_RECHECK_S
    s.compare("the schema changed back, found by the next full pass")
    assert schema in stats

    stats.clear()
    clock[0] += 0.5
    s.engine.forget_open(schema)  # closed in the editor: the disk's text counts from now on
    s.compare("a file closed")
    assert stats == [schema]


def test_an_unwatched_workspace_stats_every_closed_file_each_time(tmp_path: Path) -> None:
    from tests.test_speed_incremental import SPLICE_SCHEMA, Session, splice_project

    root = splice_project(tmp_path)
    store, schema = root / "src" / "store.ts", root / "src" / "schema.ts"
    s = Session(root, [store])
    s.compare("opening")
    s.write(
        schema,
        SPLICE_SCHEMA.replace(
            "at INTEGER)`", "at INTEGER); CREATE INDEX IF NOT EXISTS by_owner ON items(owner)`"
        ).encode(),
    )
    s.compare("the schema changed, no watcher")  # seen at once (Session compares)


def test_the_paths_said_to_have_changed_are_bounded() -> None:
    """Events for paths no analysis reads (configs, settings files, files of no project) stay
    in the set until it is over its bound: then it is emptied and every root's next analysis
    stats all its files (nothing said to have changed is lost)."""
    from durable_harden.server.lsp import engine as engine_module

    engine = Engine()
    engine.watched = True
    engine.disk_checked[Path("/some/root")] = 1.0
    bound = engine_module._DIRTY_KEPT
    engine.disk_changed([Path(f"/elsewhere/{n}.json") for n in range(bound // 2)])
    assert len(engine.disk_dirty) == bound // 2 and engine.disk_checked
    engine.disk_changed([Path(f"/elsewhere/more-{n}.json") for n in range(bound)])
    assert not engine.disk_dirty and not engine.disk_checked  # a full pass next, everywhere
