"""Benchmark: whole-project analysis against the floor of parsing every file with tree-sitter.

Prints absolute figures and the ratio to the baseline measured in the same run, on a corpus made
from the example projects (copied N times, class names kept distinct so the model grows as it
would in a real monorepo). Not a test: no timing is asserted.

    python bench/bench_check.py [--copies 40] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tree_sitter import Parser

from durable_harden.analyzers.analysis import Settings, analyze_paths
from durable_harden.analyzers.source import language, language_for
from durable_harden.analyzers.workspace import discover

ROOT = Path(__file__).resolve().parent.parent


def make_corpus(target: Path, copies: int) -> Path:
    for index in range(copies):
        for example in (ROOT / "examples").iterdir():
            if example.is_dir():
                shutil.copytree(
                    example,
                    target / f"{example.name}-{index}",
                    ignore=shutil.ignore_patterns("node_modules"),
                )
    return target


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = make_corpus(Path(tmp), args.copies)
        files = discover([corpus]).sources
        data = [(p, p.read_bytes()) for p in files]
        size = sum(len(d) for _, d in data)
        lines = sum(d.count(b"\n") for _, d in data)

        def parse_only() -> None:
            for path, content in data:
                Parser(language(language_for(path) or "typescript")).parse(content)

        def full_check() -> None:
            analyze_paths([corpus], Settings())

        baseline = timed(parse_only, args.repeat)
        check = timed(full_check, args.repeat)
        # incremental: one character typed in the middle of the largest file
        path, content = max(data, key=lambda pair: len(pair[1]))
        ts_parser = Parser(language("typescript"))
        tree = ts_parser.parse(content)
        middle = len(content) // 2
        edited = content[:middle] + b" " + content[middle:]

        def incremental() -> None:
            copy = tree.copy()
            row = content[:middle].count(b"\n")
            col = middle - (content.rfind(b"\n", 0, middle) + 1)
            copy.edit(middle, middle, middle + 1, (row, col), (row, col), (row, col + 1))
            ts_parser.parse(edited, copy)

        incr = timed(incremental, max(args.repeat, 50))
        full = timed(lambda: ts_parser.parse(edited), max(args.repeat, 20))
    print(f"corpus: {len(files)} files, {lines} lines, {size / 1e6:.2f} MB")
    print(f"baseline  tree-sitter parse of every file : {baseline * 1000:8.1f} ms")
    print(
        f"durable-harden check (model + all rules)   : {check * 1000:8.1f} ms  ({check / baseline:.1f}x baseline)"
    )
    print(
        f"one-character reparse of {path.name} (incremental): {incr * 1e3:.3f} ms vs full {full * 1e3:.3f} ms ({full / incr:.1f}x faster)"
    )


if __name__ == "__main__":
    main()
