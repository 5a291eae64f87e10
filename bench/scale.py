"""Benchmark: how a whole check scales with project size (not a test: nothing is asserted).

    python bench/scale.py [--sizes 10,100,1000,2000] [--repeat 3]

For each size a monorepo is generated with bench/generate.py (same seed, so sizes differ only in
how much code there is), then one fresh Python process per size measures, in the same run:
- the floor: a tree-sitter parse of every source file (the least any analysis must do);
- the cold check: `analyze_paths` on the monorepo (parse, model, every rule), median of
  --repeat runs in that process (caches are cleared between runs where the analysis has them),
  with the rules in worker processes as `check` decides (--jobs 0, the default; --jobs 1: one
  process; the peak RSS is then the parent's only);
- its peak RSS (the process's ru_maxrss after the checks);
- with --cli: the `durable-harden check --output-format json` command itself, cold (an empty
  on-disk cache, which the run fills) and warm (the same command again: a cache hit), each a
  fresh process, so start-up and the report are included.
It prints one line per size with ms per file and the ratio to the floor, then a final
machine-readable line: `scale 10=<ms/file> 100=<ms/file> ... ratio_2000_100=<x>`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from generate import generate  # noqa: E402

INNER = r"""
import json, resource, statistics, sys, time
from pathlib import Path
from tree_sitter import Parser
from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.source import language, language_for
from durable_harden.analyzers.workspace import discover

root, repeat, jobs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
files = discover([root]).sources
data = [(p, p.read_bytes()) for p in files]

def median(fn):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

def floor():
    for path, content in data:
        Parser(language(language_for(path) or "typescript")).parse(content)

def check():
    return analyze_paths([root], Settings(), jobs=jobs)

parse = median(floor)
start = time.perf_counter()
result = check()
first = time.perf_counter() - start
again = median(check) if repeat > 1 else first
print(json.dumps({
    "files": len(files),
    "lines": sum(c.count(b"\n") for _, c in data),
    "parse_s": parse,
    "check_first_s": first,
    "check_s": again,
    "findings": len(result.findings),
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def measure_cli(root: Path, cache: Path) -> tuple[float, float]:
    """Seconds of a cold and a warm `check` command (one process each)."""
    import os
    import time

    env = {**os.environ, "DURABLE_HARDEN_CACHE_DIR": str(cache)}
    env.pop("DURABLE_HARDEN_NO_CACHE", None)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "durable_harden", "check", str(root), "--output-format", "json"],
            capture_output=True,
            env=env,
            check=False,
        )
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def measure(root: Path, repeat: int, jobs: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", INNER, str(root), str(repeat), str(jobs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,2000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cli", action="store_true", help="also time the check command cold and warm (cache)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="worker processes of the in-process check (0: auto, as `check`; 1: one process)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    per_file: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            out = Path(tmp) / f"mono-{size}"
            generate(out, size)
            m = measure(out, args.repeat, args.jobs)
            ms = m["check_s"] * 1000 / m["files"]
            per_file[size] = ms
            print(
                f"{m['files']:5d} files {m['lines']:7d} lines: parse floor {m['parse_s'] * 1000:8.1f} ms"
                f" | check {m['check_s'] * 1000:8.1f} ms (first {m['check_first_s'] * 1000:.0f} ms)"
                f" = {m['check_s'] / m['parse_s']:5.1f}x floor, {ms:6.2f} ms/file"
                f" | peak RSS {m['rss_mb']:6.0f} MB | {m['findings']} findings"
            )
            if args.cli:
                cold, warm = measure_cli(out, Path(tmp) / f"cache-{size}")
                print(
                    f"      check command: cold {cold * 1000:8.1f} ms = "
                    f"{cold / m['parse_s']:5.1f}x floor | warm {warm * 1000:8.1f} ms = "
                    f"{warm / m['parse_s']:5.1f}x floor"
                )
    figures = " ".join(f"{s}={v:.3f}" for s, v in per_file.items())
    ratio = ""
    if 100 in per_file and max(sizes) > 100:
        ratio = f" ratio_{max(sizes)}_100={per_file[max(sizes)] / per_file[100]:.2f}"
    print(f"scale ms_per_file {figures}{ratio}")


if __name__ == "__main__":
    main()
