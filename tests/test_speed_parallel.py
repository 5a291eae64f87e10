"""The parallel cold check (analyzers.parallel): the same findings and fixes as one process, and
a worker that crashes, hangs or runs over the per-file budget costs only its file (or its task).

The workers are real forked processes; the faults are real too (SIGKILL, a sleep with no
progress), set off in the worker only, on one crafted file, by wrapping `rule_findings` in this
process before the fork (the workers inherit the wrapper)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_harden.analyzers import parallel, rule_run
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.tsutil import walk_type
from durable_harden.server.check_run import CheckRun, Overrides, run_check
from durable_harden.server.cli import main
from durable_harden.server.output import render_json, render_text
from tests.conftest import EXAMPLES, generate_monorepo

# the workers are forks, which parallel.can_fork allows on Linux only: elsewhere every check is
# one process and these tests would have nothing to exercise (CI runs on Linux: none skipped)
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the worker processes run only where parallel.can_fork() holds (Linux)",
)

CRAFTED = "crafted.ts"


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers even on a one-core runner (the pool never uses more workers than cores)."""
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    monkeypatch.setattr(parallel, "load_average", lambda: 0.0)  # an idle machine
    monkeypatch.delenv(parallel.JOBS_ENV, raising=False)


def _check(root: Path, jobs: int, split: bool = False) -> CheckRun:
    """split: the CLI's reporting run, which may check the project in parts
    (tests/test_speed_parts.py); else the rules run in the rule pool."""
    return run_check([root], Overrides(), jobs=jobs, prebuild_fixes=jobs > 1, split=split)


def _reports(run: CheckRun) -> tuple[str, str]:
    return (
        render_text(run.findings, run.model, run.problems, checked=(len(run.files), run.projects)),
        render_json(run.findings, run.model, run.problems),
    )


