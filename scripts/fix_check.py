#!/usr/bin/env python3
"""Fix check on real code: harden every project of corpus-dev on a temporary copy and check what
"correct" means for a fix (docs/harden.md, DESIGN.md):

1. every edited source file parses with no new tree-sitter ERROR region (an existing region whose
   text changed counts as new: something was inserted into it);
2. a second `harden --unsafe-fixes --yes` changes nothing;
3. no finding appears that was not there before (rule, file, message);
4. `tsc --noEmit` (TypeScript and @cloudflare/workers-types from tests/runtime/node_modules, a
   generated tsconfig, unresolved imports typed `any` through a `declare module "*"` shim)
   reports no error that was not there before (file, code, message).

The corpus is read only: each project is copied to a temporary folder first. Usage:

    python scripts/fix_check.py [--corpus ../shared/corpus-dev] [--jobs 2] [--only SUBSTR] [--json]

Exit 0 when every project passes, 1 when one fails, 2 on a usage error. `run_fix_check()` is
the function entry point (the ecosystem check calls it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared/corpus-dev beside the checkout; DURABLE_HARDEN_CORPUS_DEV points elsewhere
DEFAULT_CORPUS = Path(
    os.environ.get("DURABLE_HARDEN_CORPUS_DEV") or ROOT.parent / "shared" / "corpus-dev"
)
NODE_MODULES = ROOT / "tests" / "runtime" / "node_modules"
TSC = NODE_MODULES / ".bin" / "tsc"
SOURCE_SUFFIXES = {".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".jsx"}
SKIP_DIRS = {"node_modules", ".git", ".wrangler", "dist", "build", ".turbo"}
TSCONFIG_NAME = "tsconfig.durable-harden-check.json"
SHIM_NAME = "durable-harden-check-shim.d.ts"
# TS2347 "Untyped function calls may not accept type arguments" is an artifact of the shim that
# types unresolved third-party imports as `any`: a DO class extending a library's base (Agent,
# AIChatAgent, ...) then has an untyped `this.ctx`, and a fix's `this.ctx.storage.sql.exec<Row>(…)`
# (typed by @cloudflare/workers-types in the real project, where the base class is typed) reads
# as a call of `any` with type arguments. It can only arise on such untyped callees, so it is not
# counted as a new error.
SHIM_ARTIFACTS = frozenset({"TS2347"})
# `path(line,col): error TS1234: message`
_TSC_LINE = re.compile(
    r"^(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$"
)


@dataclass
class ProjectResult:
    project: str  # owner__repo/folder
    edited: list[str] = field(default_factory=list)  # files harden changed or created
    harden_exit: int | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


# -- inputs ----------------------------------------------------------------------------------


def manifest_projects(corpus: Path) -> list[Path]:
    """Every project folder of MANIFEST.tsv, as a path inside the corpus."""
    rows: list[Path] = []
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            folder = corpus / row["repo"].replace("/", "__", 1)
            project = row["project_folder"].strip()
            if project.endswith("(imported)"):
                continue  # in-repo files outside any project folder (README), not a project
            rows.append(folder if project in {"", "."} else folder / project)
    return rows


def _sources(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


# -- the four checks -------------------------------------------------------------------------


def error_regions(path: Path, data: bytes) -> Counter[bytes]:
    """The text of each tree-sitter ERROR/MISSING region of a source file."""
    from durable_harden.analyzers.source import SourceError, parse_source

    try:
        source = parse_source(path, data)
    except SourceError:
        return Counter()
    return Counter(data[start:end] for start, end in source.error_ranges)


JS_SUFFIXES = {".js", ".mjs", ".cjs"}


def node_syntax_error(path: Path, data: bytes) -> str | None:
    """`node --check` on a JavaScript file's bytes: tree-sitter reads JavaScript with the
    TypeScript grammar, so a type annotation written into a .js file needs node to be seen."""
    if shutil.which("node") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="fix-check-js-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(data)
        proc = subprocess.run(
            ["node", "--check", str(copy)], capture_output=True, text=True, timeout=60
        )
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if "Error" in line]
    return lines[0] if lines else proc.stderr.strip()[:200]


def finding_keys(root: Path) -> Counter[tuple[str, str, str]]:
    from durable_harden.analyzers.analysis import analyze_paths

    result = analyze_paths([root])
    keys: Counter[tuple[str, str, str]] = Counter()
    for finding in result.findings:
        try:
            rel = finding.span.path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = str(finding.span.path)
        keys[(finding.rule_id, rel, finding.message)] += 1
    return keys


def write_tsconfig(root: Path) -> Path:
    """A tsconfig for the check, beside the project's own (which is left alone): strict, the
    workers types, every source under the folder, unresolved modules typed `any`."""
    (root / SHIM_NAME).write_text(
        "// Generated by scripts/fix_check.py: modules tsc cannot resolve are `any`.\n"
        'declare module "*";\n',
        encoding="utf-8",
    )
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "ESNext",
            "moduleResolution": "Bundler",
            "lib": ["ESNext"],
            "types": ["@cloudflare/workers-types"],
            "typeRoots": [str(NODE_MODULES)],
            "strict": True,
            "noEmit": True,
            "skipLibCheck": True,
            "allowJs": False,
            "jsx": "react-jsx",
            "allowImportingTsExtensions": True,
            "resolveJsonModule": True,
            "esModuleInterop": True,
            "experimentalDecorators": True,
            "useDefineForClassFields": True,
        },
        # "cloudflare:test" typed as in a project with vitest-pool-workers installed, so the
        # tests harden generates are checked with their real types
        "files": [
            str(
                NODE_MODULES
                / "@cloudflare"
                / "vitest-pool-workers"
                / "types"
                / "cloudflare-test.d.ts"
            )
        ],
        "include": ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"],
        "exclude": ["**/node_modules/**"],
    }
    path = root / TSCONFIG_NAME
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def tsc_errors(root: Path) -> Counter[tuple[str, str, str]]:
    """(file, code, message) of every tsc error; positions are left out (edits move them)."""
    config = write_tsconfig(root)
    proc = subprocess.run(
        [str(TSC), "--noEmit", "-p", str(config), "--pretty", "false"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors: Counter[tuple[str, str, str]] = Counter()
    for line in proc.stdout.splitlines():
        # the copy's own path differs between the two runs: messages name files relative to it
        line = line.replace(str(root.resolve()) + "/", "").replace(str(root) + "/", "")
        match = _TSC_LINE.match(line.strip())
        if match is not None:
            errors[(match["file"], match["code"], match["msg"])] += 1
        elif line.startswith("error TS"):
            errors[("", line.split(":", 1)[0][6:], line.split(":", 1)[-1].strip())] += 1
    for name in (TSCONFIG_NAME, SHIM_NAME):
        (root / name).unlink(missing_ok=True)
    return errors


def harden(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "durable_harden", "harden", str(root), "--unsafe-fixes", "--yes"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _changed(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    return sorted(k for k in after if before.get(k) != after[k]) + sorted(
        k for k in before if k not in after
    )


def check_project(project: Path, corpus: Path, typecheck: bool = True) -> ProjectResult:
    """Harden a copy of one project folder and run the four checks on it."""
    result = ProjectResult(project.relative_to(corpus).as_posix())
    with tempfile.TemporaryDirectory(prefix="fix-check-") as tmp:
        root = Path(tmp) / project.name
        shutil.copytree(project, root, ignore=shutil.ignore_patterns(*SKIP_DIRS), symlinks=True)
        before = _sources(root)
        findings_before = finding_keys(root)
        first = harden(root)
        result.harden_exit = first.returncode
        if first.returncode not in (0, 1):
            result.failures.append(f"harden exited {first.returncode}: {first.stderr.strip()}")
            return result
        after = _sources(root)
        result.edited = _changed(before, after)
        if not result.edited:
            result.notes.append("nothing to apply")
            return result
        # 1. parses: no new ERROR region in any edited or created source file
        for rel in result.edited:
            path = root / rel
            if path.suffix not in SOURCE_SUFFIXES or rel not in after:
                continue
            old = error_regions(path, before.get(rel, b""))
            new = error_regions(path, after[rel])
            added = new - old
            if added:
                shown = ", ".join(repr(t[:60].decode(errors="replace")) for t in added)
                result.failures.append(f"{rel}: new syntax error region(s): {shown}")
            if path.suffix in JS_SUFFIXES:
                error = node_syntax_error(path, after[rel])
                if error is not None and node_syntax_error(path, before.get(rel, b"")) is None:
                    result.failures.append(f"{rel}: no longer JavaScript node accepts: {error}")
        # 2. idempotent
        second = harden(root)
        again = _sources(root)
        if _changed(after, again):
            result.failures.append("a second harden changed " + ", ".join(_changed(after, again)))
        # 3. no new finding
        appeared = finding_keys(root) - findings_before
        for (rule, rel, message), count in sorted(appeared.items()):
            result.failures.append(f"new finding {rule} in {rel} (x{count}): {message}")
        # 4. no new tsc error (the original is type-checked on a second, pristine copy)
        if typecheck and TSC.exists():
            pristine = Path(tmp) / "pristine" / project.name
            shutil.copytree(
                project, pristine, ignore=shutil.ignore_patterns(*SKIP_DIRS), symlinks=True
            )
            tsc_before = tsc_errors(pristine)
            tsc_after = tsc_errors(root)
            for (rel, code, message), count in sorted((tsc_after - tsc_before).items()):
                if code in SHIM_ARTIFACTS:
                    result.notes.append(f"tsc {code} in {rel} (x{count}) ignored: {message}")
                    continue
                result.failures.append(f"new tsc error {code} in {rel} (x{count}): {message}")
        elif typecheck:
            result.notes.append(
                "tsc not installed (npm ci --prefix tests/runtime): not type-checked"
            )
        del second
    return result


# -- running ---------------------------------------------------------------------------------


def _check_one(args: tuple[str, str, bool]) -> ProjectResult:
    project, corpus, typecheck = args
    try:
        return check_project(Path(project), Path(corpus), typecheck)
    except Exception as exc:  # one broken project must not hide the others' results
        result = ProjectResult(Path(project).relative_to(corpus).as_posix())
        result.failures.append(f"fix check crashed: {type(exc).__name__}: {exc}")
        return result


def run_fix_check(
    corpus: Path = DEFAULT_CORPUS,
    jobs: int = 2,
    only: Sequence[str] = (),
    typecheck: bool = True,
) -> list[ProjectResult]:
    """Check every project of the corpus (those whose path contains one of `only`, if given)."""
    projects = [
        p
        for p in manifest_projects(corpus)
        if not only or any(o in p.relative_to(corpus).as_posix() for o in only)
    ]
    work = [(str(p), str(corpus), typecheck) for p in projects]
    if jobs <= 1:
        return [_check_one(w) for w in work]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_check_one, work))


def render(results: Iterable[ProjectResult]) -> str:
    lines: list[str] = []
    results = list(results)
    for r in results:
        status = "ok  " if r.ok else "FAIL"
        edited = f"{len(r.edited)} file(s) edited" if r.edited else "; ".join(r.notes) or "-"
        lines.append(f"{status} {r.project}: {edited}")
        lines.extend(f"       {f}" for f in r.failures)
    failed = sum(1 for r in results if not r.ok)
    lines.append(
        f"fix check: {len(results) - failed} passed, {failed} failed, {len(results)} projects"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", action="append", default=[], help="project path substring")
    parser.add_argument("--no-tsc", action="store_true", help="skip the type-check step")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    if not (args.corpus / "MANIFEST.tsv").exists():
        print(f"fix_check: no MANIFEST.tsv in {args.corpus}", file=sys.stderr)
        return 2
    results = run_fix_check(args.corpus.resolve(), args.jobs, args.only, not args.no_tsc)
    if args.json:
        print(json.dumps([asdict(r) | {"ok": r.ok} for r in results], indent=2))
    else:
        sys.stdout.write(render(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
