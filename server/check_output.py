"""What every `check` path shares and that must stay light to import: the usage error and how a
report and its stderr lines are written out. The warm path (a hit in server/check_cache.py)
uses it before anything of the analysis is imported."""

from __future__ import annotations

import sys
from pathlib import Path


class CheckUsageError(Exception):
    """Bad flags or settings, said plainly (exit 2)."""


def emit(output_file: Path | None, stderr: list[str], report: str) -> None:
    """The stderr lines, then the report on stdout or into `output_file`."""
    for line in stderr:
        print(line, file=sys.stderr)
    if output_file is not None:
        try:
            output_file.parent.mkdir(parents=True, exist_ok=True)
            output_file.write_text(report + ("\n" if report else ""), encoding="utf-8")
        except OSError as exc:
            raise CheckUsageError(f"--output-file {output_file}: {exc}") from None
    elif report:
        print(report)
