"""`durable-harden check`'s analysis: every file with the settings of its nearest settings file.

The files under the given paths are analysed in one project model (so a binding in one package's
wrangler config sees the class in its sources), and the rules run once per distinct set of
settings over the files that set applies to, as the language server does per document.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_harden.analyzers import analysis, parallel
from durable_harden.analyzers.analysis import Settings
from durable_harden.analyzers.budget import OverBudget
from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import Problem, ProjectModel
from durable_harden.analyzers.roots import context_root, resolve_given
from durable_harden.analyzers.rules import UnknownSelector, resolve_selectors
from durable_harden.analyzers.settings_file import (
    SettingsError,
    SettingsFile,
    extend_selection,
    load_settings_file,
    settings_for,
)
from durable_harden.analyzers.source import (
    LineIndex,
    SourceError,
    SourceFile,
    parse_source,
    read_source,
)
from durable_harden.analyzers.workspace import discover, missing_message
from durable_harden.server.check_output import CheckUsageError


@dataclass
class Overrides:
    """What the command line sets on top of each file's settings (Ruff's precedence: `--select`
    replaces the file's `select`; `--extend-select` and `--ignore` add to it)."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    unsafe_fixes: bool = False
    config: Path | None = None

    @classmethod
    def from_flags(
        cls,
        select: list[list[str]] | None,
        extend_select: list[list[str]] | None,
        ignore: list[list[str]] | None,
        exclude: list[str],
        unsafe_fixes: bool,
        config: Path | None,
    ) -> Overrides:
        def resolve(groups: list[list[str]] | None, flag: str) -> list[str]:
            try:
                return resolve_selectors([s for group in groups or [] for s in group])
            except UnknownSelector as exc:
                raise CheckUsageError(f"{flag}: {exc}") from None

        if config is not None:
            if not config.is_file():
                raise CheckUsageError(f"--config {config}: no such file")
            try:
                load_settings_file(config.resolve())
            except SettingsError as exc:
                raise CheckUsageError(str(exc)) from None
        chosen = [s for group in select or [] for s in group]
        return cls(
            select=(
                ["ALL"] if any(s.upper() == "ALL" for s in chosen) else resolve(select, "--select")
            )
            if select
            else None,
            extend_select=resolve(extend_select, "--extend-select"),
            ignore=resolve(ignore, "--ignore"),
            exclude=list(exclude),
            unsafe_fixes=unsafe_fixes,
            config=config.resolve() if config is not None else None,
        )

    def settings_for(
        self, path: Path, folders: dict[Path, Path | None] | None = None
    ) -> tuple[Settings, SettingsFile | None]:
        """folders: settings_file.find_settings_file's per-run memo of folders walked."""
        try:
            settings, found = settings_for(path, config=self.config, folders=folders)
        except SettingsError as exc:
            raise CheckUsageError(str(exc)) from None
        if self.select is not None:
            # Ruff's precedence: a --select on the command line starts a new selection, so the
            # file's select and ignore give way (its perFileIgnores still apply)
            settings.select = list(self.select)
            settings.ignore = list(found.ignored_for(path)) if found and not path.is_dir() else []
        if self.extend_select:
            settings.select = extend_selection(settings.select, self.extend_select)
        settings.ignore += [r for r in self.ignore if r not in settings.ignore]
        settings.unsafe_fixes = settings.unsafe_fixes or self.unsafe_fixes
        return settings, found


@dataclass
class CheckRun:
    """What one `check` found and looked at: the model, findings, problems, files."""

    model: ProjectModel | ReportModel  # ReportModel: a check in parts (run_check's `split`)
    findings: list[Finding]
    problems: list[Problem]
    files: list[Path]  # the files checked (sources parsed and configs read)
    projects: int
    skipped: list[Path]  # folders left out by the default excludes
    settings: dict[Path, tuple[Settings, SettingsFile | None]]
    warnings: list[str] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)  # given paths that do not exist


def _under(path: Path, roots: list[Path] | frozenset[Path]) -> bool:
    """`path` is one of `roots` or inside one: a set lookup per ancestor of `path`."""
    wanted = roots if isinstance(roots, frozenset) else frozenset(roots)
    return path in wanted or any(parent in wanted for parent in path.parents)


