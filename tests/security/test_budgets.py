"""Budgets: generated pathological inputs complete through the real CLI (`check` and
`harden --diff`) and each file is reported, analysed or skipped with a clear note. The bound is
a generous subprocess timeout: before the fixes these took minutes (3,000 nested blocks, 1,000
substitutions in one `sql.exec`), so a regression fails; nothing asserts a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_harden.analyzers import source
from tests.security.pathological import (
    deep_nesting,
    huge_file,
    huge_sql,
    many_substitutions,
    write_project,
)

ROOT = Path(__file__).resolve().parents[2]
BOUND = 120  # seconds per command: minutes before the fixes, about a second after


def _run(root: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_harden", *command, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=BOUND,
    )


CASES: dict[str, Callable[[], str]] = {
    "nesting-800": lambda: deep_nesting(800),
    "nesting-3000": lambda: deep_nesting(3000),
    "substitutions-500": lambda: many_substitutions(500),
    "substitutions-1000": lambda: many_substitutions(1000),
    "sql-1mb": lambda: huge_sql(1_000_000),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pathological_input_is_analysed_and_hardened_within_the_bound(
    tmp_path: Path, case: str
) -> None:
    root = write_project(tmp_path / case, CASES[case]())
    done = _run(root, "check", "--output-format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "skipped" not in done.stderr  # analysed, not skipped, with the default budget
    diff = _run(root, "harden", "--diff", "--unsafe-fixes")
    assert diff.returncode in (0, 1), diff.stderr
    assert "Traceback" not in diff.stderr and "internal error" not in diff.stderr
    if case.startswith("substitutions"):
        # the fix binds every value: one `?` per substitution in the diff
        count = int(case.split("-")[1])
        added = [
            line for line in diff.stdout.splitlines() if line.startswith("+") and "exec(" in line
        ]
        assert added and added[0].count("?") == count


def test_ten_megabyte_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    text = huge_file(10_000_000)
    assert len(text.encode()) > source.MAX_SOURCE_BYTES
    root = write_project(tmp_path / "big", text)
    (root / "src" / "other.ts").write_text(deep_nesting(3).replace("class Room", "class Other"))
    done = _run(root, "check", "--output-format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert "index.ts: file is 10.0 MB, over the 8 MiB limit; skipped" in done.stderr
    assert "other.ts" in done.stdout  # the rest of the project is analysed


def test_a_file_over_the_time_budget_is_skipped_and_the_others_analysed(tmp_path: Path) -> None:
    """A quarter-second budget: the megabyte file (thousands of methods with timers and queries)
    takes about a second even after the speed work of issue 14, so it is reported as skipped; the
    small file's finding (a few ms) is still there."""
    root = write_project(tmp_path / "slow", huge_file(1_000_000))
    (root / "src" / "small.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Small extends DurableObject {\n"
        "  tick() {\n    setInterval(() => this.tick(), 1000);\n  }\n}\n"
    )
    done = _run(root, "check", "--output-format", "json", DURABLE_HARDEN_FILE_BUDGET="0.25")
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "index.ts: skipped: analysing this file took longer than the 0.25 s budget" in done.stderr
    )
    files = {Path(item["filename"]).name for item in json.loads(done.stdout)}
    assert files == {"small.ts"}  # the small file's timer finding; nothing from the skipped one
    diff = _run(root, "harden", "--diff", DURABLE_HARDEN_FILE_BUDGET="0.25")
    assert diff.returncode in (0, 1), diff.stderr
    assert "index.ts: skipped" in diff.stderr
