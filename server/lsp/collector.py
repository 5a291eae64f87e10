"""When the language server collects garbage: not in the middle of a keystroke.

What was measured (docs/performance.md, "Issue 14: the server's garbage collector"): with
Python's automatic collector, a keystroke in a 5,000-line file was ~17 ms at the median but
~100-250 ms one time in twenty, each time a full collection walked the ~80,000 (one big file)
to ~300,000 (a 1,000-file workspace) objects the server keeps alive. Those objects are the
workspace's model: they live until their file changes, so walking them finds nothing.

The policy, in a `serve` process (`install`):
- no automatic collection (`gc.disable`): reference counting frees what an edit replaces, as
  the engine breaks the one cycle a replaced file kept (server/lsp/engine.py `parse_open`);
- a collection when the server has been quiet for `IDLE` seconds after an analysis, on the
  analysis thread (never during an analysis), followed by `gc.freeze()`: what survived it moves
  to the permanent generation, so the next collection walks only what was made since (one
  burst of typing), a few milliseconds;
- every `DEEP_EVERY`-th of those collections first unfreezes everything (`gc.unfreeze`), so a
  cycle that became garbage after being frozen is still freed;
- a safety net while nobody stops typing: when more than `FORCE_PENDING` container objects were
  made since the last collection (`gc.get_count()[0]`), the next analysis collects first.

Tests and embedding programs that create the server without `install()` keep Python's
automatic collector: every method below is then a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

log = logging.getLogger(__name__)

IDLE = 0.75  # seconds of quiet after an analysis before collecting
DEEP_EVERY = 20  # every n-th idle collection also walks the frozen objects
FORCE_PENDING = 400_000  # container objects made since the last collection: collect now


class Collector:
    def __init__(self, executor: Executor, busy: Callable[[], bool]) -> None:
        """busy: whether an analysis is running or scheduled (then the idle timer waits)."""
        self.executor = executor
        self.busy = busy
        self.installed = False
        self.timer: asyncio.TimerHandle | None = None
        self.collections = 0
        self.forced = 0
        self.last_ms = 0.0

    def install(self) -> None:
        """Take over from Python's automatic collector (a `serve` process only)."""
        gc.collect()
        gc.freeze()  # the imported modules and the server's own objects: never garbage
        gc.disable()
        self.installed = True

    def before_analysis(self) -> None:
        """On the analysis thread, before an analysis: the safety net."""
        if self.installed and gc.get_count()[0] > FORCE_PENDING:
            self.forced += 1
            self.collect()

    def analysed(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the event loop, after an analysis was published: (re)arm the idle timer."""
        if not self.installed:
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer = loop.call_later(IDLE, self._idle, loop)

    def _idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        if self.busy():
            self.timer = loop.call_later(IDLE, self._idle, loop)
            return
        # in order with the analyses, never during one; a RuntimeError: the executor is shut
        # down, the server exiting
        with contextlib.suppress(RuntimeError):
            self.executor.submit(self.collect)

    def collect(self) -> None:
        started = time.perf_counter()
        self.collections += 1
        if self.collections % DEEP_EVERY == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.last_ms = (time.perf_counter() - started) * 1000
        log.debug("collected in %.1f ms (collection %d)", self.last_ms, self.collections)
