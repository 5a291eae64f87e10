#!/usr/bin/env python3
"""Record what the tool finds and fixes, and compare a later run with that record.

A refactor must keep the same findings and the same fixes. This script records, for
each example project and (when present) each folder of the development corpus:

- ``check --output-format json`` (findings with their fix edits),
- ``harden --unsafe-fixes --diff`` (the whole-project plan; example projects only),
- ``check --fix`` applied to a scratch copy (the files it changes).

Usage (run from the worktree, with PYTHONPATH pointing at it)::

    python3 scripts/compare_findings.py record /tmp/base
    python3 scripts/compare_findings.py compare /tmp/base      # exit 1 on a difference
    python3 scripts/compare_findings.py compare /tmp/base --skip-corpus

Absolute paths of the checkout are replaced by ``<ROOT>`` so records taken in two
worktrees compare equal.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DURABLE_HARDEN_CORPUS", ROOT.parent.parent / "shared" / "corpus-dev"))
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus-dev")


def _run(args: list[str], cwd: Path | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "durable_harden", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = f"exit {proc.returncode}\n{proc.stdout}"
    if proc.returncode == 2 or "Traceback" in proc.stderr:  # a crash: keep what it said
        out += f"\n--- stderr\n{proc.stderr}"
    return out


def _normalise(text: str, *roots: Path) -> str:
    for root in roots:
        text = text.replace(str(root), "<ROOT>")
    return text


def _examples() -> list[Path]:
    return sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _fixed_tree(project: Path) -> str:
    """Run ``check --fix`` on a scratch copy; return the changed files' text."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / project.name
        shutil.copytree(
            project, copy, symlinks=True, ignore=shutil.ignore_patterns("node_modules", ".git")
        )
        report = _run(["check", "--fix", "--exit-zero", "--no-color", str(copy)])
        out = [_normalise(report, copy)]
        for path in sorted(copy.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(copy)
            original = project / rel
            text = path.read_text(encoding="utf-8", errors="replace")
            if (
                not original.is_file()
                or original.read_text(encoding="utf-8", errors="replace") != text
            ):
                out.append(f"=== {rel}\n{text}")
        return "\n".join(out)


def record_all(dest: Path, skip_corpus: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for project in _examples():
        name = f"examples__{project.name}"
        (dest / f"{name}.json").write_text(
            _normalise(
                _run(["check", "--output-format", "json", "--exit-zero", str(project)]), ROOT
            )
        )
        (dest / f"{name}.harden.diff").write_text(
            _normalise(_run(["harden", "--unsafe-fixes", "--diff", str(project)]), ROOT)
        )
        (dest / f"{name}.fix.txt").write_text(_normalise(_fixed_tree(project), ROOT))
        print(f"recorded {name}", flush=True)
    if skip_corpus:
        return
    for folder in _corpus():
        (dest / f"corpus__{folder.name}.json").write_text(
            _normalise(
                _run(["check", "--output-format", "json", "--exit-zero", str(folder)]),
                CORPUS,
                ROOT,  # rule URLs name the tool's own checkout
            )
        )
        (dest / f"corpus__{folder.name}.fix.txt").write_text(
            _normalise(_fixed_tree(folder), CORPUS, ROOT)
        )
        print(f"recorded corpus__{folder.name}", flush=True)


def compare(base: Path, skip_corpus: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        now = Path(tmp)
        record_all(now, skip_corpus)
        differences = 0
        for new in sorted(now.iterdir()):
            old = base / new.name
            if not old.exists():
                print(f"NEW   {new.name} (no baseline)")
                continue
            a = old.read_text().splitlines(keepends=True)
            b = new.read_text().splitlines(keepends=True)
            if a != b:
                differences += 1
                print(f"DIFF  {new.name}")
                sys.stdout.writelines(list(difflib.unified_diff(a, b, "before", "after", n=2))[:80])
        print(f"{differences} file(s) differ")
        return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["record", "compare"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--skip-corpus", action="store_true", help="example projects only")
    args = parser.parse_args()
    if args.mode == "record":
        record_all(args.folder, args.skip_corpus)
        return 0
    return compare(args.folder, args.skip_corpus)


if __name__ == "__main__":
    sys.exit(main())
