"""`durable-harden check`: flags -> run_check -> report (stdout or --output-file) -> exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from durable_harden.analyzers.findings import Severity
from durable_harden.server.check_output import CheckUsageError, emit
from durable_harden.server.check_run import (
    CheckRun,
    Overrides,
    progress_printer,
    run_check,
)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _usage(message: str) -> int:
    print(f"durable-harden: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _overrides(args: argparse.Namespace) -> Overrides:
    return Overrides.from_flags(
        select=args.select,
        extend_select=args.extend_select,
        ignore=args.ignore,
        exclude=args.exclude,
        unsafe_fixes=args.unsafe_fixes,
        config=args.config,
    )


def check_command(args: argparse.Namespace, cache: Any = None) -> int:
    """cache: the command's on-disk cache, already looked up and missed (check_cache.replay)."""
    try:
        overrides = _overrides(args)
        _jobs(args)  # a bad --jobs / DURABLE_HARDEN_JOBS is said before any work
        paths, overlays = _inputs(args)
        if args.show_settings:
            return _show_settings(paths, overrides)
        if args.show_files:
            return _show_files(paths, overrides, overlays)
        if args.watch:
            return _watch(args, paths, overrides)
        return _check_once(args, paths, overrides, overlays, cache)
    except CheckUsageError as exc:
        return _usage(str(exc))


def _inputs(args: argparse.Namespace) -> tuple[list[Path], dict[Path, bytes]]:
    paths: list[Path] = list(args.paths)
    reads_stdin = any(str(p) == "-" for p in paths) or (
        args.stdin_filename is not None and not paths
    )
    if not reads_stdin:
        if args.stdin_filename is not None:
            raise CheckUsageError("--stdin-filename needs `-` (stdin) as the path")
        return paths or [Path.cwd()], {}
    if args.stdin_filename is None:
        raise CheckUsageError("reading stdin (`-`) needs --stdin-filename PATH")
    if args.fix or args.add_ignore or args.watch:
        raise CheckUsageError("--fix, --add-ignore and --watch work on files, not on stdin")
    target = args.stdin_filename.resolve()
    data = sys.stdin.buffer.read()
    others = [p for p in paths if str(p) != "-"]
    return [*others, target], {target: data}


def _show_settings(paths: list[Path], overrides: Overrides) -> int:
    """Ruff's `--show-settings`: the settings in effect for each given path."""
    out = []
    for path in paths:
        settings, found = overrides.settings_for(path.resolve())
        out.append(
            {
                "path": str(path),
                "settingsFile": str(found.path) if found is not None else None,
                "select": settings.select if settings.select is not None else ["ALL"],
                "ignore": settings.ignore,
                "severity": {k: v.name.lower() for k, v in sorted(settings.severity.items())},
                "exclude": settings.exclude,
                "unsafeFixes": settings.unsafe_fixes,
            }
        )
    print(json.dumps(out if len(out) != 1 else out[0], indent=2))
    return EXIT_CLEAN


def _show_files(paths: list[Path], overrides: Overrides, overlays: dict[Path, bytes]) -> int:
    """Ruff's `--show-files`: every file that would be checked (with the settings file that
    applies), then the folders the default excludes leave out."""
    from durable_harden.server.output import display_path

    run = run_check(paths, overrides, overlays, want_skipped=True)
    for path in sorted(run.settings, key=str):
        found = run.settings[path][1]
        suffix = f"  (settings: {display_path(found.path)})" if found is not None else ""
        print(f"{display_path(path)}{suffix}")
    for folder in run.skipped:
        print(f"skipped by default: {display_path(folder)}/", file=sys.stderr)
    return EXIT_CLEAN


def _fix(args: argparse.Namespace, paths: list[Path], overrides: Overrides) -> list[Any] | None:
    """`--fix`: safe fixes (and unsafe ones when asked) per group of files sharing settings.
    Returns the fixes applied, or None after an error."""
    from durable_harden.server.harden_cli import cmd_check_fix

    run = run_check(paths, overrides, jobs=_jobs(args))
    groups: dict[str, list[Path]] = {}
    for path, (settings, _) in run.settings.items():
        groups.setdefault(repr(settings), []).append(path)
    applied: list[Any] = []
    for members in groups.values():
        settings = run.settings[members[0]][0]
        code = cmd_check_fix(members, settings, unsafe=settings.unsafe_fixes, applied=applied)
        if code == EXIT_ERROR:
            return None
    return applied


