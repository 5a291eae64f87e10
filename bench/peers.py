"""Benchmark: durable-harden `check` next to ESLint + typescript-eslint and oxlint on the same files.

    python bench/peers.py [--files 200] [--corpus PATH] [--repeat 5] [--seed 1]

Not a test: nothing is asserted. The JavaScript peers are installed from npm, at the pinned
versions below, into a scratch folder outside the repository (--tools, default
~/.cache/durable-harden-bench/peers; `npm install --no-audit --no-fund`, reused when present).
ESLint runs with a flat config (`eslint.config.mjs`, written into that folder) made of
`@eslint/js` recommended + typescript-eslint `recommended` (the syntactic set: no type
information, so no tsconfig or project service is needed); oxlint with its defaults.

The file set is either a generated monorepo (bench/generate.py, --files N, default 200) or, with
--corpus PATH, the .ts/.js files of every folder under PATH that has a wrangler config (the
folders are read in place, nothing is copied or written there). Every tool gets the same explicit
list of files. Before timing, one untimed run of each tool checks that it really linted every
file (ESLint's JSON results, oxlint's "on N files", durable-harden's --show-files): a config that
silently lints nothing would make a broken benchmark, so a shortfall stops the script.

Timed runs are paired: each repetition runs every tool once, in an order that alternates from one
repetition to the next, so a machine that gets busier or quieter mid-run affects all of them
alike; the figure per tool is the median. durable-harden runs as a fresh `python -m
durable_harden check` process (start-up included, as for the peers): "cold" with `--no-cache`
when the tree being run has that flag (else as is: then cold and warm are the same thing),
"warm" right after an unmeasured run that fills the cache. Printed ratios: ESLint / durable-harden
cold (the target is >= 5) and durable-harden warm / oxlint (the target is <= 1). The last line is
machine-readable:

    peers files=... dh_cold_ms=... dh_warm_ms=... eslint_ms=... oxlint_ms=...
        ratio_eslint_dh=... ratio_dh_warm_oxlint=...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _bytecode import compile_tree, tree_of_subprocess  # noqa: E402
from generate import generate  # noqa: E402

PINNED = {
    "eslint": "10.15.0",
    "@eslint/js": "10.0.1",
    "typescript-eslint": "8.73.0",
    "typescript": "6.0.3",  # typescript-eslint 8.73 accepts >=4.8.4 <6.1.0
    "oxlint": "1.95.0",
}
DEFAULT_TOOLS = Path.home() / ".cache" / "durable-harden-bench" / "peers"
SUFFIXES = {".ts", ".js"}
WRANGLER = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
SKIP_DIRS = {"node_modules", ".git", ".wrangler", "dist", "build", ".next", "coverage"}

ESLINT_CONFIG = """\
// Written by durable-harden's bench/peers.py: typescript-eslint's quick-start config.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { files: ["**/*.ts", "**/*.js"] },
  js.configs.recommended,
  tseslint.configs.recommended,
);
"""


def install(tools: Path) -> None:
    """Install the pinned peers into `tools` (outside the repository), unless already there."""
    tools.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "durable-harden-bench-peers", "private": True, "dependencies": PINNED}
    wanted = json.dumps(manifest, indent=2) + "\n"
    package = tools / "package.json"
    installed = all(
        (tools / "node_modules" / name / "package.json").is_file()
        and json.loads((tools / "node_modules" / name / "package.json").read_text())["version"]
        == version
        for name, version in PINNED.items()
    )
    if not installed or not package.is_file() or package.read_text() != wanted:
        if shutil.which("npm") is None:
            sys.exit("npm is not on PATH: install Node.js 20.19+ to run the peers")
        package.write_text(wanted)
        print(f"installing {', '.join(f'{n}@{v}' for n, v in PINNED.items())} into {tools}")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=tools,
            check=True,
        )
    (tools / "eslint.config.mjs").write_text(ESLINT_CONFIG)
    (tools / ".oxlintrc.json").write_text("{}\n")


def corpus_files(corpus: Path) -> tuple[list[Path], list[Path]]:
    """The folders under `corpus` with a wrangler config, and their .ts/.js files."""
    from durable_harden.analyzers.workspace import discover

    folders: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if any(name in filenames for name in WRANGLER):
            folder = Path(dirpath)
            if not any(folder.is_relative_to(f) for f in folders):
                folders.append(folder)
    files = sorted(p for p in discover(folders).sources if p.suffix in SUFFIXES)
    return folders, files


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: "problems found" for every tool here
        sys.exit(
            f"{' '.join(command[:4])} ... failed ({done.returncode}):\n"
            f"{done.stderr[-2000:]}{done.stdout[-2000:]}"
        )
    return elapsed


class Tools:
    def __init__(self, tools: Path, root: Path, files: list[Path]) -> None:
        self.root = root
        self.files = [str(f) for f in files]
        bin_dir = tools / "node_modules" / ".bin"
        self.eslint = [
            str(bin_dir / "eslint"),
            "--config",
            str(tools / "eslint.config.mjs"),
            "--no-warn-ignored",
        ]
        self.oxlint = [str(bin_dir / "oxlint"), "--config", str(tools / ".oxlintrc.json")]
        help_text = subprocess.run(
            [sys.executable, "-m", "durable_harden", "check", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        self.has_no_cache = "--no-cache" in help_text
        self.dh = [sys.executable, "-m", "durable_harden", "check", "--no-color"]

    # untimed checks that each tool lints every file
    def verify(self) -> None:
        want = len(self.files)
        eslint = subprocess.run(
            [*self.eslint[:-1], "--format", "json", *self.files],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        try:
            results = json.loads(eslint.stdout)
        except json.JSONDecodeError:
            sys.exit(f"ESLint printed no JSON ({eslint.returncode}):\n{eslint.stderr[-3000:]}")
        ignored = [
            r["filePath"]
            for r in results
            if any("ignored" in (m.get("message") or "") for m in r["messages"])
        ]
        fatal = [r for r in results if r.get("fatalErrorCount")]
        linted = len(results) - len(ignored)
        problems = sum(len(r["messages"]) for r in results)
        print(
            f"ESLint linted {linted} of {want} files ({problems} problems, "
            f"{len(fatal)} files with a parse error)"
        )
        for r in fatal[:5]:
            first = next(m for m in r["messages"] if m.get("fatal"))
            print(f"  parse error: {r['filePath']}: {first['message']}")
        if linted != want or ignored:
            sys.exit(f"ESLint did not lint every file (ignored: {ignored[:5]}): broken benchmark")
        if len(fatal) > want // 10:
            sys.exit("ESLint could not parse many files: is the TypeScript parser applied?")

        oxlint = subprocess.run(
            [*self.oxlint, *self.files], cwd=self.root, capture_output=True, text=True
        )
        match = re.search(r"on (\d+) files?", oxlint.stdout + oxlint.stderr)
        if match is None:
            sys.exit(f"oxlint printed no file count:\n{oxlint.stdout[-2000:]}{oxlint.stderr}")
        found = re.search(r"Found (\d+) warnings? and (\d+) errors?", oxlint.stdout)
        print(
            f"oxlint linted {match.group(1)} of {want} files"
            + (f" ({found.group(1)} warnings, {found.group(2)} errors)" if found else "")
        )
        if int(match.group(1)) != want:
            sys.exit("oxlint did not lint every file: broken benchmark")

        shown = subprocess.run(
            [*self.dh, "--show-files", *self.files],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        checked = sum(1 for line in shown if Path(line.strip()).suffix in SUFFIXES)
        print(f"durable-harden checks {checked} of {want} files")
        if checked != want:
            sys.exit("durable-harden does not check every file: broken benchmark")

    def run(self, tool: str) -> float:
        if tool == "eslint":
            return timed([*self.eslint, *self.files], self.root)
        if tool == "oxlint":
            return timed([*self.oxlint, *self.files], self.root)
        if tool == "dh_cold":
            flag = ["--no-cache"] if self.has_no_cache else []
            return timed([*self.dh, *flag, *self.files], self.root)
        # dh_warm: an unmeasured run fills the cache (if the tree has one), then the measured one
        timed([*self.dh, *self.files], self.root)
        return timed([*self.dh, *self.files], self.root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200, help="generated monorepo size")
    parser.add_argument(
        "--corpus", type=Path, help="lint the .ts/.js files of the wrangler folders under PATH"
    )
    parser.add_argument("--repeat", type=int, default=5, help="paired repetitions (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS, help="npm scratch folder")
    args = parser.parse_args()
    if args.tools.resolve().is_relative_to(ROOT):
        sys.exit("--tools must be outside the repository")
    install(args.tools)
    compile_tree(tree_of_subprocess())  # bench/_bytecode.py: no stale module compiled per run
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus is not None:
            root = args.corpus.resolve()
            if not root.is_dir():
                sys.exit(f"--corpus {args.corpus}: not a folder")
            folders, files = corpus_files(root)
            label = f"corpus {root}: {len(folders)} wrangler folders"
        else:
            root = Path(tmp) / "mono"
            generate(root, args.files, seed=args.seed)
            from durable_harden.analyzers.workspace import discover

            files = sorted(p for p in discover([root]).sources if p.suffix in SUFFIXES)
            label = f"generated monorepo ({args.files} files asked, seed {args.seed})"
        if not files:
            sys.exit("no .ts/.js files to lint")
        lines = sum(f.read_bytes().count(b"\n") for f in files)
        print(f"{label}; {len(files)} .ts/.js files, {lines} lines")
        tools = Tools(args.tools, root, files)
        if not tools.has_no_cache:
            print("this tree's `check` has no --no-cache: cold and warm runs are the same")
        tools.verify()
        names = ["dh_cold", "eslint", "dh_warm", "oxlint"]
        samples: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(1):  # unmeasured: disk cache, node's compile cache, imports
            for name in names:
                tools.run(name)
        for rep in range(args.repeat):
            order = names if rep % 2 == 0 else names[::-1]
            order = order[rep // 2 % len(order) :] + order[: rep // 2 % len(order)]
            for name in order:
                samples[name].append(tools.run(name))
    ms = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    for name, label in (
        ("dh_cold", "durable-harden check, cold"),
        ("dh_warm", "durable-harden check, warm"),
        ("eslint", "ESLint + typescript-eslint"),
        ("oxlint", "oxlint"),
    ):
        runs = ", ".join(f"{v * 1000:.0f}" for v in samples[name])
        print(f"{label:30s}: median {ms[name]:8.0f} ms  ({runs})")
    ratio_eslint = ms["eslint"] / ms["dh_cold"]
    ratio_oxlint = ms["dh_warm"] / ms["oxlint"]
    print(f"ESLint / durable-harden cold : {ratio_eslint:6.2f}x (target >= 5)")
    print(f"durable-harden warm / oxlint : {ratio_oxlint:6.2f}x (target <= 1)")
    print(
        f"peers files={len(files)} dh_cold_ms={ms['dh_cold']:.0f} dh_warm_ms={ms['dh_warm']:.0f} "
        f"eslint_ms={ms['eslint']:.0f} oxlint_ms={ms['oxlint']:.0f} "
        f"ratio_eslint_dh={ratio_eslint:.2f} ratio_dh_warm_oxlint={ratio_oxlint:.2f}"
    )


if __name__ == "__main__":
    main()
