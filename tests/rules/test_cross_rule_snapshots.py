"""The snapshot facility (tests/rules/_snapshot.py) itself: a snapshot that differs from what
the rule or its fixes produce fails the test; --snapshot-update rewrites it; a missing one is an
error, never written silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules import _snapshot
from tests.rules._snapshot import Snapshots, check_case, snapshot_path

RULE = "timer-blocks-hibernation"
CASE = "fix-game-loop.before.ts"


def test_equal_text_passes_different_text_fails_with_a_diff_and_the_command(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.snap"
    path.write_text("a\nb\n")
    Snapshots(False, "tests/rules/test_x.py").check(path, "a\nb\n")
    with pytest.raises(AssertionError) as exc:
        Snapshots(False, "tests/rules/test_x.py").check(path, "a\nc\n")
    message = str(exc.value)
    assert "-b\n+c" in message
    assert "python3 -m pytest tests/rules/test_x.py --snapshot-update" in message
    assert path.read_text() == "a\nb\n"


def test_missing_snapshot_fails_unless_updating(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "x.snap"
    with pytest.raises(AssertionError, match="no snapshot"):
        Snapshots(False, "t").check(path, "text\n")
    assert not path.exists()
    Snapshots(True, "t").check(path, "text\n")
    assert path.read_text() == "text\n"
    Snapshots(True, "t").check(path, "new\n")
    assert path.read_text() == "new\n"


def test_committed_snapshot_matches_and_records_the_fix(tmp_path: Path) -> None:
    text = check_case(RULE, CASE, tmp_path, Snapshots(False, "t"))
    assert text == snapshot_path(RULE, CASE).read_text()
    assert "fix (unsafe): Replace `setInterval` with an alarm" in text
    assert "+  async alarm(): Promise<void> {" in text


def test_a_changed_fix_fails_the_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_snapshot, "fixes_for", lambda finding, model: [])
    with pytest.raises(AssertionError, match="differs from what the rule produces now"):
        check_case(RULE, CASE, tmp_path, Snapshots(False, "t"))


def test_a_moved_or_reworded_finding_fails_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _snapshot.analyze_paths

    def reworded(paths, settings):
        result = real(paths, settings)
        for finding in result.findings:
            finding.message = finding.message.replace("hibernating", "sleeping")
        return result

    monkeypatch.setattr(_snapshot, "analyze_paths", reworded)
    with pytest.raises(AssertionError, match=r"(?s)-  message: .*hibernating.*\+  message: "):
        check_case(RULE, CASE, tmp_path / "a", Snapshots(False, "t"))
    monkeypatch.setattr(_snapshot, "analyze_paths", real)
    moved = tmp_path / "fixtures"
    (moved / RULE).mkdir(parents=True)
    source = (_snapshot.FIXTURES / RULE / CASE).read_text()
    (moved / RULE / CASE).write_text("\n" + source)
    (moved / RULE / "snapshots").mkdir()
    (moved / RULE / "snapshots" / f"{CASE}.snap").write_text(snapshot_path(RULE, CASE).read_text())
    monkeypatch.setattr(_snapshot, "FIXTURES", moved)
    with pytest.raises(AssertionError, match="differs"):
        check_case(RULE, CASE, tmp_path / "b", Snapshots(False, "t"))


def test_expected_fix_all_results_are_compared_or_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_snapshot, "FIXTURES", tmp_path)
    monkeypatch.setattr(_snapshot, "UPDATE", False)  # this test runs under --snapshot-update too
    expected = tmp_path / RULE / "fix.after.ts"
    expected.parent.mkdir()
    expected.write_text("old\n")
    with pytest.raises(AssertionError) as exc:
        _snapshot.expect_file("new\n", expected)
    assert "tests/rules/test_timer_blocks_hibernation.py --snapshot-update" in str(exc.value)
    assert expected.read_text() == "old\n"
    monkeypatch.setattr(_snapshot, "UPDATE", True)
    _snapshot.expect_file("new\n", expected)
    assert expected.read_text() == "new\n"
