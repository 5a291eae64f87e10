"""The schedule table `_alarm.py` writes carries its own index on `due_at` wherever it is
created, and is known as bookkeeping (one row per kind), so the tool's generated queries never
trip its own sql-missing-index / sql-unbounded-read rules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rules._hibernation_support import EXAMPLES, run

INDEX = "CREATE INDEX IF NOT EXISTS idx__alarm_schedule_due_at ON _alarm_schedule(due_at)"


def _harden(root: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "durable_harden", "harden", "--unsafe-fixes", "--yes", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("example", ["chat-room", "rate-limiter"])
def test_hardened_examples_have_no_missing_index_on_the_schedule(
    tmp_path: Path, example: str
) -> None:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns("node_modules"))
    report = _harden(root)
    # no SQL pattern (an extra index, a LIMIT) applied to the tool's own table
    assert "idx__alarm_schedule_due_at" not in report
    sql_fixes = [line for line in report.splitlines() if "(sql-" in line]
    assert [line for line in sql_fixes if "alarm_schedule" in line.lower()] == []
    for rule in ("sql-missing-index", "sql-unbounded-read", "unbounded-table-growth"):
        findings, _ = run(rule, root)
        assert [f.message for f in findings if "_alarm_schedule" in f.message] == [], rule
    sources = "".join(p.read_text() for p in (root / "src").rglob("*.ts"))
    creates = sources.count("CREATE TABLE IF NOT EXISTS _alarm_schedule")
    assert sources.count(INDEX) == creates
    if example == "chat-room":
        assert creates == 2  # scheduleAlarm() and alarm() both create the table
    # a second round has nothing to add for the schedule
    again = _harden(root)
    assert "_alarm_schedule" not in again