def _add_ignores(run: CheckRun, reason: str | None) -> tuple[int, int, list[Any]]:
    """Write a suppression above every line with findings. Returns (comments' files, findings
    suppressed, findings left as they are)."""
    from durable_harden.codeactions.suppress import REASON, add_ignores
    from durable_harden.server.writer import WriteError, write_all

    skip = {"unused-suppression", "syntax-error"}
    by_file: dict[Path, list[Any]] = {}
    for finding in run.findings:
        if finding.rule_id in skip or finding.path.suffix == ".json":
            continue
        by_file.setdefault(finding.path, []).append(finding)
    sources = {f.path: f for f in run.model.files}
    files: dict[Path, bytes] = {}
    left: list[Any] = []
    done = 0
    for path, findings in sorted(by_file.items(), key=lambda kv: str(kv[0])):
        source = sources.get(path)
        data = source.data if source is not None else path.read_bytes()
        new, not_here = add_ignores(
            path,
            data,
            findings,
            reason=" ".join((reason or REASON).split()),
            tree_root=source.root if source is not None else None,
        )
        left.extend(not_here)
        done += len(findings) - len(not_here)
        if new != data:
            files[path] = new
    if files:
        originals = {f.path: f.data for f in run.model.files}
        originals.update({c.path: c.data for c in run.model.configs})
        expected = {p: originals.get(p) or p.read_bytes() for p in files}
        try:
            write_all(run.model.root, files, expected)
        except WriteError as exc:
            raise CheckUsageError(str(exc)) from None
    return len(files), done, left


def _exit_code(run: CheckRun, args: argparse.Namespace, paths: list[Path]) -> int:
    missing = run.missing
    internal = [p for p in run.problems if p.message.startswith("internal error")]
    if (missing and len(missing) == len(paths)) or internal:
        return EXIT_ERROR
    threshold = Severity.parse(args.fail_level)
    failing = [f for f in run.findings if f.severity >= threshold]
    if failing and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _jobs(args: argparse.Namespace) -> int:
    """--jobs, else DURABLE_HARDEN_JOBS, else auto (0): analyzers.parallel."""
    from durable_harden.analyzers.parallel import JOBS_ENV, JobsError, parse_jobs

    try:
        if getattr(args, "jobs", None) is not None:
            return parse_jobs(str(args.jobs), "--jobs")
        return parse_jobs(os.environ.get(JOBS_ENV, ""), JOBS_ENV)
    except JobsError as exc:
        raise CheckUsageError(str(exc)) from None


def _render(run: CheckRun, args: argparse.Namespace, stream: Any) -> str:
    from durable_harden.analyzers.analysis import collector_paused

    with collector_paused():  # the fixes the report shows: analysis.collector_paused
        return _render_report(run, args, stream)


def _render_report(run: CheckRun, args: argparse.Namespace, stream: Any) -> str:
    from durable_harden.server.output import RENDERERS, render_statistics, render_text, use_color

    if args.statistics:
        return render_statistics(run.findings, run.model, args.output_format == "json")
    if args.output_format == "text":
        color = use_color(stream) and not args.no_color and args.output_file is None
        return render_text(
            run.findings,
            run.model,
            run.problems,
            color=color,
            checked=(len(run.files), run.projects),
            show_fixes=args.show_fixes,
            quiet=args.quiet,
        )
    return RENDERERS[args.output_format](run.findings, run.model, run.problems)


def _check_once(
    args: argparse.Namespace,
    paths: list[Path],
    overrides: Overrides,
    overlays: dict[Path, bytes],
    known: Any = None,
) -> int:
    """known: the cache when check_cache.replay already looked it up (a miss): not again."""
    cache = None
    if not (args.fix or args.add_ignore or overlays or getattr(args, "no_cache", False)):
        from durable_harden.server import check_cache

        cache = known if known is not None else check_cache.for_command(args, paths)
        hit = cache.load() if cache is not None and known is None else None
        if hit is not None:
            _emit(args, hit.stderr, hit.report)
            return hit.code
        if cache is not None:
            from durable_harden.analyzers.settings_file import forget

            with check_cache.recording() as recorder:
                # settings files are memoised by modification time (and `--config` was read
                # while the flags were checked): read again here, so the entry records them
                forget()
                stderr, report, code = _analyse(args, paths, overrides, overlays)
            cache.store(check_cache.Entry(stderr, report, code), recorder)
            _emit(args, stderr, report)
            return code
    stderr, report, code = _analyse(args, paths, overrides, overlays)
    _emit(args, stderr, report)
    return code


def _emit(args: argparse.Namespace, stderr: list[str], report: str) -> None:
    emit(args.output_file, stderr, report)


