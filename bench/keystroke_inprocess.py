"""Benchmark: a keystroke's analysis in-process, without the server around it (not a test).

    python bench/keystroke_inprocess.py [--files N] [--edits 20] [--typing] [--profile]

bench/keystroke.py times what the user waits for (didChange to publishDiagnostics through the
real server); this one times only `Engine.analyze`, the part the analysis owns, in CPU time, so
that a change to the analysis can be compared run against run on a busy machine and profiled
without the server's threads. Earlier sections of docs/performance.md call it `prof.py` (the
session-local script it replaces: same project, same edits, same figures).

The project is bench/keystroke.py's (a 5,000-line DO file, `--files N` for the rest of an
N-file monorepo). After the opening analysis the collector is frozen and turned off, as the
server does between idle collections, and `Engine.release()` runs after each analysis, as the
server calls it after publishing. Each edit appends a letter to a random line (seeded), is
analysed and timed, then reverted (analysed, not timed): the typing half of a type-and-undo.
The first four edits warm up. `--profile` prints cProfile's top functions of the timed edits.
`--typing` times real typing instead (bench/typing_edits.py: a new method, a statement, SQL in a
call, a column of the schema constant, each typed character by character with auto-closed
brackets, then undone in one step, untimed): one line per scenario, then all keystrokes.

The tree measured is the `durable_harden` Python imports: this checkout, or the one named by
`PYTHONPATH` (an exported older tree, for before/after). The last line is machine-readable:
`keystroke_inprocess median_ms=… p90_ms=… min_ms=… edits=… files=…`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the tree PYTHONPATH names (or the installed one) first: keystroke.py puts ROOT first
    import durable_harden
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(ROOT))
    import durable_harden
sys.path.insert(0, str(ROOT / "bench"))

from keystroke import make_project  # noqa: E402
from typing_edits import SCENARIOS, versions  # noqa: E402

WARM_UP = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=0, help="the rest of an N-file monorepo")
    parser.add_argument("--edits", type=int, default=20, help="timed edits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed edits")
    parser.add_argument("--typing", action="store_true", help="real typing (typing_edits.py)")
    parser.add_argument(
        "--watched", action="store_true", help="as for a client that watches the files"
    )
    args = parser.parse_args()

    from durable_harden.analyzers.analysis import Settings
    from durable_harden.server.lsp.engine import Engine, OpenInput

    print(f"durable_harden from {Path(durable_harden.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), args.files or None, 5000, args.seed)
        target = project / "src" / "big.ts"
        text = target.read_bytes()
        engine = Engine()
        engine.watched = args.watched  # the server sets it once the client took its watchers
        version = 1

        def analyse(data: bytes) -> object:
            nonlocal version
            version += 1
            opened = {target: OpenInput(target, version, data, "source", Settings(), None)}
            result = engine.analyze(project, opened)
            engine.release()
            return result

        analyse(text)
        gc.freeze()
        gc.disable()
        lines = text.split(b"\n")
        rng = random.Random(args.seed)
        profiler = cProfile.Profile()
        times: list[float] = []
        edits: list[tuple[bytes, bytes]] = []  # (the text timed, the text analysed after it)
        if args.typing:
            per_scenario: list[tuple[str, int]] = []
            for scenario in SCENARIOS:
                typed = [after for _, _, after in versions(text, scenario)]
                edits += [(after, b"") for after in typed[:-1]] + [(typed[-1], text)]
                per_scenario.append((scenario.name, len(typed)))
        else:
            for _ in range(WARM_UP + args.edits):
                row = rng.randrange(len(lines))
                edited = list(lines)
                edited[row] += b"x"
                edits.append((b"\n".join(edited), text))
        for number, (data, then) in enumerate(edits):
            timed = args.typing or number >= WARM_UP
            if timed and args.profile:
                profiler.enable()
            start = time.process_time()
            analyse(data)
            spent = time.process_time() - start
            if timed and args.profile:
                profiler.disable()
            if timed:
                times.append(spent * 1000)
            if then:
                analyse(then)  # the undo (of a random edit; of a whole scenario when typing)
        gc.enable()
    if args.typing:
        at = 0
        for name, count in per_scenario:
            own = sorted(times[at : at + count])
            at += count
            print(
                f"typing {name:<14}: median {statistics.median(own):7.2f} ms, "
                f"p90 {own[int(len(own) * 0.9)]:7.2f}, max {own[-1]:7.2f} ({count} keystrokes)"
            )
    times.sort()
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    if args.profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(50)
        stats.sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    what = "typing" if args.typing else "one keystroke"
    print(
        f"Engine.analyze of {what}, {len(lines)} lines"
        + (f", {args.files}-file project" if args.files else "")
        + f": median {median:.2f} ms of CPU, p90 {p90:.2f}, min {times[0]:.2f} ({len(times)} edits)"
    )
    print(
        f"keystroke_inprocess median_ms={median:.2f} p90_ms={p90:.2f} min_ms={times[0]:.2f} "
        f"max_ms={times[-1]:.2f} edits={len(times)} files={args.files or 2}"
        + (" typing=1" if args.typing else "")
        + (" watched=1" if args.watched else "")
    )


if __name__ == "__main__":
    main()
