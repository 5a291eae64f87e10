"""Benchmark: how a whole check scales with project size (not a test: nothing is asserted).

    python bench/scale.py [--sizes 10,100,1000,2000] [--repeat 3]

For each size a monorepo is generated with bench/generate.py (same seed, so sizes differ only in
how much code there is), then one fresh Python process per size measures, in the same run:
- the floor: a tree-sitter parse of every source file (the least any analysis must do);
- the cold check: `analyze_paths` on the monorepo (parse, model, every rule), median of
  --repeat runs in that process (caches are cleared between runs where the analysis has them);
- its peak RSS (the process's ru_maxrss after the checks).
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

root, repeat = Path(sys.argv[1]), int(sys.argv[2])
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
    return analyze_paths([root], Settings())

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


def measure(root: Path, repeat: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", INNER, str(root), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,2000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    per_file: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            out = Path(tmp) / f"mono-{size}"
            generate(out, size)
            m = measure(out, args.repeat)
            ms = m["check_s"] * 1000 / m["files"]
            per_file[size] = ms
            print(
                f"{m['files']:5d} files {m['lines']:7d} lines: parse floor {m['parse_s'] * 1000:8.1f} ms"
                f" | check {m['check_s'] * 1000:8.1f} ms (first {m['check_first_s'] * 1000:.0f} ms)"
                f" = {m['check_s'] / m['parse_s']:5.1f}x floor, {ms:6.2f} ms/file"
                f" | peak RSS {m['rss_mb']:6.0f} MB | {m['findings']} findings"
            )
    figures = " ".join(f"{s}={v:.3f}" for s, v in per_file.items())
    ratio = ""
    if 100 in per_file and max(sizes) > 100:
        ratio = f" ratio_{max(sizes)}_100={per_file[max(sizes)] / per_file[100]:.2f}"
    print(f"scale ms_per_file {figures}{ratio}")


if __name__ == "__main__":
    main()
