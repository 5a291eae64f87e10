"""`durable-harden`: check, rules, rule, serve.

Exit codes (like Ruff): 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif", "github")


class UsageError(Exception):
    pass


def _rule_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-harden",
        description="Find and fix what keeps Cloudflare Durable Objects from being production-ready.",
    )
    parser.add_argument("--version", action="version", version="durable-harden 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="analyse files or folders (default: the current folder)")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders")
    check.add_argument("--output-format", choices=FORMATS, default="text")
    check.add_argument(
        "--select", type=_rule_list, default=None, help="comma-separated rule ids (or ALL)"
    )
    check.add_argument("--ignore", type=_rule_list, default=[], help="comma-separated rule ids")
    check.add_argument(
        "--exclude", action="append", default=[], help="gitignore-style pattern to skip"
    )
    check.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    check.add_argument("--no-color", action="store_true")
    from durable_harden.server.harden_cli import add_fix_flag, add_harden_parser

    add_fix_flag(check)

    add_harden_parser(sub)
    sub.add_parser("rules", help="list every rule")
    rule = sub.add_parser("rule", help="show one rule's documentation")
    rule.add_argument("rule_id")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", default=None)
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    from durable_harden.analyzers.analysis import Settings, analyze_paths
    from durable_harden.analyzers.settings_file import SettingsError, settings_for
    from durable_harden.server.output import RENDERERS, render_text, use_color

    paths = args.paths or [Path.cwd()]
    # the nearest durable-harden.jsonc (or package.json "durable-harden" key); flags win over it
    anchor = next((p for p in paths if p.exists()), Path.cwd())
    try:
        file_settings, settings_file = settings_for(anchor)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    for warning in settings_file.warnings if settings_file is not None else []:
        print(f"durable-harden: warning: {warning}", file=sys.stderr)
    settings = Settings(
        select=args.select if args.select is not None else file_settings.select,
        ignore=args.ignore or file_settings.ignore,
        severity=file_settings.severity,
        exclude=[*file_settings.exclude, *args.exclude],
        unsafe_fixes=file_settings.unsafe_fixes,
    )
    unknown = settings.validate()
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)} (see `durable-harden rules`)")
    if getattr(args, "fix", False):
        from durable_harden.server.harden_cli import cmd_check_fix

        if cmd_check_fix(paths, settings) == EXIT_ERROR:
            return EXIT_ERROR
    result = analyze_paths(paths, settings)
    if args.output_format == "text":
        color = use_color(sys.stdout) and not args.no_color
        print(render_text(result.findings, result.model, result.problems, color=color))
    else:
        print(RENDERERS[args.output_format](result.findings, result.model, result.problems))
        for problem in result.problems:
            print(f"durable-harden: warning: {problem.path}: {problem.message}", file=sys.stderr)
    missing = [p for p in result.problems if p.message.endswith("no such file or folder")]
    internal = [p for p in result.problems if p.message.startswith("internal error")]
    if missing and len(missing) == len(paths):
        return EXIT_ERROR
    if internal:
        return EXIT_ERROR
    if result.findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def cmd_rules() -> int:
    from durable_harden.analyzers.rules import all_rules
    from durable_harden.codeactions import builders

    fixable = builders()
    rows = [
        (r.id, r.severity.name.lower(), "yes" if r.id in fixable else "", r.title)
        for r in all_rules()
    ]
    widths = [
        max(len(row[i]) for row in [*rows, ("rule", "severity", "fix", "")]) for i in range(3)
    ]
    header = ("rule", "severity", "fix", "title")
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return EXIT_CLEAN


def cmd_rule(rule_id: str) -> int:
    from durable_harden.analyzers.rules import all_rules, rule_by_id

    rule = rule_by_id(rule_id)
    if rule is None:
        known = ", ".join(r.id for r in all_rules())
        raise UsageError(f"unknown rule {rule_id!r}; known rules: {known}")
    print(rule.markdown())
    return EXIT_CLEAN


def cmd_serve(args: argparse.Namespace) -> int:
    from durable_harden.server.lsp import start

    return start(tcp=args.tcp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already
        return int(exc.code or 0)
    try:
        if args.command == "check":
            return cmd_check(args)
        if args.command == "harden":
            from durable_harden.server.harden_cli import cmd_harden

            return cmd_harden(args)
        if args.command == "rules":
            return cmd_rules()
        if args.command == "rule":
            return cmd_rule(args.rule_id)
        if args.command == "serve":
            return cmd_serve(args)
        parser.print_help()
        return EXIT_ERROR
    except UsageError as exc:
        print(f"durable-harden: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as exc:  # the last line of defence: a clear message, exit 2
        import traceback

        traceback.print_exc(file=sys.stderr)
        print(f"durable-harden: internal error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
