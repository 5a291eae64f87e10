"""`harden --yes` and `check --fix` write all or nothing: every target is checked (still what
the analysis read, writable) before the first write, and a write that fails midway rolls back
what was written. Runs the real CLI on a copy of an example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from durable_harden.codeactions import harden as harden_module
from durable_harden.codeactions.harden import plan as plan_module
from durable_harden.server import cli, writer
from durable_harden.server.writer import StaleOrUnwritable, WriteFailed, write_all

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chat-room"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "chat-room"
    shutil.copytree(EXAMPLE, target)
    return target.resolve()


def _harden(copy: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = cli.main(["harden", str(copy), "--yes", "--unsafe-fixes", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err


def _edit_after_planning(monkeypatch: pytest.MonkeyPatch, change) -> None:  # type: ignore[no-untyped-def]
    """`change(plan)` runs right after planning: harden (`codeactions.harden.harden`) and
    check --fix (`codeactions.harden.plan.plan_workspace`)."""
    for module, name in ((harden_module, "harden"), (plan_module, "plan_workspace")):
        real = getattr(module, name)

        def planned_then_changed(*args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            plan = _real(*args, **kwargs)
            change(plan)
            return plan

        monkeypatch.setattr(module, name, planned_then_changed)


def _modified_source(plan) -> Path:  # type: ignore[no-untyped-def]
    return next(p for p, (b, _) in plan.changes().items() if b is not None and p.suffix == ".ts")


@pytest.mark.parametrize(("how", "said"), [("edited", "changed"), ("deleted", "deleted")])
def test_a_source_changed_after_analysis_is_reported_and_nothing_written(
    copy: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    said: str,
) -> None:
    seen: dict[str, object] = {}

    def change(plan) -> None:  # type: ignore[no-untyped-def]
        source = _modified_source(plan)
        if how == "edited":
            source.write_text(source.read_text() + "\n// typed while harden ran\n")
        else:
            source.unlink()
        seen["label"] = source.relative_to(copy).as_posix()
        seen["files"] = _snapshot(copy)

    _edit_after_planning(monkeypatch, change)
    code, err = _harden(copy, capsys)
    assert code == 2
    assert f"{seen['label']}: {said} since the analysis" in err
    assert _snapshot(copy) == seen["files"]  # nothing written, the deleted file not re-created


def test_a_file_created_after_analysis_is_not_overwritten(
    copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = copy / "scripts" / "deploy-gradual.sh"
    seen: dict[str, object] = {}

    def change(plan) -> None:  # type: ignore[no-untyped-def]
        assert plan.changes()[script][0] is None  # the plan creates it
        script.parent.mkdir()
        script.write_text("#!/bin/sh\n# mine\n")
        seen["files"] = _snapshot(copy)

    _edit_after_planning(monkeypatch, change)
    code, err = _harden(copy, capsys)
    assert code == 2 and "scripts/deploy-gradual.sh: created since the analysis" in err
    assert _snapshot(copy) == seen["files"]


def test_an_unwritable_source_folder_stops_before_the_first_write(
    copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = copy / "src"
    src.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anyway: ask the check as an ordinary user would
            real = os.access
            monkeypatch.setattr(
                writer.os, "access", lambda p, m: False if Path(p) == src else real(p, m)
            )
        before = _snapshot(copy)
        code, err = _harden(copy, capsys)
    finally:
        src.chmod(0o755)
    assert code == 2 and "folder src is not writable" in err and "nothing was written" in err
    assert _snapshot(copy) == before  # no package.json, README.md or scripts/ either


def test_a_failed_write_midway_rolls_back(
    copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """package.json, README.md and scripts/ sort before src/: the failing source write comes
    after them, and they get their old bytes back (created files and folders go away)."""
    real = writer.write_atomic
    calls: list[Path] = []

    def failing(path: Path, data: bytes) -> None:
        calls.append(path)
        if path.parent.name == "src" and len(calls) < 50:
            raise PermissionError(13, "Permission denied")
        real(path, data)

    monkeypatch.setattr(writer, "write_atomic", failing)
    before = _snapshot(copy)
    code, err = _harden(copy, capsys)
    assert code == 2
    assert "failed (Permission denied)" in err and "restored, nothing changed" in err
    assert len({p for p in calls if p.parent.name != "src"}) >= 3  # some were written, then undone
    assert _snapshot(copy) == before
    assert not (copy / "scripts").exists()
    assert sorted(p.name for p in copy.rglob(".*.tmp")) == []


def test_write_all_reports_every_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_text("a")
    (tmp_path / "dir.ts").mkdir()
    (tmp_path / "file").write_text("")
    with pytest.raises(StaleOrUnwritable) as raised:
        write_all(
            tmp_path,
            {
                tmp_path / "a.ts": b"new",
                tmp_path / "dir.ts": b"x",
                tmp_path / "file" / "under.ts": b"x",
                tmp_path / "gone.ts": b"x",
            },
            {tmp_path / "a.ts": b"old", tmp_path / "gone.ts": b"was here"},
        )
    message = str(raised.value)
    for part in (
        "a.ts: changed since the analysis",
        "dir.ts: not a regular file",
        "file/under.ts: file is not a folder",
        "gone.ts: deleted since the analysis",
    ):
        assert part in message
    assert (tmp_path / "a.ts").read_text() == "a" and not (tmp_path / "gone.ts").exists()


def test_rollback_restores_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "a.sh"
    first.write_text("old")
    first.chmod(0o750)
    real = writer.write_atomic

    def failing(path: Path, data: bytes) -> None:
        if path.name == "b.ts" and data == b"new":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(writer, "write_atomic", failing)
    with pytest.raises(WriteFailed, match="No space left on device"):
        write_all(tmp_path, {first: b"new", tmp_path / "b.ts": b"new"})
    assert first.read_text() == "old" and first.stat().st_mode & 0o777 == 0o750


def test_check_fix_refuses_a_stale_plan_too(
    copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def change(plan) -> None:  # type: ignore[no-untyped-def]
        source = _modified_source(plan)
        source.write_text(source.read_text() + "\n// edited\n")
        seen["files"] = _snapshot(copy)

    _edit_after_planning(monkeypatch, change)
    code = cli.main(["check", "--fix", str(copy)])
    err = capsys.readouterr().err
    assert code == 2 and "changed since the analysis" in err and "Traceback" not in err
    assert _snapshot(copy) == seen["files"]


def test_cli_error_is_a_message_not_a_traceback(copy: Path) -> None:
    """Through the real entry point: an unwritable target (a folder where the script goes)."""
    (copy / "scripts").write_text("not a folder")
    done = subprocess.run(
        [sys.executable, "-m", "durable_harden", "harden", str(copy), "--yes", "--unsafe-fixes"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "scripts is not a folder" in done.stderr and "nothing was written" in done.stderr
