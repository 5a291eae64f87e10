#!/usr/bin/env python3
"""The ecosystem check: run `durable-harden check` over every project of a corpus of real
third-party Durable Object code and compare the findings with a committed triage file.

    python3 scripts/ecosystem.py [--corpus ../shared/corpus-dev] [--triage tests/ecosystem/triage.tsv]

It prints crashes, precision (correct / (correct + wrong)) overall and per rule, the findings not
yet triaged, the triaged findings that disappeared, and the MANIFEST classes `inspect` does not
find. It exits 1 on a crash, on a finding triaged `wrong` that is still reported, on an untriaged
finding, on a `correct` finding that disappeared (recall lost), on a MANIFEST class not found
and not explained, or when precision is under the bar; 0 otherwise. See docs/ecosystem.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus-dev"
DEFAULT_TRIAGE = REPO / "tests" / "ecosystem" / "triage.tsv"
VERDICTS = ("correct", "wrong", "debatable")
# rows of the triage file that explain a MANIFEST class `inspect` does not find
MISSING_CLASS = "missing-class"
TRIAGE_HEADER = ("rule", "path", "line", "key", "verdict", "reason")
PRECISION_BAR = 0.95
RULE_BAR = 0.85
KEY_LENGTH = 60
SEEN_BOUND_CLASSES = frozenset({"class", "value", "package", "alias"})


@dataclass(frozen=True)
class Project:
    folder: str  # relative to the corpus root, posix
    do_classes: tuple[str, ...]


@dataclass(frozen=True)
class Found:
    rule: str
    path: str  # relative to the corpus root
    line: int
    column: int
    message: str
    key: str  # the finding's source line, whitespace collapsed, cut to KEY_LENGTH


@dataclass
class Triaged:
    rule: str
    path: str
    line: int
    key: str
    verdict: str
    reason: str


@dataclass
class Report:
    crashes: list[str] = field(default_factory=list)
    matched: list[tuple[Found, Triaged]] = field(default_factory=list)
    untriaged: list[Found] = field(default_factory=list)
    disappeared: list[Triaged] = field(default_factory=list)
    missing_classes: list[tuple[str, str]] = field(default_factory=list)  # (project, class)
    explained_missing: list[tuple[str, str, str]] = field(default_factory=list)

    def precision(self, rule: str | None = None) -> tuple[int, int, int]:
        """(correct, wrong, debatable) among the reported findings (of one rule)."""
        counts = {v: 0 for v in VERDICTS}
        for found, row in self.matched:
            if rule is None or found.rule == rule:
                counts[row.verdict] += 1
        return counts["correct"], counts["wrong"], counts["debatable"]

    @property
    def still_wrong(self) -> list[tuple[Found, Triaged]]:
        return [(f, t) for f, t in self.matched if t.verdict == "wrong"]

    @property
    def lost(self) -> list[Triaged]:
        return [t for t in self.disappeared if t.verdict == "correct"]


# -- the corpus ------------------------------------------------------------------------------
def read_manifest(corpus: Path) -> list[Project]:
    """MANIFEST.tsv: one row per project folder (`repo` owner/name + `project_folder`)."""
    projects: list[Project] = []
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            repo = row["repo"].replace("/", "__")
            folder = row["project_folder"].split(" (", 1)[0].strip()  # "x (imported)"
            path = repo if folder in {"", "."} else f"{repo}/{folder}"
            classes = tuple(c for c in (row.get("do_classes") or "").split(",") if c)
            projects.append(Project(path, classes))
    return projects


def source_key(path: Path, line: int, cache: dict[Path, list[str]]) -> str:
    lines = cache.get(path)
    if lines is None:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        cache[path] = lines
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return " ".join(text.split())[:KEY_LENGTH]


def _command() -> list[str]:
    return [sys.executable, "-m", "durable_harden"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    # every run is cold and writes nothing into the corpus (it is test data, read-only in CI)
    env["DURABLE_HARDEN_NO_CACHE"] = "1"
    return env


def run_check(corpus: Path, folder: str) -> tuple[list[Found], str | None]:
    """`check --output-format json` on one folder: (findings, crash description or None)."""
    target = corpus / folder
    proc = subprocess.run(
        [
            *_command(),
            "check",
            str(target),
            "--output-format",
            "json",
            "--exit-zero",
            # the opt-in rules are measured too: their findings keep their verdicts
            "--extend-select",
            "advice",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=corpus,
        check=False,
    )
    if proc.returncode != 0 or "internal error" in proc.stderr:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        return [], f"{folder}: exit {proc.returncode}\n{tail}"
    try:
        items = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return [], f"{folder}: output is not JSON ({exc})"
    lines: dict[Path, list[str]] = {}
    found: list[Found] = []
    for item in items:
        path = Path(item["filename"])
        line = int(item["location"]["row"])
        try:
            rel = path.resolve().relative_to(corpus.resolve()).as_posix()
        except ValueError:
            rel = path.as_posix()
        found.append(
            Found(
                item["code"],
                rel,
                line,
                int(item["location"]["column"]),
                item["message"],
                source_key(path, line, lines),
            )
        )
    return found, None


def run_inspect(corpus: Path, folder: str) -> tuple[set[str], str | None]:
    proc = subprocess.run(
        [*_command(), "inspect", str(corpus / folder)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=corpus,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        return set(), f"{folder}: inspect exit {proc.returncode}\n{tail}"
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return set(), f"{folder}: inspect output is not JSON ({exc})"
    names = {c["name"] for c in data.get("classes", [])}
    # a bound class made by a factory, imported from a package or exported under an alias is
    # seen too (it has no class declaration in the project)
    names |= {
        b["class"] for b in data.get("bound_classes", []) if b.get("how") in SEEN_BOUND_CLASSES
    }
    return names, None


# -- the triage file -------------------------------------------------------------------------
def read_triage(path: Path) -> list[Triaged]:
    if not path.exists():
        return []
    rows: list[Triaged] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, 1):
            row = line.rstrip("\n").split("\t") if line.strip() else []
            if not row or row[0].startswith("#") or tuple(row[:2]) == TRIAGE_HEADER[:2]:
                continue
            if len(row) != len(TRIAGE_HEADER):
                raise SystemExit(f"{path}:{number}: expected {len(TRIAGE_HEADER)} columns")
            rule, rel, line, key, verdict, reason = row
            if verdict not in VERDICTS:
                raise SystemExit(f"{path}:{number}: verdict {verdict!r} not in {VERDICTS}")
            rows.append(Triaged(rule, rel, int(line), key, verdict, reason))
    return rows


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def write_triage(path: Path, rows: Iterable[Triaged]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: (r.path, r.line, r.rule, r.key))
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(TRIAGE_HEADER) + "\n")
        for r in ordered:
            fields = [r.rule, r.path, str(r.line), _clean(r.key), r.verdict, _clean(r.reason)]
            handle.write("\t".join(fields) + "\n")


def match(
    found: Sequence[Found], triaged: Sequence[Triaged]
) -> tuple[list[tuple[Found, Triaged]], list[Found], list[Triaged]]:
    """Pair findings with triage rows of the same rule and file: same line and source text
    first, then the same text nearest by line (the code moved), then the same line (the text
    changed). Returns (pairs, untriaged findings, rows whose finding disappeared)."""
    rows_by: dict[tuple[str, str], list[Triaged]] = defaultdict(list)
    for row in triaged:
        if row.rule != MISSING_CLASS:
            rows_by[(row.rule, row.path)].append(row)
    found_by: dict[tuple[str, str], list[Found]] = defaultdict(list)
    for item in found:
        found_by[(item.rule, item.path)].append(item)
    pairs: list[tuple[Found, Triaged]] = []
    untriaged: list[Found] = []
    for group, items in found_by.items():
        rows = list(rows_by.get(group, []))
        left: list[Found] = []
        for item in items:
            hit = next((r for r in rows if r.line == item.line and r.key == _clean(item.key)), None)
            if hit is None:
                left.append(item)
            else:
                rows.remove(hit)
                pairs.append((item, hit))
        later: list[Found] = []
        for item in left:
            same = [r for r in rows if r.key == _clean(item.key)]
            if same:
                hit = min(same, key=lambda r: abs(r.line - item.line))
                rows.remove(hit)
                pairs.append((item, hit))
            else:
                later.append(item)
        for item in later:
            hit = next((r for r in rows if r.line == item.line), None)
            if hit is None:
                untriaged.append(item)
            else:
                rows.remove(hit)
                pairs.append((item, hit))
        rows_by[group] = rows
    disappeared = [r for rows in rows_by.values() for r in rows]
    return pairs, untriaged, disappeared


# -- running ---------------------------------------------------------------------------------
def collect(
    corpus: Path, projects: Sequence[Project], jobs: int
) -> tuple[list[Found], list[str], dict[str, set[str]]]:
    """Findings of every project (deduplicated), crashes, and the classes inspect finds."""
    folders = sorted({p.folder for p in projects})
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        checks = list(pool.map(lambda f: run_check(corpus, f), folders))
        inspections = list(pool.map(lambda f: run_inspect(corpus, f), folders))
    crashes: list[str] = []
    seen: dict[tuple[str, str, int, int, str], Found] = {}
    for found, crash in checks:
        if crash is not None:
            crashes.append(crash)
        for item in found:
            seen.setdefault((item.rule, item.path, item.line, item.column, item.message), item)
    classes: dict[str, set[str]] = {}
    for folder, (names, crash) in zip(folders, inspections, strict=True):
        if crash is not None:
            crashes.append(crash)
        classes[folder] = names
    return list(seen.values()), crashes, classes


def consistency(
    corpus: Path, projects: Sequence[Project], found: Sequence[Found], jobs: int, root: bool
) -> list[str]:
    """Findings must not depend on the folder `check` starts from: each repository folder (and
    with `root`, the corpus root) gives, inside the project folders, what the project folders
    gave one by one. Returns the differences."""
    folders = sorted({p.folder for p in projects})

    def inside(path: str) -> bool:
        return any(path == f or path.startswith(f + "/") for f in folders)

    def key(item: Found) -> tuple[str, str, int, int, str]:
        return (item.rule, item.path, item.line, item.column, item.message)

    expected = {key(f) for f in found}
    starts = [""] if root else sorted({f.split("/", 1)[0] for f in folders})
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = list(pool.map(lambda start: run_check(corpus, start or "."), starts))
    got: set[tuple[str, str, int, int, str]] = set()
    problems: list[str] = []
    for start, (items, crash) in zip(starts, runs, strict=True):
        if crash is not None:
            problems.append(f"crash when started from {start or 'the corpus root'}: {crash}")
        got |= {key(f) for f in items if inside(f.path)}
    if not root:
        repos = set(starts)
        expected = {k for k in expected if k[1].split("/", 1)[0] in repos}
    for rule, path, line, _, message in sorted(expected - got):
        problems.append(f"only per project: {rule} {path}:{line}: {message[:100]}")
    for rule, path, line, _, message in sorted(got - expected):
        problems.append(f"only from a wider folder: {rule} {path}:{line}: {message[:100]}")
    return problems


def evaluate(
    corpus: Path, triage: list[Triaged], projects: Sequence[Project], jobs: int
) -> tuple[Report, list[Found]]:
    found, crashes, classes = collect(corpus, projects, jobs)
    report = Report(crashes=crashes)
    report.matched, report.untriaged, report.disappeared = match(found, triage)
    explained = {(r.path, r.key): r for r in triage if r.rule == MISSING_CLASS}
    for project in projects:
        for name in project.do_classes:
            if name in classes.get(project.folder, set()):
                continue
            row = explained.get((project.folder, name))
            if row is None:
                report.missing_classes.append((project.folder, name))
            else:
                report.explained_missing.append((project.folder, name, row.reason))
    return report, found


def _pct(correct: int, wrong: int) -> str:
    total = correct + wrong
    return f"{100.0 * correct / total:5.1f}%" if total else "   n/a"


def render(report: Report, out: TextIO | None = None) -> None:
    def say(text: str = "") -> None:
        print(text, file=out or sys.stdout)

    say(f"== crashes: {len(report.crashes)}")
    for crash in report.crashes:
        say(f"  {crash}")
    correct, wrong, debatable = report.precision()
    say(
        f"== precision: {_pct(correct, wrong)} "
        f"(correct {correct}, wrong {wrong}, debatable {debatable})"
    )
    rules = sorted({f.rule for f, _ in report.matched} | {f.rule for f in report.untriaged})
    for rule in rules:
        c, w, d = report.precision(rule)
        untriaged = sum(1 for f in report.untriaged if f.rule == rule)
        extra = f", untriaged {untriaged}" if untriaged else ""
        say(f"  {rule:<36} {_pct(c, w)}  correct {c}, wrong {w}, debatable {d}{extra}")
    say(f"== still reported although triaged wrong: {len(report.still_wrong)}")
    for found, row in report.still_wrong:
        say(f"  {found.rule} {found.path}:{found.line}  ({row.reason})")
    say(f"== untriaged: {len(report.untriaged)}")
    for found in sorted(report.untriaged, key=lambda f: (f.path, f.line)):
        say(f"  {found.rule} {found.path}:{found.line}: {found.message}")
    fixed = [r for r in report.disappeared if r.verdict == "wrong"]
    others = [r for r in report.disappeared if r.verdict != "wrong"]
    say(f"== triaged findings that disappeared: {len(report.disappeared)}")
    if fixed:
        # rows of wrong findings stay in the triage file: they fail the check if they come back
        say(f"  {len(fixed)} triaged wrong (fixed; kept as regression guards)")
    for row in others:
        say(f"  [{row.verdict}] {row.rule} {row.path}:{row.line}  ({row.reason})")
    say(f"== MANIFEST classes inspect does not find: {len(report.missing_classes)}")
    for folder, name in report.missing_classes:
        say(f"  {folder}: {name}")
    for folder, name, reason in report.explained_missing:
        say(f"  (explained) {folder}: {name}: {reason}")


def failures(report: Report) -> list[str]:
    reasons: list[str] = []
    if report.crashes:
        reasons.append(f"{len(report.crashes)} crash(es)")
    if report.still_wrong:
        reasons.append(f"{len(report.still_wrong)} finding(s) triaged wrong still reported")
    if report.untriaged:
        reasons.append(f"{len(report.untriaged)} untriaged finding(s)")
    if report.lost:
        reasons.append(f"{len(report.lost)} correct finding(s) no longer reported")
    if report.missing_classes:
        reasons.append(f"{len(report.missing_classes)} MANIFEST class(es) not found")
    correct, wrong, _ = report.precision()
    if correct + wrong and correct / (correct + wrong) < PRECISION_BAR:
        reasons.append(f"precision under {PRECISION_BAR:.0%}")
    for rule in sorted({f.rule for f, _ in report.matched}):
        c, w, _ = report.precision(rule)
        if c + w and c / (c + w) < RULE_BAR:
            reasons.append(f"{rule} under {RULE_BAR:.0%}")
    return reasons


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus_path",
        nargs="?",
        type=Path,
        default=None,
        metavar="CORPUS",
        help="the corpus folder (same as --corpus)",
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--triage", type=Path, default=DEFAULT_TRIAGE)
    parser.add_argument("--jobs", type=int, default=2, help="checks run at once (default 2)")
    parser.add_argument(
        "--project", action="append", default=[], help="only this project folder (repeatable)"
    )
    parser.add_argument(
        "--untriaged-out",
        type=Path,
        default=None,
        help="also write the untriaged findings as triage rows (verdict to fill in) to this file",
    )
    parser.add_argument(
        "--consistency",
        choices=("off", "repos", "root"),
        default="repos",
        help="also run check from each repository folder (repos, default) or from the corpus "
        "root (root) and compare with the per-project results",
    )
    args = parser.parse_args(argv)
    # the checks run from other folders: an absolute path
    corpus: Path = (args.corpus_path or args.corpus).resolve()
    if not (corpus / "MANIFEST.tsv").is_file():
        print(f"ecosystem: no corpus at {corpus} (MANIFEST.tsv missing)", file=sys.stderr)
        return 2
    projects = read_manifest(corpus)
    if args.project:
        wanted = {p.rstrip("/") for p in args.project}
        projects = [p for p in projects if p.folder in wanted]
    triage = read_triage(args.triage)
    if args.project:
        triage = [
            t
            for t in triage
            if any(t.path == p.folder or t.path.startswith(p.folder + "/") for p in projects)
        ]
    report, found = evaluate(corpus, triage, projects, args.jobs)
    render(report)
    differences: list[str] = []
    if args.consistency != "off":
        differences = consistency(corpus, projects, found, args.jobs, args.consistency == "root")
        print(f"== results that depend on the starting folder: {len(differences)}")
        for line in differences:
            print(f"  {line}")
    if args.untriaged_out is not None:
        rows = [Triaged(f.rule, f.path, f.line, f.key, "?", f.message) for f in report.untriaged]
        args.untriaged_out.parent.mkdir(parents=True, exist_ok=True)
        with args.untriaged_out.open("w", encoding="utf-8") as handle:
            for r in sorted(rows, key=lambda r: (r.rule, r.path, r.line)):
                handle.write(
                    "\t".join(
                        [r.rule, r.path, str(r.line), _clean(r.key), r.verdict, _clean(r.reason)]
                    )
                    + "\n"
                )
    reasons = failures(report)
    if differences:
        reasons.append(f"{len(differences)} finding(s) depend on the folder check starts from")
    if reasons:
        print(f"ecosystem: FAILED: {'; '.join(reasons)}", file=sys.stderr)
        return 1
    print("ecosystem: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
