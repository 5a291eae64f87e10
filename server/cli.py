"""`durable-harden`: check, rules, rule, serve.

Exit codes (like Ruff): 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")
LEVELS = ("hint", "info", "warning", "error")


class UsageError(Exception):
    pass


def _rule_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


CHECK_EPILOG = """\
rules are named by id, group (`durable-harden rules`), id prefix or ALL, in any case;
repeated --select/--ignore/--extend-select accumulate. Settings come from the durable-harden.jsonc
(or package.json "durable-harden" key) nearest to each file; flags win over it.
exit codes: 0 no findings (at or above --fail-level), 1 findings, 2 usage, settings or internal error
"""


TOP_EPILOG = """\
check's options (`durable-harden check --help`):
  rules   --select, --extend-select, --ignore (ids, groups, prefixes, ALL), --config PATH
  files   --exclude, --stdin-filename (with `-`), --show-files, --show-settings, --watch
  fixes   --fix, --unsafe-fixes, --show-fixes, --add-ignore [--reason TEXT]
  output  --output-format text|json|sarif|github|junit|gitlab, --output-file/-o, --statistics,
          --quiet/-q, --fail-level LEVEL, --exit-zero, --no-color
reference: docs/cli.md
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-harden",
        description="Find and fix what keeps Cloudflare Durable Objects from being production-ready.",
        epilog=TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="durable-harden 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="analyse files or folders (default: the current folder)",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "paths", nargs="*", type=Path, help="files or folders; `-` reads a file from stdin"
    )
    rules = check.add_argument_group("rule selection")
    rules.add_argument(
        "--select",
        type=_rule_list,
        action="append",
        default=None,
        metavar="RULES",
        help="comma-separated rules, groups or prefixes to run instead of the settings' "
        "`select` (or ALL)",
    )
    rules.add_argument(
        "--extend-select",
        type=_rule_list,
        action="append",
        default=None,
        metavar="RULES",
        help="rules to run in addition to the selected ones",
    )
    rules.add_argument(
        "--ignore",
        type=_rule_list,
        action="append",
        default=None,
        metavar="RULES",
        help="rules never to run (added to the settings' `ignore`)",
    )
    rules.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="use this settings file for every file (instead of the nearest one)",
    )
    files = check.add_argument_group("files")
    files.add_argument(
        "--exclude", action="append", default=[], help="gitignore-style pattern to skip"
    )
    files.add_argument(
        "--stdin-filename",
        type=Path,
        default=None,
        metavar="PATH",
        help="the path of the file read from stdin (`-`): its project and settings",
    )
    files.add_argument(
        "--show-files",
        action="store_true",
        help="list the files that would be checked, and the folders skipped by default",
    )
    files.add_argument(
        "--show-settings",
        action="store_true",
        help="print the settings in effect for each given file, then exit",
    )
    files.add_argument("--watch", action="store_true", help="check again when files change")
    files.add_argument(
        "--no-cache",
        action="store_true",
        help="analyse afresh: neither read nor write .durable-harden-cache/",
    )
    files.add_argument(
        "--jobs",
        "-j",
        default=None,
        metavar="N",
        help="worker processes for a cold check: `auto` (the default: every core once the "
        "project has 100 source files) or N (1: one process); also DURABLE_HARDEN_JOBS",
    )
    fixing = check.add_argument_group("fixes")
    from durable_harden.server.harden_cli import add_fix_flag, add_harden_parser

    add_fix_flag(fixing)
    fixing.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help='with --fix, also apply unsafe fixes (as the settings\' "unsafeFixes": true)',
    )
    fixing.add_argument(
        "--show-fixes",
        action="store_true",
        help="list the fixes of each finding (with --fix: the fixes applied)",
    )
    fixing.add_argument(
        "--add-ignore",
        action="store_true",
        help="add a `durable-harden-ignore` comment above every line with findings "
        "(adopting the tool on existing code, like Ruff's --add-noqa)",
    )
    fixing.add_argument(
        "--reason",
        default=None,
        help="the reason --add-ignore writes into each comment (default: a TODO to fill in)",
    )
    output = check.add_argument_group("output")
    output.add_argument("--output-format", choices=FORMATS, default="text")
    output.add_argument(
        "--output-file",
        "-o",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the report to this file instead of stdout",
    )
    output.add_argument(
        "--statistics", action="store_true", help="count the findings per rule instead"
    )
    output.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print the findings only: no summary and no progress",
    )
    output.add_argument(
        "--fail-level",
        choices=LEVELS,
        default="hint",
        help="findings below this severity are reported but exit 0 (default: hint, all fail)",
    )
    output.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    output.add_argument("--no-color", action="store_true")

    add_harden_parser(sub)
    from durable_harden.server.inspect_cli import add_inspect_parser

    add_inspect_parser(sub)
    rules_cmd = sub.add_parser("rules", help="list every rule (id, group, severity, fix)")
    rules_cmd.add_argument("--output-format", choices=("text", "json"), default="text")
    rule = sub.add_parser("rule", help="show one rule's documentation")
    rule.add_argument("rule_id")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", default=None)
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    # a warm check answers from the on-disk cache before the analysis is imported
    from durable_harden.server import check_cache

    replayed, cache = check_cache.replay(args)
    if replayed is not None:
        return replayed
    if _program and not (args.fix or args.add_ignore or args.watch):
        _collector_off()
    _quiet_sqlglot()
    from durable_harden.server.check_cli import check_command

    return check_command(args, cache)