def run_check(
    paths: list[Path],
    overrides: Overrides,
    overlays: dict[Path, bytes] | None = None,
    progress: Callable[[str], None] | None = None,
    want_skipped: bool = False,
    jobs: int = 1,
    prebuild_fixes: bool = False,
    split: bool = False,
) -> CheckRun:
    """Analyse `paths`; want_skipped: also list the folders the default excludes leave out
    (`--show-files`; a second walk, so only when asked). jobs: worker processes (0: decide by
    project size; analyzers.parallel); prebuild_fixes: with workers, also build the fixes of
    every finding there (the text and JSON reports show them). split: the run only reports
    (no --fix, no --add-ignore): with workers, parts of the project that share nothing may be
    parsed, modelled and checked in separate processes, and `CheckRun.model` is then a
    `ReportModel` (what the report reads of a model), not a ProjectModel."""
    with analysis.collector_paused():  # nothing it allocates is garbage before it ends
        return _run_check(
            paths, overrides, overlays, progress, want_skipped, jobs, prebuild_fixes, split
        )


def _run_check(
    paths: list[Path],
    overrides: Overrides,
    overlays: dict[Path, bytes] | None,
    progress: Callable[[str], None] | None,
    want_skipped: bool,
    jobs: int,
    prebuild_fixes: bool,
    split: bool = False,
) -> CheckRun:
    overlays = {resolve_given(p): data for p, data in (overlays or {}).items()}
    requested = [resolve_given(p) for p in paths]
    missing = [p for p in requested if not p.exists() and p not in overlays]
    existing = [p for p in requested if p not in missing]
    existing_set = frozenset(existing)
    # the one workspace computation check, --fix and harden share (roots, discovery, files
    # named explicitly); a stdin file that exists only as an overlay is added to it
    stand_ins = [p.parent for p in existing if not p.exists()]  # a stdin file's folder
    ws = analysis.workspace_for(
        [*[p for p in existing if p.exists()], *stand_ins],
        Settings(exclude=list(overrides.exclude)),
    )
    found_sources, found_configs = list(ws.sources), list(ws.configs)
    for given in existing:
        if given in overlays and given not in found_sources and given not in found_configs:
            from durable_harden.analyzers.wrangler import is_config_name

            (found_configs if is_config_name(given.name) else found_sources).append(given)
    roots = ws.roots or [p.parent for p in existing]
    skipped = discover(roots, overrides.exclude).skipped if want_skipped else []
    workers = parallel.jobs_for(jobs, len(found_sources), SPLIT_MIN_FILES) if split else 1
    early = None
    if workers > 1 and len({c.parent for c in found_configs}) > 1:
        # the parts' workers forked now: they import what a part needs while this process
        # reads the settings and the files and plans the parts (their work then travels
        # through the pipes); killed at once if the project does not split. Only with more
        # than one Worker project in sight: a single project (the common case) seldom splits,
        # and workers forked for nothing cost it ~25 ms of wall clock at 600 files (measured)
        early = parallel.PartPool(found_sources, ws.root, workers, _part_task, _warm_up)
        early.start()
    try:
        # each reported file's settings; a settings file's `exclude` leaves out what it matches
        settings: dict[Path, tuple[Settings, SettingsFile | None]] = {}
        explicit = set(existing)
        sources: list[Path] = []
        configs: list[Path] = []
        folders: dict[Path, Path | None] = {}  # one settings-file walk per folder, for this run
        inside: dict[Path, bool] = {}  # folder -> under a given path (one answer per folder)
        for kind, paths_of_kind in ((sources, found_sources), (configs, found_configs)):
            for path in paths_of_kind:
                parent = path.parent
                below = inside.get(parent)
                if below is None:
                    below = inside[parent] = _under(parent, existing_set)
                if below or path in existing_set:
                    chosen = overrides.settings_for(path, folders)
                    if chosen[1] is not None and path not in explicit and chosen[1].excludes(path):
                        continue
                    settings[path] = chosen
                kind.append(path)

        groups: dict[str, list[Path]] = {}
        for path, (chosen, _) in settings.items():
            groups.setdefault(repr(chosen), []).append(path)

        data: dict[Path, bytes] | None = None
        done: tuple[Any, list[Finding]] | None = None
        if workers > 1:
            data = _read_all(sources, configs, overlays)
            done = _check_in_parts(
                ws.root,
                sources,
                configs,
                data,
                settings,
                groups,
                overlays,
                workers,
                prebuild_fixes,
                progress,
                early,
            )
        if done is None:
            if early is not None:
                early.close(kill=True)  # not used (or used up): no worker left beside the rule pool
            model, findings = _check_in_one_model(
                ws.root,
                sources,
                configs,
                data,
                settings,
                groups,
                overlays,
                jobs,
                prebuild_fixes,
                progress,
            )
        else:
            model, findings = done
        model.problems.extend(Problem(p, missing_message(p)) for p in missing)

        seen: set[tuple[Path, str]] = set()
        problems: list[Problem] = []
        for problem in model.problems:
            key = (problem.path, problem.message)
            relevant = (
                _under(problem.path, existing_set)
                or problem.path in missing
                or problem.message.startswith("skipped: analysing this file took")
                or problem.message.startswith("internal error")
            )
            if key in seen or not relevant:
                continue
            seen.add(key)
            problems.append(problem)
        unreadable = {p.path for p in problems}
        checked = [p for p in settings if p not in unreadable]
        # a project is a folder with a wrangler config; files outside any count as one more
        from durable_harden.analyzers.roots import find_configs_in

        folders: dict[Path, Path | None] = {}
        for path in checked:
            if path.parent not in folders:
                root = context_root(path.parent)
                folders[path.parent] = root if find_configs_in(root) is not None else None
        notes: list[str] = []
        for _, loaded in settings.values():
            for warning in loaded.warnings if loaded is not None else []:
                if warning not in notes:
                    notes.append(warning)
        return CheckRun(
            missing=missing,
            warnings=notes,
            model=model,
            findings=findings,
            problems=problems,
            files=checked,
            projects=len(set(folders.values())),
            skipped=[p for p in skipped if _under(p, existing_set)],
            settings=settings,
        )
    finally:
        if early is not None:
            early.close(kill=True)


