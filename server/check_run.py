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
from durable_harden.analyzers.source import SourceError, SourceFile, parse_source, read_source
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

    model: ProjectModel
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
) -> CheckRun:
    """Analyse `paths`; want_skipped: also list the folders the default excludes leave out
    (`--show-files`; a second walk, so only when asked). jobs: worker processes for the rules
    (0: decide by project size; analyzers.parallel); prebuild_fixes: with workers, also build
    the fixes of every finding there (the text and JSON reports show them)."""
    with analysis.collector_paused():  # nothing it allocates is garbage before it ends
        return _run_check(paths, overrides, overlays, progress, want_skipped, jobs, prebuild_fixes)


def _run_check(
    paths: list[Path],
    overrides: Overrides,
    overlays: dict[Path, bytes] | None,
    progress: Callable[[str], None] | None,
    want_skipped: bool,
    jobs: int,
    prebuild_fixes: bool,
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

    parsed: dict[Path, SourceFile] = {}
    for number, path in enumerate(sources, 1):
        if progress is not None and (number % 10 == 0 or number == len(sources)):
            progress(f"parsed {number}/{len(sources)} files")
        with contextlib.suppress(SourceError):  # build_model says why
            parsed[path] = (
                parse_source(path, overlays[path]) if path in overlays else read_source(path)
            )
    groups: dict[str, list[Path]] = {}
    for path, (chosen, _) in settings.items():
        groups.setdefault(repr(chosen), []).append(path)

    pools: list[parallel.RulePool] = []  # the workers of the last attempt (analyzers.parallel)

    def run_groups(
        model: ProjectModel, _settings: Settings, _reported: object
    ) -> tuple[list[Finding], list[Any]]:
        """The rules once per group of files sharing settings (with workers: each rule once,
        in the workers, its findings then filtered per group as in one process)."""
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
        return found, []

    try:
        # within the per-file time budget: a file over it is reported as skipped
        # (analyzers.budget); with workers, also a file that crashes or stalls one
        model, findings, _ = analysis.analyse_within_budget(
            ws.root,
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
