"""`durable-harden harden` and `durable-harden check --fix`: the plan, shown, confirmed, written.

Exit codes (like `ruff --fix`): 0 nothing left to fix (or everything applicable applied),
1 findings remain unfixed, 2 error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from durable_harden.analyzers.analysis import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
REPORT_NAME = "durable-harden-report.md"


def add_harden_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    harden = sub.add_parser(
        "harden",
        help="bring every Durable Object of a project to production shape in one reviewed step",
    )
    harden.add_argument("path", nargs="?", type=Path, default=None, help="project folder")
    harden.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    harden.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="also apply unsafe fixes (otherwise listed with what to review)",
    )
    harden.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    harden.add_argument(
        "--report", action="store_true", help=f"also write the report to {REPORT_NAME}"
    )
    harden.add_argument(
        "--exclude", action="append", default=[], help="gitignore-style pattern to skip"
    )
    harden.add_argument(
        "--no-tests",
        action="store_true",
        help="write the fixes only: no generated runtime tests, vitest set-up, devDependencies "
        "or README section (otherwise written only for patterns that need a runtime test)",
    )


def add_fix_flag(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "--fix", action="store_true", help="apply safe fixes, then report what is left"
    )


def _plan_summary(plan, out: TextIO) -> None:  # type: ignore[no-untyped-def]
    from durable_harden.codeactions.harden.labels import pattern_label, rel

    root = plan.root
    if plan.applied:
        print(f"Plan for {root}:", file=out)
        for applied in sorted(plan.applied, key=lambda a: (a.round, a.tier)):
            where = rel(root, applied.finding.span.path)
            safety = "safe" if applied.fix.is_safe else "UNSAFE"
            who = f"{applied.class_name}: " if applied.class_name else ""
            label = pattern_label(applied.rule_id, applied.fix.title)
            print(f"  [{applied.priority}] {who}{label} ({safety}) — {where}", file=out)
            print(f"      {applied.fix.title}", file=out)
            if not applied.fix.is_safe and applied.fix.review:
                print(f"      review: {' '.join(applied.fix.review.split())}", file=out)
    held = [lo for lo in plan.left_for_review() if lo.status == "unsafe"]
    if held:
        print("Unsafe fixes not applied (use --unsafe-fixes):", file=out)
        for leftover in held:
            where = rel(root, leftover.finding.span.path)
            title = leftover.fix.title if leftover.fix is not None else leftover.finding.rule_id
            print(f"  {where}: {leftover.finding.rule_id}: {title}", file=out)
            if leftover.detail:
                print(f"      review: {' '.join(leftover.detail.split())}", file=out)
    changes = plan.changes()
    if changes:
        stats = plan.line_stats()
        print("Files:", file=out)
        for path in changes:
            added, removed = stats[path]
            verb = "create" if changes[path][0] is None else "modify"
            print(f"  {verb} {rel(root, path)} (+{added} -{removed})", file=out)


def _confirm(question: str) -> bool:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _exit_code(plan, written: bool) -> int:  # type: ignore[no-untyped-def]
    """0: everything applicable applied (findings without any automatic fix are only listed);
    1: fixable findings remain (not written, unsafe not requested, conflicts); 2: error."""
    from durable_harden.codeactions.harden.plan import NO_FIX

    if any(p.endswith("no such file or folder") for p in plan.problems):
        return EXIT_ERROR
    if not written and plan.has_changes:
        return EXIT_FINDINGS  # fixable findings remain on disk
    # findings no fix can address are reported, but do not fail: everything applicable was done
    unfixed = [lo for lo in plan.left_for_review() if lo.status != NO_FIX]
    return EXIT_FINDINGS if unfixed else EXIT_CLEAN


def cmd_harden(args: argparse.Namespace) -> int:
    from durable_harden.analyzers.analysis import Settings
    from durable_harden.analyzers.roots import resolve_given
    from durable_harden.analyzers.settings_file import SettingsError, settings_for
    from durable_harden.analyzers.workspace import missing_message
    from durable_harden.codeactions.harden import harden
    from durable_harden.codeactions.harden.report import render_report
    from durable_harden.server.writer import WriteError, render_diff, write_all

    path = resolve_given(args.path or Path.cwd())
    if not path.exists():
        print(f"durable-harden: error: {path}: {missing_message(path)}", file=sys.stderr)
        return EXIT_ERROR
    root = path if path.is_dir() else path.parent
    try:
        file_settings, _ = settings_for(path)
    except SettingsError as exc:
        print(f"durable-harden: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    settings = Settings(
        select=file_settings.select,
        ignore=file_settings.ignore,
        severity=file_settings.severity,
        exclude=[*file_settings.exclude, *args.exclude],
        unsafe_fixes=args.unsafe_fixes or file_settings.unsafe_fixes,
    )
    from durable_harden.server.check_run import progress_printer

    progress = progress_printer(sys.stderr)
    try:
        plan = harden(
            [path],
            unsafe=settings.unsafe_fixes,
            settings=settings,
            outputs=not args.no_tests,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.done()  # type: ignore[attr-defined]
    for problem in plan.problems:
        print(f"durable-harden: warning: {problem}", file=sys.stderr)

    if args.diff:
        sys.stdout.write(render_diff(plan.root, plan.changes()))
        held = [lo for lo in plan.left_for_review() if lo.status == "unsafe"]
        if held:
            print(
                f"durable-harden: {len(held)} unsafe fix(es) not shown (use --unsafe-fixes)",
                file=sys.stderr,
            )
        return _exit_code(plan, written=False)

    if not plan.has_changes:
        print(render_report(plan, written=False), end="")
        print("Nothing to apply.")
        return _exit_code(plan, written=True)

    _plan_summary(plan, sys.stdout)
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            print(
                "No terminal to confirm on and no --yes: nothing was written. "
                "Re-run with --yes to apply, or --diff to see the edits."
            )
            return _exit_code(plan, written=False)
        if not _confirm(f"Apply {len(plan.changes())} file change(s)?"):
            print("Nothing was written.")
            return _exit_code(plan, written=False)

    changes = plan.changes()
    files = {p: after for p, (_, after) in changes.items()}
    # each target must still hold what the analysis read (None: it did not exist)
    expected = {p: before for p, (before, _) in changes.items()}
    report = render_report(plan, written=True)
    if args.report:
        files[root / REPORT_NAME] = report.encode("utf-8")
    try:
        write_all(root, files, expected)
    except WriteError as exc:
        print(f"durable-harden: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print()
    print(report, end="")
    if args.report:
        print(f"Report written to {root / REPORT_NAME}")
    return _exit_code(plan, written=True)


def cmd_check_fix(
    paths: list[Path],
    settings: Settings,
    unsafe: bool = False,
    applied: list | None = None,  # type: ignore[type-arg]
) -> int:
    """`check --fix`: apply safe fixes (and unsafe ones with `unsafe`: `--unsafe-fixes` or the
    settings' "unsafeFixes"), no generated extras, then the usual check output. The fixes
    applied are appended to `applied` when given (for `--show-fixes`)."""
    from durable_harden.analyzers.roots import resolve_given
    from durable_harden.codeactions.harden.plan import plan_workspace
    from durable_harden.server.writer import WriteError, write_all

    paths = [resolve_given(p) for p in paths]
    existing = [p for p in paths if p.exists()]
    if existing:
        plan = plan_workspace(existing, unsafe=unsafe, settings=settings)
        changes = plan.changes()
        files = {p: after for p, (_, after) in changes.items()}
        try:
            write_all(plan.root, files, {p: before for p, (before, _) in changes.items()})
        except WriteError as exc:
            print(f"durable-harden: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if applied is not None:
            applied.extend(plan.applied)
        if plan.applied:
            print(
                f"Fixed {len(plan.applied)} finding(s) in {len(files)} file(s).",
                file=sys.stderr,
            )
    return -1  # go on with the normal check