def _parse_all(
    sources: list[Path],
    data: dict[Path, bytes] | None,
    overlays: dict[Path, bytes],
    progress: Callable[[str], None] | None,
) -> dict[Path, SourceFile]:
    """Each source parsed (from the bytes already read, when given); a file that cannot be
    read or parsed is left out (build_model reads it again and says why)."""
    parsed: dict[Path, SourceFile] = {}
    for number, path in enumerate(sources, 1):
        if progress is not None and (number % 10 == 0 or number == len(sources)):
            progress(f"parsed {number}/{len(sources)} files")
        with contextlib.suppress(SourceError):  # build_model says why
            if path in overlays:
                parsed[path] = parse_source(path, overlays[path])
            elif data is not None and path in data:
                parsed[path] = parse_source(path, data[path])
            else:
                parsed[path] = read_source(path)
    return parsed


def _rules_per_settings(
    model: ProjectModel,
    settings: dict[Path, tuple[Settings, SettingsFile | None]],
    groups: dict[str, list[Path]],
    computed: Any,
    progress: Callable[[str], None] | None,
) -> list[Finding]:
    """The rules once per group of files sharing settings, each group's findings kept to its
    files (computed: the rules' raw results from the rule pool, or None)."""
    found: list[Finding] = []
    for number, members in enumerate(groups.values(), 1):
        if progress is not None and computed is None:
            progress(f"running the rules ({number}/{len(groups)})")
        wanted = set(members)
        found_now, _ = analysis.run_rules(
            model,
            settings[members[0]][0],
            lambda p, w=wanted: p in w,
            **({"computed": computed} if computed is not None else {}),
        )
        found.extend(found_now)
    return found


def _check_in_one_model(
    root: Path,
    sources: list[Path],
    configs: list[Path],
    data: dict[Path, bytes] | None,
    settings: dict[Path, tuple[Settings, SettingsFile | None]],
    groups: dict[str, list[Path]],
    overlays: dict[Path, bytes],
    jobs: int,
    prebuild_fixes: bool,
    progress: Callable[[str], None] | None,
) -> tuple[ProjectModel, list[Finding]]:
    """Every file in one project model; with workers, the rules (and the report's fixes) run
    in the rule pool (analyzers.parallel.RulePool)."""
    parsed = _parse_all(sources, data, overlays, progress)
    pools: list[parallel.RulePool] = []  # the workers of the last attempt (analyzers.parallel)

    def run_groups(
        model: ProjectModel, _settings: Settings, _reported: object
    ) -> tuple[list[Finding], list[Any]]:
        computed = None
        workers = parallel.jobs_for(jobs, len(model.files))
        if workers > 1:
            while pools:
                pools.pop().close()
            pool = parallel.RulePool(model, workers, prebuild_fixes)
            pools.append(pool)
            if progress is not None:
                progress(f"running the rules ({workers} processes)")
            computed = pool.run_rules(_enabled_rules(settings, groups))
        return _rules_per_settings(model, settings, groups, computed, progress), []

    try:
        # within the per-file time budget: a file over it is reported as skipped
        # (analyzers.budget); with workers, also a file that crashes or stalls one
        model, findings, _ = analysis.analyse_within_budget(
            root,
            sources,
            configs,
            Settings(),
            None,
            overlays=overlays,
            parsed=parsed,
            rules_runner=run_groups,
        )
        findings.sort(key=Finding.sort_key)
    finally:
        while pools:
            pools.pop().close()
    return model, findings


