"""The cold check in parts (server/check_run.py `split`, analyzers.parallel.PartPool): groups of
Worker projects that share nothing (analyzers.split) parsed, modelled and checked in separate
forked processes give the report one process gives, and a part whose worker dies costs only
what it costs in one process (a file that crashes, hangs or runs over the budget in a part's
worker: tests/test_speed_parallel.py, its faults run both ways).

The workers are real forked processes and the faults are real (SIGKILL, a sleep or a loop with
no progress), set off in a worker only, by wrapping a function in this process before the fork
(the workers inherit the wrapper)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from durable_harden.analyzers import parallel
from durable_harden.analyzers.findings import Finding
from durable_harden.server import check_run
from durable_harden.server.check_run import CheckRun, Overrides, run_check
from durable_harden.server.cli import main
from durable_harden.server.output import (
    render_github,
    render_json,
    render_sarif,
    render_statistics,
    render_text,
)
from tests.conftest import EXAMPLES, generate_monorepo
from tests.test_speed_parallel import (
    CRAFTED,
    _counting_parts,
    _project_with_crafted_file,
    _same_findings,
)

# the workers are forks, which parallel.can_fork allows on Linux only: elsewhere every check is
# one process and these tests would have nothing to exercise (CI runs on Linux: none skipped)
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the worker processes run only where parallel.can_fork() holds (Linux)",
)


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers even on a one-core runner, and never the load average's veto."""
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    monkeypatch.setattr(parallel, "load_average", lambda: 0.0)
    monkeypatch.delenv(parallel.JOBS_ENV, raising=False)


def _check(root: Path, jobs: int, split: bool = True) -> CheckRun:
    return run_check([root], Overrides(), jobs=jobs, prebuild_fixes=jobs > 1, split=split)


def _reports(run: CheckRun) -> tuple[str, ...]:
    return (
        render_text(
            run.findings,
            run.model,  # type: ignore[arg-type]
            run.problems,
            checked=(len(run.files), run.projects),
            show_fixes=True,
        ),
        render_json(run.findings, run.model, run.problems),  # type: ignore[arg-type]
        render_sarif(run.findings, run.model, run.problems),  # type: ignore[arg-type]
        render_github(run.findings, run.model, run.problems),  # type: ignore[arg-type]
        render_statistics(run.findings, run.model, True),  # type: ignore[arg-type]
    )


def _key(findings: list[Finding]) -> list[tuple[object, ...]]:
    return [(f.rule_id, f.path, f.span, f.message, f.severity, f.data) for f in findings]


