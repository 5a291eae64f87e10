"""The check split by project (analyzers.split) against the one-model check, on real folders.

    python3 scripts/split_check.py PATH... [--each] [--cost]

For each PATH (a folder, analysed as `check PATH` would: `analysis.workspace_for`), the files
are grouped by `split.plan_groups`, each group is analysed alone (same root, every rule on,
opt-in ones too) and the union of the groups' findings (rule, place, message, severity, related
places, data, and the fixes `codeactions.fixes_for` builds; the binding-class-not-found hint
recomputed by `split.rehint`, as the merge does) and problems is compared with the analysis of
the whole folder. `--each`: each sub-folder of PATH as a tree of its own too (corpus-dev: one
per repository). `--projects`: PATH's folders holding a wrangler config given together, as
bench/cold_cpu.py --corpus gives them to `check`. `--cost`: the CPU time of plan_groups against a tree-sitter parse of the same
sources (the floor, bench/cold_cpu.py's measure). Exit status 1 when any difference is found.
tests/test_split_groups.py runs the same comparison on the examples, generated monorepos and
hand-written cases.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # durable_harden from this checkout when it is not installed

from durable_harden.analyzers import analysis, split  # noqa: E402
from durable_harden.analyzers.findings import Finding  # noqa: E402
from durable_harden.analyzers.model import ProjectModel  # noqa: E402
from durable_harden.analyzers.rules import all_rules  # noqa: E402

Key = tuple[Any, ...]


def every_rule() -> analysis.Settings:
    return analysis.Settings(select=[rule.id for rule in all_rules()])


def finding_key(finding: Finding, model: ProjectModel) -> Key:
    """What the report shows of a finding and its fixes, comparable across models."""
    from durable_harden.codeactions import fixes_for

    fixes = tuple(
        (
            fix.fix_id,
            fix.title,
            fix.safety.value,
            tuple((str(e.path), e.start, e.end, e.new_text) for e in fix.edits),
            tuple((str(c.path), c.content) for c in fix.creates),
            fix.review,
            json.dumps(fix.facts, sort_keys=True, default=str),
            fix.isolation,
        )
        for fix in fixes_for(finding, model)
    )
    return (
        str(finding.span.path),
        finding.span.start,
        finding.span.end,
        finding.rule_id,
        finding.message_id,
        finding.message,
        int(finding.severity),
        tuple((str(r.span.path), r.span.start, r.span.end, r.message) for r in finding.related),
        json.dumps(finding.data, sort_keys=True, default=str),
        fixes,
    )


@dataclass
class Outcome:
    name: str
    sources: int
    configs: int
    groups: list[split.Group]
    only_whole: list[Key]
    only_split: list[Key]
    problems_whole: list[tuple[str, str]]
    problems_split: list[tuple[str, str]]
    findings: int

    @property
    def differences(self) -> int:
        return (
            len(self.only_whole)
            + len(self.only_split)
            + (0 if self.problems_whole == self.problems_split else 1)
        )

    def largest_share(self) -> float:
        biggest = max((len(g.sources) for g in self.groups), default=0)
        return biggest / self.sources if self.sources else 0.0


def _analyse(
    root: Path, sources: list[Path], configs: list[Path], settings: analysis.Settings
) -> tuple[ProjectModel, list[Finding]]:
    with analysis.collector_paused():
        model, findings, _ = analysis.analyse_within_budget(root, sources, configs, settings)
    return model, findings


def _problems(model: ProjectModel) -> list[tuple[str, str]]:
    return sorted((str(p.path), p.message) for p in model.problems)


def compare(
    root: Path,
    sources: list[Path],
    configs: list[Path],
    name: str = "",
    without: Collection[str] = (),
    rehint: bool = True,
) -> Outcome:
    """The one-model analysis of the files against the union of their groups' analyses.
    without: plan_groups' conditions left out; rehint: recompute the binding-class-not-found
    hint from every group's classes (as the merge must)."""
    settings = every_rule()
    data: dict[Path, bytes] = {}
    for path in [*sources, *configs]:
        try:
            data[path] = path.read_bytes()
        except OSError:
            continue
    groups = split.plan_groups(root, sources, configs, data, without=without)
    model, findings = _analyse(root, sources, configs, settings)
    whole = Counter(finding_key(f, model) for f in findings)
    problems_whole = _problems(model)
    parts: list[tuple[ProjectModel, list[Finding]]] = [
        _analyse(root, g.sources, g.configs, settings) for g in groups
    ]
    class_names = {c.name for part, _ in parts for c in part.classes}
    got: Counter[Key] = Counter()
    problems_split: list[tuple[str, str]] = []
    for part, found in parts:
        for finding in found:
            config = next(
                (c for c in part.configs if str(c.path) == finding.data.get("config")), None
            )
            bound = {b.class_name for b in config.bindings} if config is not None else set()
            if rehint:
                finding = split.rehint(finding, class_names, bound) or finding
            got[finding_key(finding, part)] += 1
        problems_split += _problems(part)
    return Outcome(
        name=name or str(root),
        sources=len(sources),
        configs=len(configs),
        groups=groups,
        only_whole=sorted((whole - got).elements()),
        only_split=sorted((got - whole).elements()),
        problems_whole=problems_whole,
        problems_split=sorted(problems_split),
        findings=sum(whole.values()),
    )