# -- the check in parts (analyzers.split) -----------------------------------------------------
# Below this many source files the parts are not worth their processes; measured on the
# generated monorepo (docs/performance.md, "Issue 14: the check in parts"): wall 305 -> 328 ms
# at 150 files (three projects: one part holds two thirds), 312 -> 293 at 200, 390 -> 332 at
# 300, 839 -> 573 at 1,000.
SPLIT_MIN_FILES = 200
# The parts are used only when the biggest part's share of the bytes is at most this: a part
# holding most of the project gains little from a second process (two thirds measured no
# gain at 150 files), and the rule pool (which splits the rules instead) does better there.
SPLIT_MAX_SHARE = 0.7
# Parts per worker: more than one lets a worker that finishes early take the next part, but
# each part has its fixed costs; measured equal on corpus-dev (1,030 / 1,033 ms) and at 2,000
# generated files (1,003 / 990), better with one at 200 and 1,000 (275 / 281, 573 / 594 ms).
PARTS_PER_WORKER = 1


@dataclass(eq=False)
class ReportText:
    """A file's bytes as the report reads them (ReportModel)."""

    path: Path
    data: bytes
    _lines: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.data)
        return self._lines


@dataclass(eq=False)
class ReportModel:
    """What the report reads of a project model (server/output.py: the root, the files' and
    configs' bytes, the findings' fixes in `memo`), for a check whose parts were analysed in
    worker processes: their models stayed there."""

    root: Path
    files: list[ReportText]
    configs: list[ReportText]
    problems: list[Problem]
    memo: dict[str, Any] = field(default_factory=dict)

    def files_by_path(self) -> dict[Path, ReportText]:
        return {f.path: f for f in self.files}


def _read_all(
    sources: list[Path], configs: list[Path], overlays: dict[Path, bytes]
) -> dict[Path, bytes]:
    """The bytes of every file that can be read (the others are read again where they are
    analysed, which says why they cannot)."""
    data: dict[Path, bytes] = {}
    for path in (*sources, *configs):
        if path in overlays:
            data[path] = overlays[path]
            continue
        with contextlib.suppress(OSError):
            data[path] = path.read_bytes()
    return data


def _bins(planned: list[Any], count: int) -> list[list[Any]]:
    """The groups dealt to `count` parts, biggest first to the lightest (by bytes)."""
    bins: list[list[Any]] = [[] for _ in range(count)]
    loads = [0] * count
    for group in sorted(planned, key=lambda g: -g.size):
        lightest = loads.index(min(loads))
        bins[lightest].append(group)
        loads[lightest] += group.size
    return [b for b in bins if b]