def _counting_pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The workers started (the rule pool's, and the parts' of a CLI check: tests/
    test_speed_parts.py)."""
    started: list[int] = []
    real = parallel.WorkerPool._start

    def start(self: parallel.WorkerPool, slot: int) -> object:
        started.append(slot)
        return real(self, slot)

    monkeypatch.setattr(parallel.WorkerPool, "_start", start)
    return started


def _counting_parts(monkeypatch: pytest.MonkeyPatch, lost: bool = False) -> list[int]:
    """The parts each PartPool was given (one entry per pool). lost: whether a part may come
    back lost (checked again in this process); by default that fails the test, so that a
    worker that cannot do its part is not hidden by the parent doing it."""
    started: list[int] = []
    real = parallel.PartPool.run_parts

    def run_parts(self: parallel.PartPool, payloads: list[tuple[int, object]]) -> object:
        started.append(len(payloads))
        answers = real(self, payloads)
        failed = [a.what for a in answers.values() if isinstance(a, parallel.LostPart)]
        assert lost or not failed, failed
        return answers

    monkeypatch.setattr(parallel.PartPool, "run_parts", run_parts)
    return started


@pytest.mark.parametrize("name", ["examples", "monorepo"])
def test_workers_find_and_fix_exactly_what_one_process_does(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / name
    if name == "examples":
        shutil.copytree(EXAMPLES, root)
    else:
        generate_monorepo(root, 120)
    alone = _check(root, 1)
    started = _counting_pools(monkeypatch)
    pooled = _check(root, 2)
    assert started, "the check ran in one process: nothing was compared"
    assert len(alone.findings) > 10
    assert [
        (f.rule_id, f.path, f.span, f.message, f.severity, f.data) for f in pooled.findings
    ] == [(f.rule_id, f.path, f.span, f.message, f.severity, f.data) for f in alone.findings]
    assert pooled.problems == alone.problems
    # the report's fixes come from the workers (prebuilt), and read the same
    assert len(pooled.model.memo[parallel.PREBUILT]) == len(pooled.findings)
    assert _reports(pooled) == _reports(alone)


def test_small_projects_stay_in_one_process_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_monorepo(tmp_path / "small", 20)
    started = _counting_pools(monkeypatch)
    _check(tmp_path / "small", 0)  # auto: below MIN_FILES
    assert started == []
    assert parallel.jobs_for(0, parallel.MIN_FILES) == 2
    assert parallel.jobs_for(0, parallel.MIN_FILES - 1) == 1
    assert parallel.jobs_for(8, 10) == 2  # never more workers than cores
    assert parallel.jobs_for(1, 10_000) == 1
    monkeypatch.setattr(parallel, "load_average", lambda: 2.5)  # no core free: one process
    assert parallel.jobs_for(0, 10_000) == 1
    assert parallel.jobs_for(2, 10_000) == 2  # unless asked


def _project_with_crafted_file(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    generate_monorepo(root, 40)
    crafted = next(root.glob("packages/*/src")) / CRAFTED
    crafted.write_text("export const crafted = 1;\n")
    return root, crafted


def _fault_in_worker(
    monkeypatch: pytest.MonkeyPatch, rule_id: str, fault: Callable[[object, Path], None]
) -> None:
    """Wrap rule_findings: in a worker, while the crafted file is in the model, `rule_id` first
    walks that file (so the worker is busy with it) and then meets `fault`."""
    parent = os.getpid()
    real = rule_run.rule_findings

    def wrapped(model, rule):  # type: ignore[no-untyped-def]
        crafted = next((f for f in model.files if f.path.name == CRAFTED), None)
        if os.getpid() != parent and rule.id == rule_id and crafted is not None:
            fault(crafted, crafted.path)
        return real(model, rule)

    monkeypatch.setattr(rule_run, "rule_findings", wrapped)


def _without_crafted(root: Path, crafted: Path) -> CheckRun:
    saved = crafted.read_bytes()
    crafted.unlink()
    try:
        return _check(root, 1)
    finally:
        crafted.write_bytes(saved)


def _same_findings(a: list[Finding], b: list[Finding]) -> None:
    assert [(f.rule_id, f.path, f.span, f.message) for f in a] == [
        (f.rule_id, f.path, f.span, f.message) for f in b
    ]


# Each fault with the rules in workers ("rules") and with the project checked in parts
# ("parts": two Worker projects, one per worker).
WAYS = ["rules", "parts"]


@pytest.mark.parametrize("way", WAYS)
def test_a_file_that_crashes_its_worker_is_skipped_and_the_rest_is_reported(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, crafted = _project_with_crafted_file(tmp_path)
    expected = _without_crafted(root, crafted)

    def crash(file, path):  # type: ignore[no-untyped-def]
        list(walk_type(file.root, "lexical_declaration"))
        os.kill(os.getpid(), signal.SIGKILL)

    _fault_in_worker(monkeypatch, "timer-blocks-hibernation", crash)
    started = _counting_parts(monkeypatch)
    run = _check(root, 2, split=way == "parts")
    # parts: the crashed part again, without the file; the other part's answer kept
    assert started == ([2, 1] if way == "parts" else [])
    skipped = [p for p in run.problems if p.path == crafted]
    assert len(skipped) == 1
    assert skipped[0].message.startswith("skipped: analysing this file crashed a worker process")
    assert "signal 9" in skipped[0].message
    assert expected.findings and not [p for p in run.problems if p.path != crafted]
    _same_findings(run.findings, expected.findings)  # every other file's findings survive


def test_the_other_part_is_kept_when_a_file_crashes_its_worker_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The part without the crafted file is still being checked (its first rule waits half a
    second) when the other worker crashes: it is let finish and its answer kept, only the
    crashed part is checked again (a loaded machine made this order by chance, and the
    finished work was thrown away)."""
    root, crafted = _project_with_crafted_file(tmp_path)
    expected = _without_crafted(root, crafted)
    parent = os.getpid()
    real = rule_run.rule_findings
    slowed: list[bool] = []

    def wrapped(model, rule):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            crafted_file = next((f for f in model.files if f.path.name == CRAFTED), None)
            if crafted_file is not None and rule.id == "timer-blocks-hibernation":
                list(walk_type(crafted_file.root, "lexical_declaration"))
                os.kill(os.getpid(), signal.SIGKILL)
            if crafted_file is None and not slowed:
                slowed.append(True)  # (this worker's own copy of the list)
                time.sleep(0.5)
        return real(model, rule)

    monkeypatch.setattr(rule_run, "rule_findings", wrapped)
    started = _counting_parts(monkeypatch)
    run = _check(root, 2, split=True)
    assert started == [2, 1]
    assert [p.path for p in run.problems] == [crafted]
    _same_findings(run.findings, expected.findings)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("how", ["blocked", "spinning"])