def _analyse(
    args: argparse.Namespace,
    paths: list[Path],
    overrides: Overrides,
    overlays: dict[Path, bytes],
) -> tuple[list[str], str, int]:
    """The check itself: (the lines for stderr after the fixes' messages, the report, the exit
    code). What --fix and --add-ignore say is printed as it happens."""
    notes: list[str] = []
    progress = None if args.quiet else progress_printer(sys.stderr)
    applied: list[Any] | None = []
    if args.fix:
        applied = _fix(args, paths, overrides)
        if applied is None:
            return notes, "", EXIT_ERROR
    try:
        run = run_check(
            paths,
            overrides,
            overlays,
            progress=progress,
            jobs=_jobs(args),
            prebuild_fixes=args.statistics or args.output_format in {"text", "json"},
            split=not args.add_ignore,  # --add-ignore writes with the model's trees
        )
    finally:
        if progress is not None:
            progress.done()  # type: ignore[attr-defined]
    for warning in run.warnings:
        notes.append(f"durable-harden: warning: {warning}")
    if args.fix or args.add_ignore:  # before what the fixes and suppressions say, as they happen
        for line in notes:
            print(line, file=sys.stderr)
        notes.clear()
    if args.add_ignore:
        files, done, left = _add_ignores(run, args.reason)
        print(
            f"Added suppressions for {done} finding{'s' if done != 1 else ''} "
            f"in {files} file{'s' if files != 1 else ''}.",
            file=sys.stderr,
        )
        for finding in left:
            print(
                f"durable-harden: warning: {finding.path}: {finding.rule_id} not suppressed: "
                "its line starts inside a multi-line string or comment",
                file=sys.stderr,
            )
        run = run_check(paths, overrides, overlays, jobs=_jobs(args))
    if args.fix and args.show_fixes and applied:
        _print_applied(applied)
    if args.output_format != "text" or args.statistics:
        for problem in run.problems:
            notes.append(f"durable-harden: warning: {problem.path}: {problem.message}")
        if not run.files and not run.problems and not args.quiet:
            notes.append("durable-harden: warning: no files were checked")
    return notes, _render(run, args, sys.stdout), _exit_code(run, args, paths)


def _print_applied(applied: list[Any]) -> None:
    """Ruff's `--fix --show-fixes`: what was fixed, per file and rule."""
    from durable_harden.server.output import display_path

    by_file: dict[Path, dict[str, int]] = {}
    for item in applied:
        counts = by_file.setdefault(item.finding.span.path, {})
        counts[item.rule_id] = counts.get(item.rule_id, 0) + 1
    total = len(applied)
    print(f"Fixed {total} finding{'s' if total != 1 else ''}:", file=sys.stderr)
    for path in sorted(by_file, key=str):
        print(f"- {display_path(path)}:", file=sys.stderr)
        for rule_id, count in sorted(by_file[path].items()):
            print(f"    {count} × {rule_id}", file=sys.stderr)


def _snapshot(paths: list[Path], overrides: Overrides) -> dict[Path, int]:
    from durable_harden.analyzers.roots import context_root
    from durable_harden.analyzers.settings_file import find_settings_file
    from durable_harden.analyzers.workspace import discover

    roots = [context_root(p) for p in paths if p.exists()]
    found = discover(roots, overrides.exclude)
    watched = set(found.sources) | set(found.configs)
    for path in list(watched):
        settings_file = find_settings_file(path)
        if settings_file is not None:
            watched.add(settings_file)
    stamps: dict[Path, int] = {}
    for path in watched:
        try:
            stamps[path] = path.stat().st_mtime_ns
        except OSError:
            continue
    return stamps


def _watch(args: argparse.Namespace, paths: list[Path], overrides: Overrides) -> int:
    """Ruff's `--watch`: check, then check again whenever a source, config or settings file
    changes (polled twice a second: no file-watching dependency). Ctrl-C ends it."""
    from durable_harden.analyzers.settings_file import forget

    try:
        while True:
            print(f"[{time.strftime('%H:%M:%S')}] Checking...", file=sys.stderr, flush=True)
            before = _snapshot(paths, overrides)
            try:
                _check_once(args, paths, overrides, {})
            except CheckUsageError as exc:
                print(f"durable-harden: error: {exc}", file=sys.stderr)
            print("Watching for file changes.", file=sys.stderr, flush=True)
            sys.stdout.flush()
            while _snapshot(paths, overrides) == before:
                time.sleep(0.5)
            forget()
    except KeyboardInterrupt:
        return EXIT_CLEAN
