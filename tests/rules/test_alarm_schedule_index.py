"""The schedule table `_alarm.py` writes carries its own index on `due_at` wherever it is
created, so the tool's generated queries never trip its own sql-missing-index rule."""

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
        [sys.executable, "-m", "server.cli", "harden", "--unsafe-fixes", "--yes", str(root)],
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
    # no separate "index for a scanning query" pattern for the tool's own table
    assert "idx__alarm_schedule_due_at" not in report
    findings, _ = run("sql-missing-index", root)
    assert [f.message for f in findings if "_alarm_schedule" in f.message] == []
    sources = "".join(p.read_text() for p in (root / "src").rglob("*.ts"))
    creates = sources.count("CREATE TABLE IF NOT EXISTS _alarm_schedule")
    assert sources.count(INDEX) == creates
    if example == "chat-room":
        assert creates == 2  # scheduleAlarm() and alarm() both create the table
    # a second round has nothing to add for the schedule
    again = _harden(root)
    assert "_alarm_schedule" not in again
