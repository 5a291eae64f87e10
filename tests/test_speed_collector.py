"""The language server's garbage collection (server/lsp/collector.py): a replaced version of an
open file leaves no reference cycle behind (so reference counting frees it at once), and the
collector runs when the server is idle, or before an analysis once enough has piled up, never
during one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from durable_harden.analyzers.analysis import Settings
from durable_harden.server.lsp import collector as collector_module
from durable_harden.server.lsp.collector import Collector
from durable_harden.server.lsp.engine import Engine, OpenInput


def _project(tmp_path: Path) -> tuple[Path, Path, bytes]:
    root = tmp_path / "worker"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.toml").write_text(
        'name = "w"\nmain = "src/big.ts"\n\n[[durable_objects.bindings]]\n'
        'name = "BIG"\nclass_name = "Big"\n'
    )
    methods = "".join(
        f"  list{n}(owner: string): unknown[] {{\n"
        f"    return this.ctx.storage.sql\n"
        f'      .exec("SELECT id FROM items WHERE owner = ? LIMIT {n + 1}", owner)\n'
        f"      .toArray();\n  }}\n\n"
        for n in range(40)
    )
    source = (
        'import { DurableObject } from "cloudflare:workers";\n\n'
        "export class Big extends DurableObject {\n"
        "  constructor(ctx: DurableObjectState, env: unknown) {\n"
        "    super(ctx, env as never);\n"
        '    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, '
        'owner TEXT)");\n'
        "  }\n\n" + methods + "}\n"
    ).encode()
    path = root / "src" / "big.ts"
    path.write_bytes(source)
    return root, path, source


def _cycles_after_edits(tmp_path: Path, edits: int) -> int:
    """Cyclic garbage left by `edits` keystrokes (the automatic collector off meanwhile)."""
    root, path, source = _project(tmp_path)
    engine = Engine()
    lines = source.split(b"\n")

    def analyse(data: bytes, version: int) -> None:
        engine.analyze(root, {path: OpenInput(path, version, data, "source", Settings(), None)})

    analyse(source, 1)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for n in range(edits):
            row = 10 + (n * 7) % (len(lines) - 12)
            edited = list(lines)
            edited[row] += b" "
            analyse(b"\n".join(edited), n + 2)
        return gc.collect()
    finally:
        if was:
            gc.enable()


def test_replaced_versions_of_an_open_file_leave_no_cycles(tmp_path: Path) -> None:
    """Each replaced version's memo held its statements and classes, which point back at it:
    ~40 statements' worth of cyclic garbage per keystroke here (thousands in a big file). The
    engine clears the memo of the version it no longer uses."""
    assert _cycles_after_edits(tmp_path, 12) < 100


def test_without_breaking_the_cycle_the_garbage_piles_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same edits with the memo kept (what the engine did before): the measurement above
    sees the cycles when they are there."""
    monkeypatch.setattr(Engine, "_clear", staticmethod(lambda file: None))
    assert _cycles_after_edits(tmp_path, 12) > 12 * 40


def test_superseded_versions_wait_for_release(tmp_path: Path) -> None:
    """The memo of a version two edits back is cleared when the server releases it after
    publishing (not during the keystroke), and at most two versions wait when nobody does."""
    root, path, source = _project(tmp_path)
    engine = Engine()
    lines = source.split(b"\n")
    versions = []
    for n in range(6):
        edited = list(lines)
        edited[10 + n] += b" "
        data = b"\n".join(edited)
        engine.analyze(root, {path: OpenInput(path, n + 1, data, "source", Settings(), None)})
        versions.append(engine.open_parsed[path])
    # the current version and the one it was re-parsed from keep their memos
    assert versions[-1].memo and versions[-2].memo
    waiting = engine.superseded
    assert len(waiting) == 2 and waiting == versions[-4:-2]
    assert all(waiting_file.memo for waiting_file in waiting)
    assert not any(v.memo for v in versions[:-4])  # pushed out: cleared at once
    engine.release()
    assert not engine.superseded
    assert not any(v.memo for v in versions[:-2])
    assert versions[-1].memo and versions[-2].memo


class _Inline:
    """An executor that runs what it is given at once (the analysis thread, in order)."""

    def __init__(self) -> None:
        self.ran: list[Callable[[], object]] = []

    def submit(self, fn: Callable[[], object]) -> Future[object]:
        self.ran.append(fn)
        future: Future[object] = Future()
        future.set_result(fn())
        return future


@pytest.fixture
def gc_state() -> Any:
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()


def test_install_takes_over_from_the_automatic_collector(gc_state: Any) -> None:
    collector = Collector(_Inline(), lambda: False)  # type: ignore[arg-type]
    collector.install()
    assert not gc.isenabled() and gc.get_freeze_count() > 0


def test_an_uninstalled_collector_changes_nothing(gc_state: Any) -> None:
    gc.enable()
    collector = Collector(_Inline(), lambda: False)  # type: ignore[arg-type]
    collector.before_analysis()

    async def arm() -> None:
        collector.analysed(asyncio.get_running_loop())

    asyncio.run(arm())
    assert gc.isenabled() and collector.timer is None and collector.collections == 0


def test_idle_collection_waits_for_quiet_and_freezes(
    gc_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_module, "IDLE", 0.01)
    executor = _Inline()
    busy = [True]
    collector = Collector(executor, lambda: busy[0])  # type: ignore[arg-type]
    collector.install()

    class Node:
        pass

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        del a, b  # a cycle: only a collection frees it
        collector.analysed(loop)
        await asyncio.sleep(0.05)
        assert collector.collections == 0 and collector.timer is not None  # busy: re-armed
        busy[0] = False
        await asyncio.sleep(0.05)
        assert collector.collections == 1 and collector.timer is None

    frozen = gc.get_freeze_count()
    asyncio.run(scenario())
    assert len(executor.ran) == 1  # on the analysis thread's executor, not the event loop
    assert gc.get_freeze_count() >= frozen  # the survivors were frozen
    gc.unfreeze()  # (frozen objects are not listed by get_objects)
    assert not [o for o in gc.get_objects() if type(o).__name__ == "Node"]  # the cycle freed


def test_a_pile_of_objects_is_collected_before_the_next_analysis(
    gc_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = Collector(_Inline(), lambda: True)  # type: ignore[arg-type]
    collector.install()
    monkeypatch.setattr(collector_module, "FORCE_PENDING", 1_000)
    collector.before_analysis()
    assert collector.forced == 0  # little made since install()
    keep = [[n] for n in range(5_000)]  # container objects made since the last collection
    collector.before_analysis()
    assert collector.forced == 1 and collector.collections == 1 and len(keep) == 5_000


def test_every_nth_collection_also_frees_frozen_cycles(
    gc_state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle frozen while alive, garbage later: only a collection that unfreezes frees it."""
    monkeypatch.setattr(collector_module, "DEEP_EVERY", 3)
    collector = Collector(_Inline(), lambda: False)  # type: ignore[arg-type]
    collector.install()

    class Held:
        pass

    a, b = Held(), Held()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    collector.collect()  # 1: alive, so frozen
    del a, b

    collector.collect()  # 2: frozen, so not seen
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    still = sum(type(o).__name__ == "Held" for o in gc.get_objects())
    gc.freeze()
    assert still == 2
    collector.collect()  # 3: unfreezes first
    gc.unfreeze()
    assert not [o for o in gc.get_objects() if type(o).__name__ == "Held"]
