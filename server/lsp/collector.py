"""When the language server's cyclic garbage collections happen (docs/performance.md, "Issue 14:
relative offsets (keystroke)").

Python's collector runs a full collection (every object of every generation) once enough
objects have survived younger collections. The server's heap holds every parsed tree's nodes,
the model and the rules' memos of the workspace (~80,000 objects with one 5,000-line file open,
millions in a big workspace), and a keystroke leaves a few thousand new ones behind: every ~30
keystrokes one keystroke paid a full collection (~40-90 ms at 5,000 lines), the benchmark's p99.

So the heap that exists after the first analysis (and after each quiet moment) is frozen
(`gc.freeze`: moved to a generation no collection walks), and the collections during typing walk
only what was made since (~1-2 ms). What was frozen and died since is cyclic garbage no
collection sees: `collect` (unfreeze, a full collection, freeze again) runs on the analysis
worker after the first analysis and whenever the server has been idle for `IDLE_SECONDS`
after an analysis, so that memory returns at the next pause in typing. Reference counting frees
everything acyclic at once as before (an edited file's superseded version is made acyclic:
`source.reparse` empties its memo).
"""

from __future__ import annotations

import gc
import threading

IDLE_SECONDS = 2.0  # no analysis for this long after one: collect the whole heap


class Collector:
    """The server's collection policy; `collect` runs on the analysis worker thread (between
    analyses, never inside one)."""

    def __init__(self) -> None:
        self.frozen = False  # the heap frozen by `collect` at least once
        self.pending = False  # analyses finished since the last `collect`
        self.collections = 0  # `collect` calls (tests read it)
        self._lock = threading.Lock()

    def analysed(self) -> bool:
        """An analysis finished: whether to `collect` right away (the first one: the
        workspace's parsed files and model are most of what the server will hold)."""
        with self._lock:
            self.pending = True
            return not self.frozen

    def idle(self) -> bool:
        """The server is idle: whether there is something to `collect`."""
        with self._lock:
            return self.pending

    def collect(self) -> None:
        """Collect the whole heap, then freeze what is left."""
        with self._lock:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.frozen = True
            self.pending = False
            self.collections += 1


__all__ = ["IDLE_SECONDS", "Collector"]
