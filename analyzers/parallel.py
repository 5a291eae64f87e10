"""A cold `check` on every core, in one of two ways (both forks of this process: the same Python
interpreter, no other program; tree-sitter trees cannot be pickled, so no model is shipped):

**The rules** (`RulePool`): the parent parses and models the whole project, then forks workers
that inherit the model in memory and take tasks one at a time:
- a rule (its raw findings over the whole model, and the problems it adds): the parent then
  filters, de-duplicates and applies suppressions exactly as a run in one process does
  (`analysis.run_rules(..., computed=...)`), so the findings are the same;
- a chunk of the final findings, whose fixes the report needs (`fixes_for`): the fixes come back
  and the report uses them instead of building them again (`PREBUILT`).

**The parts** (`PartPool`, server/check_run.py `_check_in_parts`): when the project falls into
groups of Worker projects that no look-up of the analysis crosses (analyzers.split), the parent
reads the files' bytes only and forks workers before parsing anything; each takes a part (some
groups), parses, models and checks it as one process would check that part alone, builds its
findings' fixes, and leaves. Parsing and modelling then use both cores too.

Only findings, problems and fixes cross the pipes (plain data).

Failures stay with their file or their task:
- a rule over the per-file budget in a worker (analyzers.budget) raises OverBudget in the parent:
  the file is skipped and the project analysed again without it, as in one process (a part
  skips such a file itself, as one process does);
- every budget charge in a worker is also a heartbeat (time and file, in shared memory): a
  worker that makes no progress while it burns the budget in CPU time (a loop), or for three
  times the budget in wall time (blocked), is killed (a hang no cooperative check sees; CPU
  time because a busy machine gives a worker little of it), and a worker that dies (a crash, a signal) is noticed by its process sentinel. When
  it was walking a file, that file is skipped (`WorkerLost`) and the project (or only that part)
  analysed again without it; otherwise a rule task is reported as an internal error and a new
  worker carries on, and a part is checked again in the parent. The other tasks' results
  survive either way: before a file to skip is raised, no task is handed out any more and the
  other busy workers finish theirs (on a loaded machine the other part was often still being
  checked when one crashed, and was killed and checked again).

Used when the platform forks safely (Linux, no other thread running), the project is big enough
to pay for the processes (`MIN_FILES`, measured) and more than one job is allowed:
`--jobs N` / `DURABLE_HARDEN_JOBS=N` (1 turns it off).
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_harden.analyzers import budget as budget_module
from durable_harden.analyzers.budget import OverBudget, WorkerLost, budget_seconds
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import Problem, ProjectModel

if TYPE_CHECKING:  # multiprocessing (~5 ms to import) is loaded when workers may be used
    import mmap  # (and mmap, signal: ~0.6 ms of every one-process check)
    import multiprocessing.connection

JOBS_ENV = "DURABLE_HARDEN_JOBS"
# Below this many source files one process is as fast or faster: forking, the pipes and the
# workers' cold caches (each imports the fix builders and rebuilds the facts two rules share)
# cost what the second core saves. Measured on the generated monorepo after the cold check got
# cheaper (docs/performance.md, "Issue 14: the lead's fixed costs"): wall 371 vs 379 ms at
# 200 files (one process vs two workers), 456 vs 445 at 300, 701 vs 667 at 600, the workers
# spending ~20-25% more CPU throughout.
MIN_FILES = 300
# The fixes the report needs, built by the workers: model.memo[PREBUILT][id(finding)] =
# (finding, fixes). codeactions.fixes_for answers from it.
PREBUILT = "parallel:fixes"
_FIX_CHUNK = 16  # findings per fix task
_POLL = 0.2  # seconds between looks at the workers' heartbeats
_BEAT = struct.Struct("dq")  # per worker: time of the last charge, index of its file + 1 (0: none)


# What a worker does besides answering that the parent must know: (collect, merge) pairs.
# `collect()` runs in the worker after each task and returns picklable data (what happened since
# the last call); `merge(data)` runs in the parent. server/check_cache.py registers one so the
# files a rule reads in a worker are recorded for the on-disk cache's key like the parent's.
_CARRIED: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []


def _write_beat(beats: mmap.mmap, offset: int, when: float, number: int) -> None:
    """One heartbeat into the shared page, read meanwhile by the other process: packed aside,
    then copied in. `struct.pack_into` first zero-fills its target and then writes, so a reader
    at that instant saw time 0 and no file (measured: ~1% of reads while a worker beat in a
    loop), and a worker dying then looked as if it died outside any file."""
    beats[offset : offset + _BEAT.size] = _BEAT.pack(when, number)


def carry_back(collect: Callable[[], Any], merge: Callable[[Any], None]) -> None:
    """Register a (collect, merge) pair (see _CARRIED)."""
    _CARRIED.append((collect, merge))


def cpu_count() -> int:
    """The cores this process may use (its affinity mask where the platform has one)."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counted is not None:
        return counted() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class JobsError(ValueError):
    """A --jobs / DURABLE_HARDEN_JOBS value that is not a number of processes."""