def _check_in_parts(
    root: Path,
    sources: list[Path],
    configs: list[Path],
    data: dict[Path, bytes],
    settings: dict[Path, tuple[Settings, SettingsFile | None]],
    groups: dict[str, list[Path]],
    overlays: dict[Path, bytes],
    workers: int,
    prebuild_fixes: bool,
    progress: Callable[[str], None] | None,
    pool: parallel.PartPool | None = None,
) -> tuple[ReportModel, list[Finding]] | None:
    """The check with each worker parsing, modelling and checking its own groups of projects
    (analyzers.split.plan_groups: groups that no look-up of the model or the rules crosses, so
    each part's findings are the ones the whole model gives there). None when the project does
    not split well enough to pay for the processes."""
    from durable_harden.analyzers.split import plan_groups

    try:
        planned = plan_groups(root, sources, configs, data)
    except Exception:  # a bug in the plan must not cost the check: one model is always right
        import logging

        logging.getLogger(__name__).exception("cannot plan the check in parts; in one model")
        return None
    # more parts than workers (each worker takes the next part when it is done: bytes are only
    # a rough measure of a part's time), but not so many that their fixed costs add up
    bins = _bins(planned, min(len(planned), workers * PARTS_PER_WORKER))
    total = sum(g.size for g in planned) or 1
    sizes = [sum(g.size for g in b) for b in bins]
    if len(bins) < 2 or max(sizes) > SPLIT_MAX_SHARE * total:
        return None
    source_at = {path: number for number, path in enumerate(sources)}
    config_at = {path: number for number, path in enumerate(configs)}
    parts: list[_Part] = []
    for _, chosen in sorted(zip(sizes, bins, strict=True), key=lambda item: -item[0]):
        part_sources = sorted((p for g in chosen for p in g.sources), key=source_at.__getitem__)
        part_configs = sorted((p for g in chosen for p in g.configs), key=config_at.__getitem__)
        mine = [*part_sources, *part_configs]
        mine_set = set(mine)
        parts.append(
            _Part(
                root,
                part_sources,
                part_configs,
                {p: data[p] for p in mine if p in data},
                {p: (settings[p][0], None) for p in mine if p in settings},
                {
                    key: kept
                    for key, members in groups.items()
                    if (kept := [p for p in members if p in mine_set])
                },
                {p: overlays[p] for p in mine if p in overlays},
                prebuild_fixes,
            )
        )
    skipped: dict[Path, str] = {}  # files that crashed or stalled a worker
    if progress is not None:
        progress(f"checking {len(sources)} files in {len(parts)} parts ({workers} processes)")
    answers: dict[int, Any] = {}
    while True:
        pending = [n for n in range(len(parts)) if n not in answers]
        if not pending:
            break
        if pool is None:
            pool = parallel.PartPool(list(sources), root, min(workers, len(pending)), _part_task)
        try:
            answers.update(pool.run_parts([(n, (parts[n], dict(skipped))) for n in pending]))
        except OverBudget as exc:  # or WorkerLost: the file is skipped, its part checked again
            answers.update(pool.answers)
            if exc.path in skipped:
                raise  # cannot happen: a skipped file is never walked again
            skipped[exc.path] = exc.problem()
        finally:
            pool.close(kill=True)  # any worker still there has nothing left to do
            pool = None
    for number, answer in answers.items():
        if isinstance(answer, parallel.LostPart):  # the worker failed outside any file: the
            # part is checked here, as one process would (an error then surfaces as it would)
            answers[number] = _check_part(parts[number], dict(skipped))
    merged = [answers[n] for n in range(len(parts))]
    if not _hints_hold(merged):
        return None  # a hint the whole model would word otherwise: checked in one model
    return _merge_parts(root, sources, configs, data, merged)


def _hints_hold(answers: list[tuple[Any, ...]]) -> bool:
    """Whether every binding-class-not-found hint of a part is the one the whole model gives
    (it picks the closest of every class name; split.rehint). Rare (no such finding in the
    corpus): when one is not, the caller checks the project in one model."""
    from durable_harden.analyzers.split import rehint

    names: set[str] = set()
    for answer in answers:
        names |= answer[5][0]
    return not any(
        rehint(answer[0][number], names, bound) is not None
        for answer in answers
        for number, bound in answer[5][1]
    )


@dataclass(eq=False)
class _Part:
    """What a part's worker is sent (through its pipe: a worker may be forked before the parts
    are known, `parallel.PartPool.start`)."""

    root: Path
    sources: list[Path]
    configs: list[Path]
    data: dict[Path, bytes]  # the bytes the parent read
    settings: dict[Path, tuple[Settings, None]]  # each reported file's settings
    groups: dict[str, list[Path]]  # its files by settings (as _run_check's `groups`)
    overlays: dict[Path, bytes]
    prebuild_fixes: bool


def _warm_up() -> None:
    """In a part's worker before its first part (meanwhile the parent still reads and plans):
    the modules nearly every part imports (sqlglot for the SQL, the fix builders' package)."""
    import importlib

    for name in ("sqlglot", "sqlglot.tokens", "durable_harden.codeactions"):
        importlib.import_module(name)


def _part_task(
    payload: tuple[int, tuple[_Part, dict[Path, str]]], _spent: dict[Path, float]
) -> Any:
    """A part in its worker (parallel.PartPool's `work`): (its number, (the part, the files to
    skip))."""
    return _check_part(*payload[1])