def _workspace(folder: Path, projects: bool) -> analysis.Workspace:
    """The files `check FOLDER` analyses; projects: those of `check` given every folder under
    FOLDER holding a wrangler config (bench/cold_cpu.py --corpus, bench/peers.py)."""
    if not projects:
        return analysis.workspace_for([folder])
    sys.path.insert(0, str(ROOT / "bench"))
    from peers import corpus_files

    return analysis.workspace_for(corpus_files(folder)[0])


def compare_folder(folder: Path, projects: bool = False) -> Outcome:
    ws = _workspace(folder, projects)
    name = f"{folder} (its wrangler folders)" if projects else str(folder)
    return compare(ws.root, ws.sources, ws.configs, name=name)


def plan_cost(
    folder: Path, repeat: int = 5, projects: bool = False
) -> tuple[float, float, float, int]:
    """(best CPU seconds of plan_groups, of loading the configs alone, of the tree-sitter parse
    of the same sources, files), the bytes read beforehand (the parent reads them once for
    both) and the configs loaded cold each time (as a first check does; every check loads
    them, so the part that is the split's own is the difference)."""
    from tree_sitter import Parser

    from durable_harden.analyzers import wrangler
    from durable_harden.analyzers.source import language, language_for

    ws = _workspace(folder, projects)
    data = {p: p.read_bytes() for p in [*ws.sources, *ws.configs]}
    plan = configs = parse = float("inf")
    for _ in range(repeat):
        wrangler._LOADED.clear()
        start = time.process_time()
        split.plan_groups(ws.root, ws.sources, ws.configs, data)
        plan = min(plan, time.process_time() - start)
        wrangler._LOADED.clear()
        start = time.process_time()
        for path in ws.configs:
            with contextlib.suppress(wrangler.ConfigError):
                wrangler.load_config(path, data[path])
        configs = min(configs, time.process_time() - start)
        start = time.process_time()
        for path in ws.sources:
            Parser(language(language_for(path) or "typescript")).parse(data[path])
        parse = min(parse, time.process_time() - start)
    return plan, configs, parse, len(ws.sources)


def describe(outcome: Outcome) -> str:
    sizes = sorted((len(g.sources) for g in outcome.groups), reverse=True)
    return (
        f"{outcome.name}: {outcome.sources} sources, {outcome.configs} configs, "
        f"{outcome.findings} findings; {len(outcome.groups)} groups (files: {sizes[:8]}"
        f"{' …' if len(sizes) > 8 else ''}), largest {outcome.largest_share():.0%}; "
        f"differences {outcome.differences}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--each", action="store_true", help="each sub-folder too")
    parser.add_argument("--cost", action="store_true", help="plan_groups against the parse")
    parser.add_argument(
        "--projects",
        action="store_true",
        help="each PATH as its folders with a wrangler config (bench/cold_cpu.py --corpus)",
    )
    args = parser.parse_args(argv)
    folders: list[Path] = []
    for path in args.paths:
        path = path.resolve()
        if args.each:
            folders += sorted(
                p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        folders.append(path)
    total = 0
    for folder in folders:
        if args.cost:
            plan, configs, parse, files = plan_cost(folder, projects=args.projects)
            own = plan - configs
            print(
                f"{folder}: plan_groups {plan * 1000:.1f} ms CPU (loading the configs "
                f"{configs * 1000:.1f} ms of it), parse {parse * 1000:.0f} ms ({files} files): "
                f"{plan / parse:.1%} of the parse, {own / parse:.1%} without the configs",
                flush=True,
            )
            continue
        outcome = compare_folder(folder, args.projects)
        total += outcome.differences
        print(describe(outcome), flush=True)
        for key in outcome.only_whole[:10]:
            print("  only in the whole check:", key[:6])
        for key in outcome.only_split[:10]:
            print("  only in the split check:", key[:6])
        if outcome.problems_whole != outcome.problems_split:
            print("  problems differ:", set(outcome.problems_whole) ^ set(outcome.problems_split))
    if not args.cost:
        print(f"split_check differences={total}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
