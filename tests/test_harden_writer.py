"""Atomic writes inside one root, and unified diffs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from durable_harden.server import writer
from durable_harden.server.writer import (
    OutsideRoot,
    render_diff,
    unified_diff,
    write_all,
    write_atomic,
)


def test_write_atomic_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "deploy.sh"
    target.write_text("old\n")
    target.chmod(0o750)
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.sh"]  # no temp file left


def test_new_script_is_executable_and_folders_are_made(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "deploy-gradual.sh"
    write_atomic(script, b"#!/bin/sh\n")
    assert os.access(script, os.X_OK)


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.ts"
    target.write_text("keep me\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, b"half")
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ts"]


def test_refuses_paths_outside_the_root_before_writing_anything(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    inside_file = root / "ok.ts"
    with pytest.raises(OutsideRoot):
        write_all(root, {inside_file: b"x", tmp_path / "evil.ts": b"x"})
    assert not inside_file.exists()
    with pytest.raises(OutsideRoot):
        write_all(root, {root / ".." / "evil.ts": b"x"})
    # a symlink inside the root that points out of it
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(OutsideRoot):
        write_all(root, {root / "link" / "x.ts": b"x"})
    assert not (tmp_path / "outside" / "x.ts").exists()


def test_write_all_skips_unchanged_files(tmp_path: Path) -> None:
    (tmp_path / "same.ts").write_bytes(b"same")
    written = write_all(tmp_path, {tmp_path / "same.ts": b"same", tmp_path / "new.ts": b"n"})
    assert written == [tmp_path / "new.ts"]


def test_unified_diff_of_new_and_changed_files(tmp_path: Path) -> None:
    created = unified_diff(tmp_path, tmp_path / "README.md", None, b"# x\n")
    assert created == "--- /dev/null\n+++ b/README.md\n@@ -0,0 +1 @@\n+# x\n"
    changed = unified_diff(tmp_path, tmp_path / "src" / "a.ts", b"a\nb", b"a\nc")
    assert "--- a/src/a.ts\n+++ b/src/a.ts\n" in changed
    assert "-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n" in changed
    both = render_diff(
        tmp_path,
        {tmp_path / "b.ts": (b"1\n", b"2\n"), tmp_path / "a.ts": (b"1\n", b"1\n")},
    )
    assert both.startswith("--- a/b.ts") and "a.ts" not in both.replace("b.ts", "")