def parse_jobs(value: str, source: str) -> int:
    """`auto` (or 0) -> 0 (decide by project size); N >= 1 -> N."""
    text = value.strip().lower()
    if text in {"", "auto", "0"}:
        return 0
    try:
        number = int(text)
    except ValueError:
        raise JobsError(f"{source}: `{value}` is not a number of processes (or `auto`)") from None
    if number < 0:
        raise JobsError(f"{source}: `{value}` is not a number of processes (or `auto`)")
    return number


def can_fork() -> bool:
    """Forking copies the model without pickling it: safe on Linux when this process runs no
    other thread (a thread holding a lock at the fork would leave it held in the child)."""
    if not sys.platform.startswith("linux"):
        return False
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def load_average() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def jobs_for(requested: int, files: int, minimum: int = MIN_FILES) -> int:
    """How many worker processes to use: `requested` (0 = auto: every core once the project
    has `minimum` source files, unless the machine is already busy: a load average at or above
    the number of cores leaves no core free, and workers then measured 0.83-1.04x the speed of
    one process), never more than there are cores, 1 when forking is unsafe."""
    if requested == 1 or (requested == 0 and files < minimum) or not can_fork():
        return 1
    cores = cpu_count()
    if requested == 0:
        if cores < 2 or load_average() >= cores:
            return 1
        return cores
    return max(1, min(requested, cores))