def _check_part(part: _Part, skip: dict[Path, str]) -> tuple[Any, ...]:
    """One part, as `_check_in_one_model` checks a whole project (in one process), without the
    files in `skip` (they crashed or stalled a worker): (findings, their fixes when asked, the
    model's problems, the model's files and loaded configs, its class names and the findings
    whose message depends on other parts' class names)."""
    from durable_harden.codeactions import fixes_for

    usable = [p for p in part.sources if p not in skip]
    here = {
        key: kept
        for key, members in part.groups.items()
        if (kept := [p for p in members if p not in skip])
    }
    model, findings = _check_in_one_model(
        part.root,
        usable,
        part.configs,
        part.data,
        part.settings,  # type: ignore[arg-type]
        here,
        part.overlays,
        1,
        False,
        None,
    )
    for path in part.sources:
        if path in skip:
            model.problems.append(Problem(path, skip[path]))
    fixes = None
    if part.prebuild_fixes:
        fixes = [fixes_for(finding, model) for finding in findings]
    for finding in findings:
        finding.state = None  # live tree nodes: not picklable (the fixes are built above)
    # binding-class-not-found's "Did you mean" hint reads every class name of the model: the
    # merge checks it against every part's names (the bound names of its config with each)
    bound = {str(c.path): {b.class_name for b in c.bindings} for c in model.configs}
    hints = [
        (number, bound.get(str(finding.data.get("config")), set()))
        for number, finding in enumerate(findings)
        if finding.message_id == "unknown-class" and finding.rule_id == "binding-class-not-found"
    ]
    return (
        findings,
        fixes,
        model.problems,
        [f.path for f in model.files],
        [c.path for c in model.configs],
        ({c.name for c in model.classes}, hints),
    )


def _merge_parts(
    root: Path,
    sources: list[Path],
    configs: list[Path],
    data: dict[Path, bytes],
    answers: list[tuple[Any, ...]],
) -> tuple[ReportModel, list[Finding]]:
    """The parts' answers as one check's: findings in `Finding.sort_key` order, problems in the
    order one model gives them (configs', then sources', each in the given order; then the
    rules'; then the files skipped), the fixes in the report model's memo."""
    source_at = {path: number for number, path in enumerate(sources)}
    config_at = {path: number for number, path in enumerate(configs)}
    findings: list[Finding] = []
    prebuilt: dict[int, tuple[Finding, list[Any]]] = {}
    keyed: list[tuple[tuple[int, int, int], Problem]] = []
    files: set[Path] = set()
    loaded: set[Path] = set()
    for number, (found, fixes, problems, file_paths, config_paths, _) in enumerate(answers):
        findings.extend(found)
        for finding, built in zip(found, fixes or [], strict=False):
            prebuilt[id(finding)] = (finding, built)
        for at, problem in enumerate(problems):
            if problem.path in config_at:
                key = (0, config_at[problem.path], 0)
            elif problem.path in source_at and problem.message.startswith("skipped: "):
                key = (3, source_at[problem.path], 0)
            elif problem.path in source_at:
                key = (1, source_at[problem.path], 0)
            else:
                key = (2, number, at)
            keyed.append((key, problem))
        files.update(file_paths)
        loaded.update(config_paths)
    findings.sort(key=Finding.sort_key)
    keyed.sort(key=lambda item: item[0])
    model = ReportModel(
        root=root.resolve(),
        files=[ReportText(p, data[p]) for p in sources if p in files and p in data],
        configs=[ReportText(p, data[p]) for p in configs if p in loaded and p in data],
        problems=[problem for _, problem in keyed],
    )
    if prebuilt:
        model.memo[parallel.PREBUILT] = prebuilt
    return model, findings


def _enabled_rules(
    settings: dict[Path, tuple[Settings, SettingsFile | None]], groups: dict[str, list[Path]]
) -> list[str]:
    """The rules some group of files runs (unused-suppression is computed afterwards)."""
    from durable_harden.analyzers.rules import all_rules

    chosen = [settings[members[0]][0] for members in groups.values()]
    return [
        rule.id
        for rule in all_rules()
        if rule.id != analysis.UNUSED_SUPPRESSION and any(s.enabled(rule.id) for s in chosen)
    ]


def progress_printer(stream=None):  # type: ignore[no-untyped-def]
    """A one-line progress display on a terminal (rewritten in place with `\\r`), or None when
    the stream is not a terminal (CI logs and pipes get no progress noise)."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None
    width = [0]

    def show(message: str) -> None:
        text = f"durable-harden: {message}"
        stream.write("\r" + text + " " * max(0, width[0] - len(text)))
        stream.flush()
        width[0] = len(text)

    def done() -> None:
        if width[0]:
            stream.write("\r" + " " * width[0] + "\r")
            stream.flush()
            width[0] = 0

    show.done = done  # type: ignore[attr-defined]
    return show