@pytest.mark.parametrize("name", ["examples", "monorepo"])
def test_parts_find_and_fix_exactly_what_one_process_does(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / name
    if name == "examples":
        shutil.copytree(EXAMPLES, root)
        (root / "notes.ts").write_text("export const loose = 1;\n")  # a file under no config
        (root / "broken.wrangler.toml").write_text("not = [toml\n")
    else:
        generate_monorepo(root, 120)
    alone = _check(root, 1)
    started = _counting_parts(monkeypatch)
    parts = _check(root, 2)
    assert len(started) == 1 and started[0] >= 2, "the check did not run in parts"
    assert isinstance(parts.model, check_run.ReportModel)
    assert len(alone.findings) > 10
    assert _key(parts.findings) == _key(alone.findings)
    assert parts.problems == alone.problems
    assert (parts.files, parts.projects) == (alone.files, alone.projects)
    # the report's fixes were built in the workers, with the findings' own models
    assert len(parts.model.memo[parallel.PREBUILT]) == len(parts.findings)
    assert _reports(parts) == _reports(alone)


def test_a_worker_that_takes_a_second_part_answers_it_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More parts than workers (PARTS_PER_WORKER > 1): a worker answers a part, stays, takes
    the next one, and leaves after its last."""
    generate_monorepo(tmp_path / "p", 150)  # three projects
    alone = _check(tmp_path / "p", 1)
    monkeypatch.setattr(check_run, "PARTS_PER_WORKER", 2)
    monkeypatch.setattr(check_run, "SPLIT_MAX_SHARE", 1.0)
    started = _counting_parts(monkeypatch)
    parts = _check(tmp_path / "p", 2)
    assert started == [3]
    assert _key(parts.findings) == _key(alone.findings)
    assert _reports(parts) == _reports(alone)


def test_the_command_line_report_is_the_same_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_monorepo(tmp_path / "p", 60)
    monkeypatch.setenv("DURABLE_HARDEN_NO_CACHE", "1")
    started = _counting_parts(monkeypatch)
    for output in ("text", "json", "sarif", "github"):
        code = main(["check", str(tmp_path / "p"), "--output-format", output, "--jobs", "1"])
        alone = capsys.readouterr()
        assert started == []
        assert (
            main(["check", str(tmp_path / "p"), "--output-format", output, "--jobs", "2"]) == code
        )
        assert started == [2]
        assert capsys.readouterr() == alone
        started.clear()


def test_add_ignore_and_fix_write_from_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--add-ignore and --fix write through the model's trees: their analysis is never split;
    the report after --fix (a fresh analysis of the fixed files) may be."""
    generate_monorepo(tmp_path / "p", 40)
    monkeypatch.setenv("DURABLE_HARDEN_NO_CACHE", "1")
    started = _counting_parts(monkeypatch)
    main(["check", str(tmp_path / "p"), "--add-ignore", "--jobs", "2"])
    assert started == []
    assert main(["check", str(tmp_path / "p"), "--jobs", "2"]) == 0  # all suppressed now
    assert started == [2]
    started.clear()
    generate_monorepo(tmp_path / "q", 40)
    before = {p: p.read_bytes() for p in (tmp_path / "q").rglob("*.ts")}
    main(["check", str(tmp_path / "q"), "--fix", "--jobs", "2"])
    assert any(p.read_bytes() != data for p, data in before.items())  # something was fixed
    assert started == [2]  # the report after the fixes only


def test_small_or_lopsided_projects_stay_in_one_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _counting_parts(monkeypatch)
    generate_monorepo(tmp_path / "small", 40)
    run = _check(tmp_path / "small", 0)  # auto: below SPLIT_MIN_FILES
    assert started == [] and not isinstance(run.model, check_run.ReportModel)
    # one project only: nothing to split, whatever was asked
    shutil.copytree(EXAMPLES / "game-lobby", tmp_path / "one")
    run = _check(tmp_path / "one", 2)
    assert started == [] and not isinstance(run.model, check_run.ReportModel)
    # asked for, on a project of two parts: split
    _check(tmp_path / "small", 2)
    assert started == [2]


def test_groups_are_dealt_biggest_first_to_the_lightest_worker() -> None:
    from durable_harden.analyzers.split import Group

    groups = [Group([Path(f"/{n}")], [], size) for n, size in enumerate([5, 40, 30, 20, 10])]
    bins = check_run._bins(groups, 2)
    assert [[g.size for g in b] for b in bins] == [[40, 10, 5], [30, 20]]
    assert check_run._bins(groups[:1], 2) == [[groups[0]]]  # an empty worker is no worker


def test_a_part_whose_worker_dies_outside_any_file_is_checked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _project_with_crafted_file(tmp_path)
    alone = _check(root, 1)
    parent = os.getpid()
    real = check_run._check_part
    checked_here: list[int] = []

    def part(part, skip):  # type: ignore[no-untyped-def]
        if os.getpid() != parent and any(p.name == CRAFTED for p in part.sources):
            os.kill(os.getpid(), signal.SIGKILL)  # before parsing any file
        if os.getpid() == parent:
            checked_here.append(len(part.sources))
        return real(part, skip)

    monkeypatch.setattr(check_run, "_check_part", part)
    started = _counting_parts(monkeypatch, lost=True)
    run = _check(root, 2)
    assert started == [2]
    assert len(checked_here) == 1  # the lost part, checked in this process
    assert run.problems == alone.problems
    _same_findings(run.findings, alone.findings)


def _cases() -> dict[str, dict[str, object]]:
    from tests.test_split_groups import CASES

    return CASES  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", sorted(_cases()))
def test_every_cross_project_look_up_gives_the_one_model_report(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_split_groups.py's trees, one per look-up that crosses projects, through the
    whole check: in parts (when the plan splits them) as in one process."""
    from tests.test_split_groups import _tree

    root = _tree(tmp_path / case, _cases()[case])  # type: ignore[arg-type]
    alone = _check(root, 1)
    started = _counting_parts(monkeypatch)
    parts = _check(root, 2)
    assert _key(parts.findings) == _key(alone.findings)
    assert parts.problems == alone.problems
    assert _reports(parts) == _reports(alone)
    if case == "hint":
        # the plan splits the two projects; the hint then differs in the part without the
        # class, so the check is done again in one model
        assert started == [2] and not isinstance(parts.model, check_run.ReportModel)
        assert any(f.message.endswith("Did you mean `ChatRoom`?") for f in parts.findings)
