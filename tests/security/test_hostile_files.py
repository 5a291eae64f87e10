"""Hostile project files get a clear message, never a traceback: JSON nested a thousand deep
(wrangler config, durable-harden.jsonc, package.json) and a path that is a symbolic link to
itself, through the real CLI (`check`, `check --fix`, `harden --diff`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.pathological import CONFIG, deep_nesting, write_project

ROOT = Path(__file__).resolve().parents[2]
DEEP = 1000


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_harden", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def _nested(kind: str) -> str:
    return "[" * DEEP + "]" * DEEP if kind == "array" else '{"a":' * DEEP + "1" + "}" * DEEP


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("name", ["wrangler.json", "wrangler.jsonc", "wrangler.toml"])
def test_deeply_nested_wrangler_config(tmp_path: Path, kind: str, name: str) -> None:
    root = write_project(tmp_path / "p", deep_nesting(2))
    (root / "wrangler.jsonc").unlink()
    if name.endswith(".toml"):
        text = (
            'name = "x"\nvars = '
            + ("[" * DEEP + "]" * DEEP if kind == "array" else "{a = " * DEEP + "1" + "}" * DEEP)
            + "\n"
        )
    else:
        text = '{"name": "x", "vars": ' + _nested(kind) + "}"
    (root / name).write_text(text)
    for command in (["check"], ["check", "--fix"], ["harden", "--diff"]):
        done = _cli(*command, str(root))
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stderr
        said = done.stdout + done.stderr
        assert f"{name}: wrangler config skipped: nested more than 64 levels deep" in said


@pytest.mark.parametrize("name", ["durable-harden.jsonc", "package.json"])
def test_deeply_nested_settings_and_package_json(tmp_path: Path, name: str) -> None:
    root = write_project(tmp_path / "p", deep_nesting(2))
    deep = _nested("array")
    if name == "package.json":  # the rules read its scripts, the settings its key
        text = f'{{"name": "x", "scripts": {deep}, "durable-harden": {{"select": {deep}}}}}'
    else:
        text = f'{{"select": {deep}}}'
    (root / name).write_text(text)
    for command in (["check"], ["harden", "--diff"]):
        done = _cli(*command, str(root))
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        if name == "durable-harden.jsonc":  # the settings are refused, saying why
            assert "nested too deeply to read" in done.stdout + done.stderr
        else:  # a package.json we cannot read has no settings and no scripts for the rules
            assert done.returncode in (0, 1), done.stderr


def test_json_nested_just_under_the_limit_is_read(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", deep_nesting(2))
    config = CONFIG.replace(
        '"name": "big",', '"name": "big", "vars": {"X": ' + "[" * 60 + "]" * 60 + "},"
    )
    (root / "wrangler.jsonc").write_text(config)
    done = _cli("check", str(root))
    assert "wrangler config skipped" not in done.stderr, done.stderr


def test_symlink_to_itself(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", deep_nesting(2))
    loop = root / "src" / "loop.ts"
    loop.symlink_to("loop.ts")
    folder_loop = root / "src" / "dir"
    folder_loop.symlink_to("dir")
    for command in (["check"], ["check", "--fix"], ["harden", "--diff"], ["harden", "--yes"]):
        done = _cli(*command, str(loop))
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        assert done.returncode == 2
        assert "a symbolic link that loops or leads nowhere" in done.stdout + done.stderr
        # inside a folder the loop is one unreadable file, the rest is analysed
        done = _cli(*command, str(root))
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stderr