@dataclass
class _Worker:
    slot: int
    process: Any  # multiprocessing's forked Process
    conn: multiprocessing.connection.Connection
    task: tuple[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)
    # the last heartbeat seen, and the worker's CPU time and the parent's clock then
    beat: float = 0.0
    cpu_at_beat: float | None = None
    seen_at: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Worker processes forked from this one, answering tasks one at a time (`answer`, run in
    the worker) under the heartbeat watch described in the module's docstring. `paths`: the
    source files a heartbeat may name (a worker that dies or stalls while walking one of them
    raises WorkerLost for it). Use as a context manager: leaving it stops the workers."""

    def __init__(self, paths: list[Path], root: Path, jobs: int) -> None:
        self.root = root
        self.jobs = jobs
        self.paths = paths
        self.index = {path: number for number, path in enumerate(self.paths)}
        import mmap

        self.beats = mmap.mmap(-1, _BEAT.size * jobs)  # shared with the forked workers
        self.workers: list[_Worker | None] = [None] * jobs
        self.spent = budget_module.spent_now()  # the parent's charges, carried to the workers
        import multiprocessing

        self.context = multiprocessing.get_context("fork")
        self.frozen = False  # gc.freeze() done before the first fork
        # a worker leaves right after answering the last task it gets (PartPool) instead of
        # waiting to be stopped
        self.exit_when_done = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, kind: str, payload: Any, spent: dict[Path, float]) -> Any:
        """A task's answer (in the worker): picklable data. `spent`: the budget charges so far."""
        raise NotImplementedError

    def serving(self) -> None:
        """Set-up in a new worker before its first task (imports it will need)."""

    # -- the workers ---------------------------------------------------------------------------
    def _start(self, slot: int) -> _Worker:
        for stream in (sys.stdout, sys.stderr):  # a child must not write the parent's buffer
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        if not self.frozen:
            # the model's objects move to the permanent generation: a worker's collections then
            # never walk (and so never copy-on-write) the pages it inherited
            gc.freeze()
            self.frozen = True
        _write_beat(self.beats, slot * _BEAT.size, time.monotonic(), 0)
        mine, theirs = self.context.Pipe()
        process = self.context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(self, slot, theirs), daemon=True
        )
        process.start()
        theirs.close()
        worker = _Worker(slot, process, mine)
        self.workers[slot] = worker
        return worker

    def _stop(self, worker: _Worker, kill: bool = False) -> None:
        self.workers[worker.slot] = None
        try:
            if not kill:
                worker.conn.send(None)
        except OSError:
            kill = True
        worker.conn.close()
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

    def close(self, kill: bool = False) -> None:
        """Stop the workers (kill: at once, even those that are idle or still setting up)."""
        for worker in list(self.workers):
            if worker is not None:
                self._stop(worker, kill=kill or worker.task is not None)
        if not self.beats.closed:
            self.beats.close()
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    # -- running tasks -------------------------------------------------------------------------
    def _run(
        self,
        tasks: list[tuple[str, Any]],
        done: Callable[[tuple[str, Any], Any], None],
        lost: Callable[[tuple[str, Any], str], None],
        blame_files: bool,
    ) -> None:
        import multiprocessing.connection

        pending = deque(tasks)
        budget_module.pause()  # the parent's wait is no file's time
        limit = budget_seconds()
        # a file to skip (over its budget, or it crashed or stalled its worker): no task is
        # handed out any more, the other busy workers finish theirs (their answers stay: the
        # caller runs only the unanswered tasks again), then it is raised
        skip: OverBudget | None = None
        try:
            while True:
                for slot in range(self.jobs):
                    if not pending or skip is not None:
                        break
                    worker = self.workers[slot]
                    if worker is None:
                        if slot >= len(tasks):
                            continue  # no more workers than tasks
                        worker = self._start(slot)
                    if worker.task is None:
                        worker.task = pending.popleft()
                        _write_beat(self.beats, slot * _BEAT.size, time.monotonic(), 0)
                        # the last task a worker gets: it leaves after answering (PartPool)
                        last = self.exit_when_done and not pending
                        worker.conn.send((*worker.task, last))
                busy = [w for w in self.workers if w is not None and w.task is not None]
                if not busy:
                    if skip is not None:
                        raise skip
                    return
                waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                multiprocessing.connection.wait(waitables, timeout=_POLL)
                for worker in busy:
                    try:
                        self._collect(worker, done, lost, blame_files, limit)
                    except OverBudget as exc:  # WorkerLost too
                        if worker.task is not None and self.workers[worker.slot] is worker:
                            raise  # (not a state _collect leaves: never wait on it)
                        skip = skip or exc  # the first; another is found again by the rerun
        except BaseException:
            for worker in list(self.workers):  # Ctrl-C, a file to skip: stop every worker
                if worker is not None:
                    self._stop(worker, kill=True)
            raise

    def _stalled(self, worker: _Worker, beat_time: float, limit: float) -> bool:
        """No heartbeat while the worker burnt `limit` seconds of CPU (a loop), or for three
        times `limit` of wall time (blocked). CPU time, not wall time, for the first: on a busy
        machine (or a paused VM) a worker gets little CPU, and the wall clock alone would stop
        workers that were merely waiting for a core."""
        now = time.monotonic()
        if worker.beat != beat_time:  # progress since the last look
            worker.beat = beat_time
            worker.cpu_at_beat = _cpu_seconds(worker.process.pid)
            worker.seen_at = now
            return False
        if now - beat_time > 3 * limit and now - worker.seen_at > 3 * limit:
            return True
        if now - beat_time <= limit:
            return False
        cpu = _cpu_seconds(worker.process.pid)
        if cpu is None or worker.cpu_at_beat is None:
            return now - beat_time > limit  # no /proc: the wall clock
        return cpu - worker.cpu_at_beat > limit

    def _collect(
        self,
        worker: _Worker,
        done: Callable[[tuple[str, Any], Any], None],
        lost: Callable[[tuple[str, Any], str], None],
        blame_files: bool,
        limit: float,
    ) -> None:
        task = worker.task
        assert task is not None
        message: Any = None
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
        except (EOFError, OSError):
            message = None
        if message is not None:
            worker.task = None
            message, carried = message
            for (_, merge), data in zip(_CARRIED, carried, strict=True):
                merge(data)
            kind = message[0]
            if kind == "ok":
                done(task, message[1])
            elif kind == "over" and message[1] >= 0:
                raise OverBudget(self.paths[message[1]], message[2])
            elif kind == "over":
                lost(task, f"over the {message[2]:g} s budget outside any source file")
            else:  # "error": the task itself failed (a rule's own exception is a problem of
                lost(task, message[1])  # its answer, as in one process)
            return
        beat_time, file_number = _BEAT.unpack_from(self.beats, worker.slot * _BEAT.size)
        dead = not worker.process.is_alive()
        # a rule makes progress by walking trees (each walk a heartbeat); the fix builders run
        # without the budget, as in one process: only a rule can stall
        stalled = blame_files and not dead and self._stalled(worker, beat_time, limit)
        if not (dead or stalled):
            return
        if dead:
            worker.process.join()
            code = worker.process.exitcode
            what = (
                f"its worker process was killed by signal {-code}"
                if code is not None and code < 0
                else f"its worker process exited with status {code}"
            )
        else:
            what = (
                f"its worker process made no progress within the {limit:g} s budget and was stopped"
            )
        self._stop(worker, kill=True)
        if blame_files and file_number > 0:
            path = self.paths[file_number - 1]
            crashed = "crashed a worker process" if dead else "stalled a worker process"
            raise WorkerLost(path, limit, f"{crashed} ({what.removeprefix('its worker process ')})")
        worker.task = None
        lost(task, what)