def test_a_file_that_hangs_its_worker_is_skipped_after_the_budget(
    how: str, way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, crafted = _project_with_crafted_file(tmp_path)
    expected = _without_crafted(root, crafted)

    def hang(file, path):  # type: ignore[no-untyped-def]
        list(walk_type(file.root, "lexical_declaration"))
        # no walk, no charge: no cooperative check can see either
        if how == "blocked":
            time.sleep(600)  # stopped after 3x the budget of wall time without progress
        while True:  # stopped after the budget of CPU time without progress
            pass

    _fault_in_worker(monkeypatch, "sql-missing-index", hang)
    monkeypatch.setenv("DURABLE_HARDEN_FILE_BUDGET", "2")
    start = time.monotonic()
    run = _check(root, 2, split=way == "parts")
    assert time.monotonic() - start < 300  # the hung worker was stopped, not waited for
    skipped = [p for p in run.problems if p.path == crafted]
    assert len(skipped) == 1 and "stalled a worker process" in skipped[0].message
    assert "no progress within the 2 s budget" in skipped[0].message
    _same_findings(run.findings, expected.findings)


@pytest.mark.parametrize("way", WAYS)
def test_a_worker_over_the_per_file_budget_skips_the_file_as_one_process_does(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, crafted = _project_with_crafted_file(tmp_path)
    expected = _without_crafted(root, crafted)

    def slow(file, path):  # type: ignore[no-untyped-def]
        for _ in range(40):  # progress all along (no stall), but 2 s on one file
            list(walk_type(file.root, "lexical_declaration"))
            time.sleep(0.05)

    _fault_in_worker(monkeypatch, "unawaited-rpc", slow)
    monkeypatch.setenv("DURABLE_HARDEN_FILE_BUDGET", "1")
    started = _counting_parts(monkeypatch)
    run = _check(root, 2, split=way == "parts")
    # parts: skipped inside the worker, as one process skips it (no part run again)
    assert started == ([2] if way == "parts" else [])
    skipped = [p for p in run.problems if p.path == crafted]
    assert len(skipped) == 1
    assert skipped[0].message.startswith("skipped: analysing this file took longer than the 1 s")
    _same_findings(run.findings, expected.findings)


def test_a_worker_that_dies_outside_any_file_costs_only_its_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = _project_with_crafted_file(tmp_path)
    alone = _check(root, 1)
    counts = Counter(f.rule_id for f in alone.findings)
    victim = counts.most_common(1)[0][0]  # a rule with findings to lose
    parent = os.getpid()
    real = rule_run.rule_findings

    def wrapped(model, rule):  # type: ignore[no-untyped-def]
        if os.getpid() != parent and rule.id == victim:
            os.kill(os.getpid(), signal.SIGKILL)  # before walking any file
        return real(model, rule)

    monkeypatch.setattr(rule_run, "rule_findings", wrapped)
    run = _check(root, 2)
    assert [p.message for p in run.problems] == [
        f"internal error in rule {victim}: its worker process was killed by signal 9"
    ]
    # every other rule's findings are all there
    _same_findings(run.findings, [f for f in alone.findings if f.rule_id != victim])


def test_jobs_flag_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_monorepo(tmp_path / "p", 12)
    monkeypatch.setenv("DURABLE_HARDEN_NO_CACHE", "1")
    assert main(["check", str(tmp_path / "p"), "--jobs", "many"]) == 2
    assert "--jobs: `many` is not a number of processes" in capsys.readouterr().err
    monkeypatch.setenv(parallel.JOBS_ENV, "-3")
    assert main(["check", str(tmp_path / "p")]) == 2
    assert "DURABLE_HARDEN_JOBS: `-3`" in capsys.readouterr().err
    started = _counting_pools(monkeypatch)
    monkeypatch.setenv(parallel.JOBS_ENV, "2")
    code = main(["check", str(tmp_path / "p"), "--output-format", "json"])
    pooled = capsys.readouterr().out
    assert started  # the environment asked for workers on a small project
    started.clear()
    assert main(["check", str(tmp_path / "p"), "--output-format", "json", "--jobs", "1"]) == code
    assert capsys.readouterr().out == pooled and started == []  # the flag wins


@pytest.mark.parametrize("way", WAYS)
def test_files_a_rule_reads_in_a_worker_key_the_on_disk_cache(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache's entry lists every file the analysis read (an audit hook): a file only a
    worker reads (a rule's, or a part's) must be in it, or editing it would replay a stale
    report."""
    from durable_harden.server import check_cache

    root, crafted = _project_with_crafted_file(tmp_path)
    notes = root / "notes.txt"
    notes.write_text("read by a rule only\n")
    parent = os.getpid()
    real = rule_run.rule_findings
    read_in_parent: list[bool] = []

    def wrapped(model, rule):  # type: ignore[no-untyped-def]
        if rule.id == "unawaited-rpc":
            notes.read_bytes()  # as rollout-unsafe reads scripts and package.json
            read_in_parent.append(os.getpid() == parent)  # (a worker appends to its copy)
        return real(model, rule)

    monkeypatch.setattr(rule_run, "rule_findings", wrapped)
    if way == "parts":
        started = _counting_parts(monkeypatch)
    else:
        started = _counting_pools(monkeypatch)
    with check_cache.recording() as recorder:
        _check(root, 2, split=way == "parts")
    if way == "parts":
        assert started == [2]  # the two parts, one pool
    else:
        assert started  # the rule pool's workers
    assert read_in_parent == []  # read in the workers only
    assert str(notes) in recorder.files and str(crafted) in recorder.files


def test_a_heartbeat_is_never_read_half_written() -> None:
    # the parent reads a worker's heartbeat while the worker writes it: a reader must see the
    # old beat or the new one, never the zeros struct.pack_into writes first (it did, ~1% of
    # reads, with two cores); a forked reader counts what it sees during a second of beats
    import mmap

    beats = mmap.mmap(-1, parallel._BEAT.size)
    parallel._write_beat(beats, 0, 1.0, 1)
    reader_end, writer_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reader
        os.close(reader_end)
        seen = torn = 0
        stop = time.monotonic() + 1.0
        while time.monotonic() < stop:
            for _ in range(1000):
                when, number = parallel._BEAT.unpack_from(beats, 0)
                seen += 1
                torn += when == 0.0 or number == 0
        os.write(writer_end, f"{seen} {torn}".encode())
        os._exit(0)
    os.close(writer_end)
    stop = time.monotonic() + 1.1
    number = 1
    while time.monotonic() < stop:
        for _ in range(1000):
            number += 1
            parallel._write_beat(beats, 0, 5.0, number)
    os.waitpid(pid, 0)
    seen, torn = map(int, os.read(reader_end, 100).split())
    os.close(reader_end)
    assert seen > 10_000 and torn == 0
