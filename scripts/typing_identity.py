#!/usr/bin/env python3
"""Real typing into real Durable Object files: the language server's incremental analysis
finds what a fresh analysis finds after every keystroke.

    python3 scripts/typing_identity.py [--corpus ../shared/corpus-dev] [--files 12] [--every 1]
                                       [--constants]

For each of `--files` DO files of the corpus (one per repository, 150-1,500 lines, a class
that `extends DurableObject` with a blank line between members), its project is copied to a
scratch folder (the corpus is never written), the file is opened in an `Engine`, and texts are
typed one character at a time at a random blank line of the class body, as an editor with
auto-closed brackets sends them (bench/typing_edits.py `keystrokes`): a method with typed
parameters and SQL, then two fields (one a generic `Map`). After every `--every`-th keystroke
the open file's findings are compared with a fresh `analyze_paths` of the copy
(tests/test_speed_incremental.py `Session.compare`). Prints each mismatch and a last line
`typing_identity files=… keystrokes=… mismatches=…`; exits 1 on a mismatch. Not a test (the
corpus is test data that the suite must not need); docs/performance.md, "real typing".
`--constants` types instead into each top-level SQL string constant of the corpus (`, tag TEXT`
into a CREATE TABLE, else a comment), any file, not only DO files (docs/performance.md,
"typing in a top-level constant").
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from typing_edits import keystrokes  # noqa: E402

from durable_harden.analyzers.roots import context_root  # noqa: E402
from tests.test_speed_incremental import Session  # noqa: E402

TYPED = [
    "\n  async countRows(owner: string, limit: number): Promise<number> {\n"
    '    const rows = this.ctx.storage.sql.exec("SELECT id FROM items WHERE owner = ? LIMIT ?",'
    " owner, limit).toArray();\n    return rows.length as number;\n  }\n",
    "\n  private seen = new Map<string, number>();\n  tag: string | null = null;",
]
CLASS = re.compile(r"extends DurableObject[^{]*\{")
BLANK = re.compile(r"\n\n  [a-zA-Z]")
# `--constants`: a top-level string constant (its opening quote ends the match) holding SQL, and
# what is typed into it (before a CREATE TABLE's last `)`, else before its closing quote)
CONSTANT = re.compile(r"^(?:export )?const (\w+)(?:: *string)? = ([`\"'])", re.M)
SQL_WORD = re.compile(r"\b(?:CREATE|SELECT|INSERT|UPDATE|DELETE)\b", re.I)
CONSTANT_TYPED = (", tag TEXT", " /* typed */")


def _sources(corpus: Path) -> Iterator[tuple[Path, str]]:
    """(path, text) of the corpus's TypeScript sources (no node_modules, no `.d.ts`)."""
    for path in sorted(corpus.rglob("*.ts")):
        if "node_modules" in path.parts or path.name.endswith(".d.ts"):
            continue
        try:
            yield path, path.read_text()
        except (OSError, UnicodeDecodeError):
            continue


def do_files(corpus: Path, count: int) -> list[Path]:
    """One DO file per repository of the corpus (the largest under 1,500 lines)."""
    found: dict[str, tuple[int, Path]] = {}
    for path, text in _sources(corpus):
        lines = text.count("\n")
        if not (150 <= lines <= 1500) or CLASS.search(text) is None:
            continue
        repo = path.relative_to(corpus).parts[0]
        if lines > found.get(repo, (0, path))[0]:
            found[repo] = (lines, path)
    return [path for _, path in sorted(found.values(), key=lambda x: str(x[1]))][:count]


def constant_files(corpus: Path, count: int) -> list[tuple[Path, int, str]]:
    """The top-level SQL string constants of the corpus (the corpus holds a dozen): (file,
    where to type, what)."""
    found: list[tuple[Path, int, str]] = []
    for path, text in _sources(corpus):
        if text.count("\n") > 3000:
            continue
        for match in CONSTANT.finditer(text):
            quote = match.group(2)
            end = text.find(quote, match.end())
            literal = text[match.end() : end] if end >= 0 else ""
            if not SQL_WORD.search(literal) or "${" in literal:
                continue
            if "CREATE TABLE" in literal.upper() and ")" in literal:
                found.append((path, match.end() + literal.rindex(")"), CONSTANT_TYPED[0]))
            elif quote == "`" or "\n" not in literal:
                found.append((path, end, CONSTANT_TYPED[1]))
    return found[:count]


class Tally:
    """Keystrokes typed, compared with a fresh analysis and found to differ, spliced."""

    def __init__(self) -> None:
        self.files = self.keystrokes = self.mismatches = self.spliced = 0


def type_into(
    corpus: Path, path: Path, places: list[tuple[int, str]], every: int, tally: Tally
) -> None:
    """Each (offset, text) of `places` typed into a copy of `path`'s project, one after the
    other, each undone at once after its last keystroke; the engine's findings compared with a
    fresh analysis after every `every`-th keystroke (the first mismatch ends that text)."""
    root = context_root(path)
    text = path.read_text()
    name = path.relative_to(corpus)
    tally.files += 1
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(
            root, copy, ignore=shutil.ignore_patterns("node_modules", ".git"), symlinks=True
        )
        target = copy / path.relative_to(root)
        session = Session(copy, [target])
        session.compare("opening")
        for at, typed in places:
            buffer = text
            for number, (offset, inserted) in enumerate(keystrokes(typed)):
                buffer = buffer[: at + offset] + inserted + buffer[at + offset :]
                session.write(target, buffer.encode())
                tally.keystrokes += 1
                if number % every:
                    continue
                try:
                    session.compare(f"{name} keystroke {number}")
                except AssertionError as exc:
                    tally.mismatches += 1
                    print(f"MISMATCH {name} keystroke {number}: {exc}")
                    break
                tally.spliced += session.engine.open_parsed[target].memo.get("splice") is not None
            session.write(target, text.encode())
            session.compare("undone")
    print(f"typed into {name}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus-dev")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--every", type=int, default=1, help="compare every n-th keystroke")
    parser.add_argument(
        "--constants", action="store_true", help="type into top-level SQL string constants"
    )
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    tally = Tally()
    if args.constants:
        # the typing of `main`, into a top-level SQL constant of each file (the splice reads
        # the calls that run it again: docs/performance.md, "typing in a top-level constant")
        for path, at, typed in constant_files(corpus, args.files):
            type_into(corpus, path, [(at, typed)], args.every, tally)
        print(
            f"typing_identity constants={tally.files} keystrokes={tally.keystrokes} "
            f"spliced={tally.spliced} mismatches={tally.mismatches}"
        )
        return 1 if tally.mismatches else 0
    for path in do_files(corpus, args.files):
        text = path.read_text()
        match = CLASS.search(text)
        assert match is not None
        blanks = [b.start() + 1 for b in BLANK.finditer(text) if b.start() > match.end()]
        if not blanks:
            continue
        rng = random.Random(str(path.relative_to(corpus)))
        type_into(corpus, path, [(rng.choice(blanks), typed) for typed in TYPED], args.every, tally)
    print(
        f"typing_identity files={tally.files} keystrokes={tally.keystrokes} "
        f"mismatches={tally.mismatches}"
    )
    return 1 if tally.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
