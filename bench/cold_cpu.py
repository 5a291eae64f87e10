"""Benchmark: the CPU time of a cold `check` program against the parse floor (not a test).

    python bench/cold_cpu.py [--sizes 200,1000] [--corpus PATH] [--repeat 3] [--jobs 1,2]
                             [--before TREE]

On a machine shared with other jobs the wall clock of a check moves with the load (2-5x from
one run to the next at a load average of 4-8), while its CPU time moves far less: this script
measures CPU time. For each size a monorepo is generated with bench/generate.py (same seed as
bench/scale.py), then:
- the floor: the CPU time of a tree-sitter parse of every source file (best of 3, a separate
  process);
- the cold check: `python -m durable_harden check --no-cache --jobs N` on the monorepo (text
  report), a fresh process per run, its CPU time (user + sys) including its worker processes
  (`os.wait4`), and its wall time.
With `--corpus PATH` the same is measured on real code too: the folders under PATH that have a
wrangler config (bench/peers.py's selection), given to `check` as folders; the floor then parses
exactly the source files that check analyses in them (`analysis.workspace_for`). `--sizes ""`
measures the corpus alone. Real projects hold far fewer DO classes per file than the generated
monorepo (the corpus-dev folders: ~110 classes in ~860 files of ~7 KB; the generated 1,000
files: 600 classes in files of ~1.4 KB), so the two ratios answer different questions: the
generated one is the dense case, the corpus one is what a real project pays.
With `--before TREE` (an exported older version, e.g. `git archive main | tar -x -C TREE`) each
round runs that tree too, interleaved with this one (before/after, then after/before), so both
see the same machine. Each process runs from a neutral folder with `PYTHONPATH` naming its tree
(`python -m` puts the working folder first on `sys.path`). Both trees are byte-compiled first
(bench/_bytecode.py: with `PYTHONDONTWRITEBYTECODE` set a stale module is compiled again in
every run).

The last line is machine-readable: `cold_cpu <version>_<files>_j<N>=<x floor> ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
# --corpus reads the folders with durable_harden: this checkout when it is not installed
sys.path.append(str(ROOT))

from _bytecode import compile_tree  # noqa: E402
from generate import generate  # noqa: E402

FLOOR = r"""
import json, sys, time
from pathlib import Path
from tree_sitter import Parser
from durable_harden.analyzers.source import language, language_for
from durable_harden.analyzers.workspace import discover

if sys.argv[1] == "--workspace":  # real folders: what check analyses in them
    from durable_harden.analyzers.analysis import workspace_for

    files = workspace_for([Path(p) for p in sys.argv[2:]]).sources
else:
    files = discover([Path(sys.argv[1])]).sources
data = [(p, p.read_bytes()) for p in files]
best = None
for _ in range(3):
    start = time.process_time()
    for path, content in data:
        Parser(language(language_for(path) or "typescript")).parse(content)
    spent = time.process_time() - start
    best = spent if best is None else min(best, spent)
print(json.dumps({"files": len(files), "floor_s": best}))
"""


def floor(roots: list[Path], tree: Path, neutral: Path) -> dict[str, float]:
    """The best-of-3 CPU time of parsing the files: one generated root, or real folders."""
    given = [str(roots[0])] if len(roots) == 1 else ["--workspace", *map(str, roots)]
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, *given],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=neutral,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def check(roots: list[Path], tree: Path, jobs: str, neutral: Path) -> tuple[float, float]:
    """(CPU seconds of the process and its workers, wall seconds) of one cold check."""
    env = {**os.environ, "PYTHONPATH": str(tree), "DURABLE_HARDEN_NO_CACHE": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_harden",
            "check",
            "--no-cache",
            "--jobs",
            jobs,
            *map(str, roots),
        ],
        env=env,
        cwd=neutral,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"check failed ({code}) with {tree}:\n{errors.decode(errors='replace')[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median)")
    parser.add_argument("--jobs", default="1", help="comma-separated --jobs values to run")
    parser.add_argument("--before", type=Path, help="an older tree to run side by side")
    parser.add_argument("--corpus", type=Path, help="also the wrangler folders under PATH")
    args = parser.parse_args()
    trees = {"after": ROOT}
    if args.before is not None:
        if not (args.before / "durable_harden").is_dir():
            sys.exit(f"--before {args.before}: no durable_harden package there")
        trees = {"before": args.before.resolve(), "after": ROOT}
    sizes: list[int | str] = [int(s) for s in args.sizes.split(",") if s.strip()]
    corpus_folders: list[Path] = []
    if args.corpus is not None:
        from peers import corpus_files

        if not args.corpus.is_dir():
            sys.exit(f"--corpus {args.corpus}: not a folder")
        corpus_folders = corpus_files(args.corpus.resolve())[0]
        if not corpus_folders:
            sys.exit(f"--corpus {args.corpus}: no folder with a wrangler config under it")
        sizes.append("corpus")
    if not sizes:
        sys.exit("nothing to measure: give --sizes or --corpus")
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    for tree in trees.values():
        compile_tree(tree)
    results: dict[tuple[str, int | str, str], list[tuple[float, float]]] = {}
    floors: dict[int | str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        neutral = Path(tmp) / "cwd"
        neutral.mkdir()
        roots: dict[int | str, list[Path]] = {}
        for size in sizes:
            if isinstance(size, str):  # the corpus, read in place
                roots[size] = corpus_folders
            else:
                roots[size] = [Path(tmp) / f"mono-{size}"]
                generate(roots[size][0], size)
            floors[size] = floor(roots[size], ROOT, neutral)
        for number in range(args.repeat):
            names = list(trees) if number % 2 == 0 else list(trees)[::-1]
            for size in sizes:
                for job in jobs:
                    for name in names:
                        cpu, wall = check(roots[size], trees[name], job, neutral)
                        results.setdefault((name, size, job), []).append((cpu, wall))
    figures = []
    for size in sizes:
        base = floors[size]["floor_s"]
        what = f"corpus ({len(corpus_folders)} folders), " if isinstance(size, str) else ""
        print(f"{what}{floors[size]['files']:.0f} files: parse floor {base * 1000:.1f} ms of CPU")
        for job in jobs:
            for name in trees:
                runs = results[(name, size, job)]
                cpu = statistics.median(c for c, _ in runs)
                wall = statistics.median(w for _, w in runs)
                print(
                    f"  {name:6} --jobs {job}: CPU {cpu * 1000:8.1f} ms = {cpu / base:5.1f}x floor"
                    f" | wall {wall * 1000:8.1f} ms ({', '.join(f'{c * 1000:.0f}' for c, _ in runs)}"
                    " ms CPU per round)"
                )
                figures.append(f"{name}_{size}_j{job}={cpu / base:.2f}")
    print("cold_cpu " + " ".join(figures))


if __name__ == "__main__":
    main()