def cmd_rules(output_format: str = "text") -> int:
    import json

    from durable_harden.analyzers.rules import all_rules, default_on, group_of
    from durable_harden.codeactions import builders
    from durable_harden.server.ruledocs import page

    fixable = builders()
    if output_format == "json":
        items = [
            {
                "code": r.id,
                "name": r.title,
                "group": group_of(r.id),
                "severity": r.severity.name.lower(),
                "fixable": r.id in fixable,
                "default": default_on(r.id),
                "url": r.url,
                "explanation": page(r),
            }
            for r in all_rules()
        ]
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return EXIT_CLEAN
    rows = [
        (
            r.id,
            group_of(r.id) + ("" if default_on(r.id) else " (opt-in)"),
            r.severity.name.lower(),
            "yes" if r.id in fixable else "",
            r.title,
        )
        for r in all_rules()
    ]
    header = ("rule", "group", "severity", "fix", "title")
    widths = [max(len(row[i]) for row in [*rows, header]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(f"{row[i]:<{widths[i]}}" for i in range(4)) + f"  {row[4]}")
    return EXIT_CLEAN


def cmd_rule(rule_id: str) -> int:
    import difflib

    from durable_harden.analyzers.rules import all_rules, rule_by_id
    from durable_harden.server.ruledocs import page

    rule = rule_by_id(rule_id.strip().lower())
    if rule is None:
        ids = [r.id for r in all_rules()]
        close = difflib.get_close_matches(rule_id.strip().lower(), ids, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
        raise UsageError(f"unknown rule {rule_id!r}{hint} (see `durable-harden rules`)")
    print(page(rule))
    return EXIT_CLEAN


def cmd_serve(args: argparse.Namespace) -> int:
    from durable_harden.server.lsp import start

    return start(tcp=args.tcp)


def _collector_off() -> None:
    """Python's cyclic garbage collector off for the rest of the program: a plain `check` (no
    --fix, --add-ignore or --watch: one analysis, then the report) run as the program, which
    ends with `os._exit` (run()). The analysis runs with the collector paused
    (analysis.collector_paused); turning it back on afterwards let the next young-generation
    collection walk every object the analysis had made (they were all still young), ~17 ms at
    200 files and ~35-70 ms at 1,000, to free nothing: the model lives until the program ends.
    Not in-process (tests, an embedding program: `_program` is False there) and not for the
    commands that analyse again and again (--fix, --watch), which must free each round."""
    import gc

    gc.disable()


def _quiet_sqlglot() -> None:
    """sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'" for
    SQL it only partly knows (SAVEPOINT, CREATE TRIGGER …); the rules handle such statements, so
    the message is noise on the user's terminal."""
    import logging

    logging.getLogger("sqlglot").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already
        return int(exc.code or 0)
    try:
        if args.command != "check":  # check: after its cache missed (cmd_check)
            _quiet_sqlglot()
        if args.command == "check":
            code = cmd_check(args)
            _finished.append("check")
            return code
        if args.command == "harden":
            from durable_harden.server.harden_cli import cmd_harden

            return cmd_harden(args)
        if args.command == "inspect":
            from durable_harden.server.inspect_cli import cmd_inspect

            return cmd_inspect(args)
        if args.command == "rules":
            return cmd_rules(args.output_format)
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


_finished: list[str] = []  # the commands main() completed in this process (see run())
_program = False  # main() runs as the program (run()), which ends when it returns


def run() -> None:
    """The program: main() on the command line's arguments, then the process ends (the
    `durable-harden` console script and `python -m durable_harden`).

    After a `check` it ends without the interpreter's teardown (the streams flushed, then
    `os._exit`): freeing the analysis object by object, and a last full garbage collection
    over it, cost ~15% of a cold check's CPU time (~0.3 s at 1,000 files), after the report was
    already out. Nothing is left to do at that point: the report, `--output-file` and the
    on-disk cache are written and closed, the worker processes stopped. Other commands, and
    main() called in-process (the tests, an embedding program), end normally."""
    global _program
    _program = True
    code = main()
    if "check" in _finished:
        import contextlib
        import os

        for stream in (sys.stdout, sys.stderr):
            # a closed pipe or stream: nothing more can be said
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.shutdown()  # flushes and closes the handlers, as the normal exit would
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
