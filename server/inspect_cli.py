"""`durable-harden inspect [PATH]`: print the project model as the tool sees it (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_CLEAN, EXIT_ERROR = 0, 2


def add_inspect_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    inspect = sub.add_parser(
        "inspect",
        help="print the project model (Worker projects, DO classes, tables, bindings) as JSON",
    )
    inspect.add_argument("path", nargs="?", type=Path, default=None, help="file or folder")
    inspect.add_argument(
        "--exclude", action="append", default=[], help="gitignore-style pattern to skip"
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    from durable_harden.analyzers.analysis import model_for_paths
    from durable_harden.analyzers.inspect import inspect_model

    path: Path = args.path or Path.cwd()
    if not path.exists():
        print(f"durable-harden: error: {path}: no such file or folder", file=sys.stderr)
        return EXIT_ERROR
    model, _, _ = model_for_paths([path], args.exclude)
    print(json.dumps(inspect_model(model), indent=2))
    return EXIT_CLEAN