class RulePool(WorkerPool):
    """The rules and the report's fixes over `model`, which the workers inherit (see the
    module's docstring)."""

    def __init__(self, model: ProjectModel, jobs: int, prebuild: bool = False) -> None:
        super().__init__([f.path for f in model.files], model.root, jobs)
        self.model = model
        self.prebuild = prebuild  # build each finding's fixes with it (the report shows them)

    def __enter__(self) -> RulePool:
        return self

    def serving(self) -> None:
        from durable_harden.analyzers import rule_run  # noqa: F401
        from durable_harden.analyzers.rules import rule_by_id  # noqa: F401
        from durable_harden.codeactions import fixes_for  # noqa: F401

    def answer(self, kind: str, payload: Any, spent: dict[Path, float]) -> Any:
        from durable_harden.analyzers import rule_run
        from durable_harden.analyzers.rules import rule_by_id
        from durable_harden.codeactions import fixes_for

        if kind == "rule":
            rule = rule_by_id(payload)
            assert rule is not None
            with budget_module.budget(spent):
                found, problems = rule_run.rule_findings(self.model, rule)
            # a finding's `state` holds live tree nodes (not picklable): the fixes that need
            # it are built here, where it is live, and the finding travels without it
            fixes = [fixes_for(f, self.model) for f in found] if self.prebuild else None
            for finding in found:
                finding.state = None
            return (found, problems, fixes)
        return [fixes_for(finding, self.model) for finding in payload]

    def run_rules(self, rule_ids: Iterable[str]) -> dict[str, tuple[list[Finding], list[Problem]]]:
        """Each rule's (raw findings, problems), run in the workers. Raises OverBudget (or
        WorkerLost) for a file to skip, as a run in one process would."""
        results: dict[str, tuple[list[Finding], list[Problem]]] = {}

        prebuilt: dict[int, tuple[Finding, list[Any]]] = self.model.memo.setdefault(PREBUILT, {})

        def done(task: tuple[str, Any], answer: Any) -> None:
            found, problems, fixes = answer
            results[task[1]] = (found, problems)
            for finding, built in zip(found, fixes or [], strict=False):
                prebuilt[id(finding)] = (finding, built)

        def lost(task: tuple[str, Any], what: str) -> None:
            message = f"internal error in rule {task[1]}: {what}"
            results[task[1]] = ([], [Problem(self.root, message)])

        self._run([("rule", rule_id) for rule_id in rule_ids], done, lost, blame_files=True)
        return results

    def build_fixes(self, findings: list[Finding]) -> list[Problem]:
        """Build the fixes of `findings` in the workers, into model.memo[PREBUILT]; the problems
        to report when a worker died on some of them (those findings then have no fixes)."""
        prebuilt: dict[int, tuple[Finding, list[Any]]] = self.model.memo.setdefault(PREBUILT, {})
        problems: list[Problem] = []
        chunks = [
            findings[start : start + _FIX_CHUNK] for start in range(0, len(findings), _FIX_CHUNK)
        ]

        def done(task: tuple[str, Any], answer: Any) -> None:
            for finding, fixes in zip(task[1], answer, strict=True):
                prebuilt[id(finding)] = (finding, fixes)

        def lost(task: tuple[str, Any], what: str) -> None:
            for finding in task[1]:
                prebuilt[id(finding)] = (finding, [])
            problems.append(
                Problem(
                    self.root,
                    f"internal error building the fixes of {len(task[1])} findings: {what}; "
                    "they are reported without fixes",
                )
            )

        self._run([("fixes", chunk) for chunk in chunks], done, lost, blame_files=False)
        return problems


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc; None when unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _serve(pool: WorkerPool, slot: int, conn: multiprocessing.connection.Connection) -> None:
    """A worker: answer tasks until told to stop (None) or the pipe closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    pool.serving()
    beats, offset, index = pool.beats, slot * _BEAT.size, pool.index

    def beat(path: Path | None) -> None:
        number = index.get(path, -1) + 1 if path is not None else 0
        _write_beat(beats, offset, time.monotonic(), number)

    budget_module.observer = beat
    # the work runs within the per-file budget (the parent's charges carried over); the fix
    # builders without it, as in one process
    spent = dict(pool.spent) if pool.spent is not None else {}
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        kind, payload, last = task
        answer: tuple[Any, ...]
        try:
            answer = ("ok", pool.answer(kind, payload, spent))
        except OverBudget as exc:
            answer = ("over", pool.index.get(exc.path, -1), exc.seconds)
        except Exception as exc:  # reported to the parent, which carries on
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            answer = ("error", detail)
        _write_beat(beats, offset, time.monotonic(), 0)
        conn.send((answer, [collect() for collect, _ in _CARRIED]))
        if last:
            # nothing else will be asked: leave at once rather than free what the task built
            # (the parent waits for the exit when it stops the pool)
            conn.close()
            os._exit(0)
    conn.close()


class LostPart:
    """A part whose worker failed outside any file (its answer: what happened)."""

    def __init__(self, what: str) -> None:
        self.what = what


class PartPool(WorkerPool):
    """Parts of a check that share nothing (analyzers.split's groups, bundled per worker), each
    parsed, modelled and checked in a worker by `work(payload, spent)`, which the workers
    inherit with everything it closes over (the bytes the parent read). A worker that dies or
    stalls while walking a file raises WorkerLost for that file, as the rule pool does; one
    that fails elsewhere answers LostPart."""

    def __init__(
        self,
        paths: list[Path],
        root: Path,
        jobs: int,
        work: Callable[[Any, dict[Path, float]], Any],
        imports: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(paths, root, jobs)
        self.work = work
        self.imports = imports
        self.answers: dict[int, Any] = {}
        self.exit_when_done = True

    def __enter__(self) -> PartPool:
        return self

    def serving(self) -> None:
        if self.imports is not None:
            self.imports()

    def answer(self, kind: str, payload: Any, spent: dict[Path, float]) -> Any:
        return self.work(payload, spent)

    def start(self) -> None:
        """Fork every worker now: they set up (`imports`) while this process still prepares
        their parts (which then travel through the pipes: they did not exist at the fork)."""
        for slot in range(self.jobs):
            if self.workers[slot] is None:
                self._start(slot)

    def run_parts(self, payloads: list[tuple[int, Any]]) -> dict[int, Any]:
        """{number: the work's answer, or LostPart} for each (number, payload). Raises
        OverBudget (or WorkerLost) for a file to skip; the answers received before stay in
        `self.answers` (the caller runs only the other parts again)."""

        def done(task: tuple[str, Any], answer: Any) -> None:
            self.answers[task[1][0]] = answer

        def lost(task: tuple[str, Any], what: str) -> None:
            self.answers[task[1][0]] = LostPart(what)

        self._run([("part", payload) for payload in payloads], done, lost, blame_files=True)
        return self.answers
