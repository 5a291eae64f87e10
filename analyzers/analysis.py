"""Running the rules: paths -> model -> findings, with selection and suppressions."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers import rule_run
from durable_harden.analyzers.budget import OverBudget, budget
from durable_harden.analyzers.findings import Finding, Rule, Severity, Span
from durable_harden.analyzers.model import Problem, ProjectModel, build_model
from durable_harden.analyzers.roots import context_root, resolve_given
from durable_harden.analyzers.rules import all_rules, default_on, rule_by_id
from durable_harden.analyzers.source import LineIndex, SourceFile
from durable_harden.analyzers.suppressions import (
    Suppression,
    apply_suppressions,
    parse_suppressions,
)
from durable_harden.analyzers.workspace import discover, missing_message

UNUSED_SUPPRESSION = "unused-suppression"
SYNTAX_ERROR = "syntax-error"  # its findings are the errors themselves: never filtered out


@dataclass
class Settings:
    select: list[str] | None = None  # None: every rule
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    unsafe_fixes: bool = False

    def enabled(self, rule_id: str) -> bool:
        """Selected and not ignored. An opt-in rule (rules.OPT_IN) runs only when `select`
        names it, not by default nor through ALL."""
        if rule_id in self.ignore:
            return False
        if self.select is not None and rule_id in self.select:
            return True
        if not default_on(rule_id):
            return False
        return self.select is None or "ALL" in self.select

    def validate(self) -> list[str]:
        known = {r.id for r in all_rules()}
        named = set(self.select or []) | set(self.ignore) | set(self.severity)
        return sorted(n for n in named - known - {"ALL"})


@dataclass
class AnalysisResult:
    model: ProjectModel
    findings: list[Finding]
    problems: list[Problem]
    suppressions: list[Suppression] = field(default_factory=list)


@dataclass
class Workspace:
    """What to analyse: the roots, their files, the settings, and which findings count."""

    root: Path
    roots: list[Path]
    requested: list[Path]
    settings: Settings
    sources: list[Path]
    configs: list[Path]

    def reported(self, path: Path) -> bool:
        """Is `path` one of the requested paths or inside one (a set lookup per ancestor, not a
        comparison with every requested path; each folder's answer kept: the files of a
        project share their folders, and `path.parents` made a Path per ancestor per file)."""
        wanted = self._wanted
        if wanted is None:
            wanted = self._wanted = frozenset(self.requested)
        if path in wanted:
            return True
        folders = self._folders
        folder = path.parent
        found = folders.get(folder)
        if found is None:
            climbed: list[Path] = []
            while True:
                if folder in wanted:
                    found = True
                    break
                known = folders.get(folder)
                if known is not None:
                    found = known
                    break
                climbed.append(folder)
                parent = folder.parent
                if parent == folder:  # the root: no requested path above
                    found = False
                    break
                folder = parent
            for seen in climbed:
                folders[seen] = found
        return found

    _wanted: frozenset[Path] | None = field(default=None, init=False, repr=False, compare=False)
    _folders: dict[Path, bool] = field(default_factory=dict, init=False, repr=False, compare=False)


def workspace_for(paths: Iterable[Path], settings: Settings | None = None) -> Workspace:
    """The one computation of what to analyse, shared by `check`, `check --fix` and harden:
    each path's nearest wrangler project (a root inside another root adds nothing), the files
    discovered under the roots plus the files named explicitly."""
    requested = [resolve_given(p) for p in paths]
    existing = [p for p in requested if p.exists()]
    # sets and one walk per folder: `check` is often given every file explicitly (editors,
    # pre-commit, the peers benchmark), and comparing each with every other was quadratic
    folders: dict[Path, Path] = {}
    roots = sorted({context_root(p, folders) for p in existing}, key=lambda p: len(p.parts))
    distinct = set(roots)
    roots = [r for r in roots if not any(parent in distinct for parent in r.parents)]
    found = discover(roots, (settings or Settings()).exclude)
    known = {*found.sources, *found.configs}
    for given in existing:
        if given.is_file() and given not in known:
            found.sources.append(given)
            known.add(given)
    if len(roots) == 1:
        root = roots[0]
    elif roots:
        root = Path(*_common_parts(roots))
    else:
        root = Path.cwd().resolve()
    return Workspace(
        root=root,
        roots=roots,
        requested=requested,
        settings=settings or Settings(),
        sources=sorted(found.sources, key=str),
        configs=sorted(found.configs, key=str),
    )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a cold whole-project analysis (then back as it
    was). The analysis allocates millions of objects that all stay alive until it ends (trees'
    nodes, the model, sqlglot expressions, findings): each collection walks them again and
    frees nothing, 10-20% of the model's CPU time at 1,000 files (docs/performance.md, "Issue
    14: the cold check"). Reference counting still frees everything acyclic; the cycles made
    meanwhile are collected once the collector is back. Used by `check` and `analyze_paths`,
    one analysis at a time (a `--fix` loop collects between its analyses); not by the
    long-running server."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def analyze_paths(
    paths: list[Path], settings: Settings | None = None, jobs: int = 1
) -> AnalysisResult:
    """jobs: worker processes for the rules (0: decide by project size; analyzers.parallel)."""
    settings = settings or Settings()
    ws = workspace_for(paths, settings)
    missing = [p for p in ws.requested if not p.exists()]
    runner = None
    if jobs != 1:
        runner = rules_runner(jobs)
    with collector_paused():
        model, findings, suppressions = analyse_within_budget(
            ws.root, ws.sources, ws.configs, settings, ws.reported, rules_runner=runner
        )
    model.problems.extend(Problem(p, missing_message(p)) for p in missing)
    problems = [p for p in model.problems if ws.reported(p.path) or p.path in missing]
    return AnalysisResult(model, findings, problems, suppressions)


def model_for_paths(
    paths: list[Path], exclude: list[str] | None = None
) -> tuple[ProjectModel, list[Path], list[Path]]:
    """The model of the projects holding `paths` (what `inspect` prints): (model, requested
    paths, missing paths)."""
    ws = workspace_for(paths, Settings(exclude=list(exclude or [])))
    missing = [p for p in ws.requested if not p.exists()]
    model = build_model(ws.root, ws.sources, ws.configs)
    model.problems.extend(Problem(p, "no such file or folder") for p in missing)
    return model, ws.requested, missing


def analyse_within_budget(
    root: Path,
    sources: list[Path],
    configs: list[Path],
    settings: Settings,
    reported: Iterable[Path] | object | None = None,
    overlays: dict[Path, bytes] | None = None,
    parsed: dict[Path, SourceFile] | None = None,
    rules_runner: Callable[..., tuple[list[Finding], list[Suppression]]] | None = None,
    previous: ProjectModel | None = None,
) -> tuple[ProjectModel, list[Finding], list[Suppression]]:
    """build_model + run_rules (or `rules_runner`), each file within the time budget
    (analyzers.budget): a file over it is reported as skipped and the project analysed again
    without it. previous: the model of the previous analysis of the same root (build_model)."""
    runner = rules_runner or run_rules
    from durable_harden.analyzers.sql import fit_to_project

    fit_to_project(len(sources))  # each SQL text parsed once per analysis, however big the project
    skipped: dict[Path, str] = {}
    spent: dict[Path, float] = {}
    while True:
        usable = [p for p in sources if p not in skipped]
        try:
            with budget(spent):
                model = build_model(root, usable, configs, overlays, parsed, previous)
                findings, suppressions = runner(model, settings, reported)
        except OverBudget as exc:  # or WorkerLost: a worker process died on the file
            if exc.path in skipped or exc.path not in usable:
                raise  # cannot happen: a skipped file is never walked again
            skipped[exc.path] = exc.problem()
            continue
        break
    for path, message in skipped.items():
        model.problems.append(Problem(path, message))
    return model, findings, suppressions


def _common_parts(paths: list[Path]) -> list[str]:
    parts = list(paths[0].parts)
    for path in paths[1:]:
        common = 0
        for a, b in zip(parts, path.parts, strict=False):
            if a != b:
                break
            common += 1
        parts = parts[:common]
    return parts or ["/"]


def run_rules(
    model: ProjectModel,
    settings: Settings,
    reported: Iterable[Path] | object | None = None,
    rules: Iterable[Rule] | None = None,
    computed: Mapping[str, tuple[list[Finding], list[Problem]]] | None = None,
) -> tuple[list[Finding], list[Suppression]]:
    """Every enabled rule over the model; findings filtered to `reported` paths when given.
    computed: rule id -> (raw findings, problems) of rules already run (in worker processes:
    analyzers.parallel), used instead of running them here."""
    keep = reported if callable(reported) else (lambda path: True)
    raw: list[Finding] = []
    for rule in rules if rules is not None else all_rules():
        if not settings.enabled(rule.id) or rule.id == UNUSED_SUPPRESSION:
            continue
        if computed is not None and rule.id in computed:
            found, problems = computed[rule.id]  # run elsewhere (analyzers.parallel)
        else:
            found, problems = rule_run.rule_findings(model, rule)
        raw.extend(found)
        model.problems.extend(problems)
    return finish_findings(model, settings, raw, keep)


def finish_findings(
    model: ProjectModel,
    settings: Settings,
    raw: Iterable[Finding],
    keep: Callable[[Path], bool],
    paths: Iterable[Path] | None = None,
) -> tuple[list[Finding], list[Suppression]]:
    """The rules' raw findings made into what is reported, per file kept: deduplicated, none
    inside a syntax error, severities overridden, suppressions applied, unused suppressions
    reported. `paths`: the files to report on (default: every kept file of the model)."""
    by_file: dict[Path, list[Finding]] = {}
    for finding in raw:
        if keep(finding.path):
            by_file.setdefault(finding.path, []).append(finding)
    results: list[Finding] = []
    all_suppressions: list[Suppression] = []
    sources = {f.path: f for f in model.files}
    configs = {c.path: c for c in model.configs}
    if paths is None:
        paths = set(by_file) | {p for p in list(sources) + list(configs) if keep(p)}
    else:
        paths = set(by_file) | {p for p in paths if keep(p) and (p in sources or p in configs)}
    for path in sorted(paths, key=str):
        source = sources.get(path)
        data = source.data if source is not None else configs[path].data if path in configs else b""
        findings = _dedupe(by_file.get(path, []))
        if source is not None:
            findings = [
                f for f in findings if f.rule_id == SYNTAX_ERROR or not _in_syntax_error(source, f)
            ]
        for finding in findings:
            override = settings.severity.get(finding.rule_id)
            if override is not None:
                finding.severity = override
        # a file with no suppression comment (most) needs no line index: nothing to apply
        suppressions: list[Suppression] = []
        if b"durable-harden-ignore" in data:
            lines = source.lines if source is not None else LineIndex(data)
            suppressions = parse_suppressions(path, data, lines)
            findings = apply_suppressions(findings, suppressions, lines)
        all_suppressions.extend(suppressions)
        if settings.enabled(UNUSED_SUPPRESSION):
            findings.extend(_unused(suppressions, settings))
        results.extend(findings)
    results.sort(key=Finding.sort_key)
    return results, all_suppressions


def _in_syntax_error(source: SourceFile, finding: Finding) -> bool:
    return source.in_error(finding.span.start, finding.span.end)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int, int]] = set()
    unique: list[Finding] = []
    for finding in findings:
        key = (finding.rule_id, finding.span.start, finding.span.end)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def _unused(suppressions: list[Suppression], settings: Settings) -> list[Finding]:
    rule = rule_by_id(UNUSED_SUPPRESSION)
    if rule is None:
        return []
    findings: list[Finding] = []
    for suppression in suppressions:
        for rule_id in suppression.rules:
            if rule_id in suppression.used or rule_id == UNUSED_SUPPRESSION:
                continue
            if rule_id == "*" and suppression.used:
                continue
            if rule_id != "*" and rule_by_id(rule_id) is None:
                message_id = "unknown-rule"
                message = f"Suppression names an unknown rule `{rule_id}`"
            elif rule_id != "*" and not settings.enabled(rule_id):
                continue  # the rule is off: its suppressions are neither used nor wrong
            else:
                message_id = "unused"
                message = f"Unused suppression: `{rule_id}` reports nothing on the line it covers"
            findings.append(
                rule.finding(
                    message_id,
                    message,
                    Span(suppression.path, suppression.start, suppression.end),
                    data={"suppressed_rule": rule_id},
                )
            )
    return findings


def rules_runner(jobs: int) -> Callable[..., tuple[list[Finding], list[Suppression]]]:
    """A `rules_runner` for analyse_within_budget: run_rules with the rules in worker processes
    (analyzers.parallel) when `jobs_for` says so. (It lives here, not in analyzers.parallel, so
    that the worker module never imports this one: no import cycle.)"""
    from durable_harden.analyzers.parallel import RulePool, jobs_for

    def runner(
        model: ProjectModel, settings: Settings, reported: object
    ) -> tuple[list[Finding], list[Suppression]]:
        workers = jobs_for(jobs, len(model.files))
        if workers <= 1:
            return run_rules(model, settings, reported)
        wanted = [
            r.id for r in all_rules() if settings.enabled(r.id) and r.id != UNUSED_SUPPRESSION
        ]
        with RulePool(model, workers) as pool:
            computed = pool.run_rules(wanted)
        return run_rules(model, settings, reported, computed=computed)

    return runner
